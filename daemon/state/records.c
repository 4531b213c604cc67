/* daemon/state/records.c - the journal's record set in memory: a chained hash on (kind, id)
 * for lookups and a list in creation order for walks and snapshots. A change is prepared first
 * (every allocation, every check) and installed after its entry is written: installing cannot
 * fail, so memory never disagrees with the journal over an allocation failure.
 */
#include "jr_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash_key(const char *kind, const char *id)
{
	uint32_t h = 2166136261u;       /* FNV-1a over "kind\0id" */
	for (const char *p = kind; ; p++) {
		h = (h ^ (unsigned char)*p) * 16777619u;
		if (*p == '\0')
			break;
	}
	for (const char *p = id; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

int jr_kind_ok(const char *kind)
{
	size_t n = strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789_");
	return n > 0 && n < JR_KIND_MAX && kind[n] == '\0';
}

int jr_id_ok(const char *id)
{
	size_t n = strlen(id);
	return n > 0 && n < JR_ID_MAX;
}

void jr_set_init(struct jr_set *s)
{
	memset(s, 0, sizeof(*s));
}

void jr_set_clear(struct jr_set *s)
{
	for (struct jr_rec *r = s->head, *next; r != NULL; r = next) {
		next = r->next;
		jr_rec_free(r);
	}
	free(s->buckets);
	jr_set_init(s);
}

struct jr_rec *jr_set_find(const struct jr_set *s, const char *kind, const char *id)
{
	if (s->nbuckets == 0)
		return NULL;
	uint32_t h = hash_key(kind, id);
	for (struct jr_rec *r = s->buckets[h & (s->nbuckets - 1)]; r != NULL; r = r->chain)
		if (r->hash == h && strcmp(r->kind, kind) == 0 && strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

static void link_rec(struct jr_set *s, struct jr_rec *r);

/* Room for want records at a load factor of at most 1. -1: ENOMEM, the set unchanged. */
static int reserve(struct jr_set *s, size_t want)
{
	size_t nb = s->nbuckets ? s->nbuckets : 64;
	while (nb < want)
		nb *= 2;
	if (nb == s->nbuckets)
		return 0;
	struct jr_rec **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return -1;
	for (struct jr_rec *r = s->head; r != NULL; r = r->next) {
		r->chain = b[r->hash & (nb - 1)];
		b[r->hash & (nb - 1)] = r;
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
	return 0;
}

char *jr_line(const char *kind, const char *id, json_t *fields, size_t *len)
{
	json_t *doc = fields != NULL ?
		json_pack("{s:s, s:s, s:O}", "kind", kind, "id", id, "fields", fields) :
		json_pack("{s:s, s:s, s:b}", "kind", kind, "id", id, "del", 1);
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL, *line;
	size_t n = text != NULL ? strlen(text) : 0;
	json_decref(doc);
	if (text == NULL || (line = realloc(text, n + 2)) == NULL) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

struct jr_rec *jr_rec_with_line(const char *kind, const char *id, json_t *fields, const char *line,
	size_t linelen)
{
	struct jr_rec *r = calloc(1, sizeof(*r));
	size_t kl = strlen(kind), il = strlen(id);
	if (r == NULL || (r->kind = malloc(kl + il + 2)) == NULL ||
	    (r->line = malloc(linelen + 1)) == NULL) {
		jr_rec_free(r);
		return NULL;
	}
	memcpy(r->kind, kind, kl + 1);
	r->id = r->kind + kl + 1;
	memcpy(r->id, id, il + 1);
	memcpy(r->line, line, linelen);
	r->line[linelen] = '\0';
	r->linelen = linelen;
	r->hash = hash_key(kind, id);
	r->fields = json_incref(fields);
	return r;
}

void jr_rec_free(struct jr_rec *r)
{
	if (r == NULL)
		return;
	json_decref(r->fields);
	free(r->line);
	free(r->kind);
	free(r);
}

int jr_batch_init(struct jr_set *s, size_t n, struct jr_batch *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	if (n == 0) {
		snprintf(err, errlen, "a change without ops");
		errno = EINVAL;
		return -1;
	}
	if ((b->ops = calloc(n, sizeof(*b->ops))) == NULL || reserve(s, s->n + n) != 0) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int jr_batch_put(struct jr_batch *b, const char *kind, const char *id, json_t *fields,
	const char *line, size_t len, const struct jr_opts *o, char *err, size_t errlen)
{
	struct jr_prep *p = &b->ops[b->n];
	errno = EINVAL;
	if (!jr_kind_ok(kind) || !jr_id_ok(id) || !json_is_object(fields)) {
		snprintf(err, errlen, "bad put (kind %.40s, id %.80s)", kind, id);
		return -1;
	}
	if (o != NULL && o->check != NULL && o->check(kind, id, fields, o->check_arg, err, errlen) != 0)
		return -1;
	if ((p->rec = jr_rec_with_line(kind, id, fields, line, len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	p->type = JR_PUT;
	b->n++;
	return 0;
}

int jr_batch_del(struct jr_batch *b, const char *kind, const char *id, char *err, size_t errlen)
{
	struct jr_prep *p = &b->ops[b->n];
	if (!jr_kind_ok(kind) || !jr_id_ok(id)) {
		snprintf(err, errlen, "bad del (kind %.40s, id %.80s)", kind, id);
		errno = EINVAL;
		return -1;
	}
	if ((p->key = malloc(strlen(kind) + strlen(id) + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	strcpy(stpcpy(p->key, kind) + 1, id);
	p->type = JR_DEL;
	b->n++;
	return 0;
}

int jr_batch_line(struct jr_batch *b, const char *line, size_t len, const struct jr_opts *o,
	char *err, size_t errlen)
{
	json_t *doc = json_loadb(line, len, 0, NULL), *fields = NULL;
	const char *kind = "", *id = "";
	int del = 0, rc = -1;
	if (json_unpack(doc, "{s:s, s:s, s?o, s?b}", "kind", &kind, "id", &id, "fields", &fields,
	    "del", &del) != 0 || (fields != NULL) == (del != 0)) {
		snprintf(err, errlen, "not a put or a del");
		errno = EINVAL;
	} else {
		rc = del ? jr_batch_del(b, kind, id, err, errlen) :
			jr_batch_put(b, kind, id, fields, line, len, o, err, errlen);
	}
	json_decref(doc);
	return rc;
}

int jr_set_add(struct jr_set *s, struct jr_rec *r)
{
	if (reserve(s, s->n + 1) != 0)
		return -1;
	link_rec(s, r);
	return 0;
}

static void link_rec(struct jr_set *s, struct jr_rec *r)
{
	struct jr_rec *old = jr_set_find(s, r->kind, r->id);
	if (old != NULL) {              /* a replace keeps the old record's place */
		json_t *f = old->fields;
		char *line = old->line;
		size_t len = old->linelen;
		s->bytes += r->linelen - len;
		old->fields = r->fields;
		old->line = r->line;
		old->linelen = r->linelen;
		r->fields = f;
		r->line = line;
		jr_rec_free(r);
		return;
	}
	size_t k = r->hash & (s->nbuckets - 1);
	r->chain = s->buckets[k];
	s->buckets[k] = r;
	r->prev = s->tail;
	r->next = NULL;
	*(s->tail != NULL ? &s->tail->next : &s->head) = r;
	s->tail = r;
	s->n++;
	s->bytes += r->linelen;
}

static void unlink_rec(struct jr_set *s, const char *key)
{
	const char *id = key + strlen(key) + 1;
	struct jr_rec *r = jr_set_find(s, key, id);
	if (r == NULL)
		return;
	struct jr_rec **pp = &s->buckets[r->hash & (s->nbuckets - 1)];
	while (*pp != r)
		pp = &(*pp)->chain;
	*pp = r->chain;
	*(r->prev != NULL ? &r->prev->next : &s->head) = r->next;
	*(r->next != NULL ? &r->next->prev : &s->tail) = r->prev;
	s->n--;
	s->bytes -= r->linelen;
	jr_rec_free(r);
}

void jr_batch_install(struct jr_set *s, struct jr_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->ops[i].type == JR_PUT)
			link_rec(s, b->ops[i].rec);
		else
			unlink_rec(s, b->ops[i].key);
		b->ops[i].rec = NULL;
	}
	jr_batch_free(b);
}

void jr_batch_free(struct jr_batch *b)
{
	for (size_t i = 0; b->ops != NULL && i < b->n; i++) {
		jr_rec_free(b->ops[i].rec);
		free(b->ops[i].key);
	}
	free(b->ops);
	b->ops = NULL;
	b->n = 0;
}
