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

/* text with a '\n' appended (text is freed on failure). */
static char *realloc_line(char *text, size_t n)
{
	char *t = realloc(text, n + 2);
	if (t == NULL) {
		free(text);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	return t;
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

struct jr_rec *jr_rec_new(const char *kind, const char *id, json_t *fields)
{
	json_t *doc = json_pack("{s:s, s:s, s:O}", "kind", kind, "id", id, "fields", fields);
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	size_t n = text != NULL ? strlen(text) : 0;
	json_decref(doc);
	if (text == NULL || (text = realloc_line(text, n)) == NULL)
		return NULL;
	struct jr_rec *r = jr_rec_with_line(kind, id, fields, text, n + 1);
	free(text);
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

/* One op of a payload, checked and prepared into p: 0, -1 (invalid) or -2 (out of memory). */
static int prep_op(json_t *op, const struct jr_opts *o, struct jr_prep *p, char *err, size_t errlen)
{
	const char *type = "", *kind = "", *id = "";
	json_t *fields = NULL;
	if (json_unpack(op, "{s:s, s:s, s:s, s?o}", "op", &type, "kind", &kind, "id", &id,
	    "fields", &fields) != 0 || !jr_kind_ok(kind) || !jr_id_ok(id)) {
		snprintf(err, errlen, "bad op (kind %.40s, id %.80s)", kind, id);
		return -1;
	}
	if (strcmp(type, "del") == 0) {
		p->type = JR_DEL;
		if ((p->key = malloc(strlen(kind) + strlen(id) + 2)) == NULL)
			goto nomem;
		strcpy(stpcpy(p->key, kind) + 1, id);
		return 0;
	}
	if (strcmp(type, "put") != 0 || !json_is_object(fields)) {
		snprintf(err, errlen, "bad op %.10s for %s %.80s", type, kind, id);
		return -1;
	}
	if (o != NULL && o->check != NULL && o->check(kind, id, fields, o->check_arg, err, errlen) != 0)
		return -1;
	p->type = JR_PUT;
	if ((p->rec = jr_rec_new(kind, id, fields)) != NULL)
		return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -2;
}

int jr_batch_prep(struct jr_set *s, json_t *ops, const struct jr_opts *o, struct jr_batch *b,
	char *err, size_t errlen)
{
	size_t n = json_array_size(ops);
	b->n = 0;
	if (!json_is_array(ops) || n == 0) {
		snprintf(err, errlen, "a change without ops");
		errno = EINVAL;
		return -1;
	}
	if ((b->ops = calloc(n, sizeof(*b->ops))) == NULL || reserve(s, s->n + n) != 0) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	for (b->n = 0; b->n < n; b->n++) {
		int rc = prep_op(json_array_get(ops, b->n), o, &b->ops[b->n], err, errlen);
		if (rc != 0) {
			errno = rc == -2 ? ENOMEM : EINVAL;
			return -1;
		}
	}
	return 0;
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
