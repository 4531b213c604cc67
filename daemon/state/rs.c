/* daemon/state/rs.c - the real servers a node knows (rs.h). */
#include "rs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

struct rs_set {
	struct rs **items;          /* creation order */
	size_t n, cap;
	struct idmap byid, byaddr;
	struct rs **spare;          /* entries rs_reserve() allocated for the rs_add()s to come */
	size_t nspare;
};

static const char *id_of(const void *v)
{
	return ((const struct rs *)v)->id;
}

static const char *key_of(const void *v)
{
	return ((const struct rs *)v)->key;
}

struct rs_set *rs_set_new(void)
{
	struct rs_set *s = calloc(1, sizeof(*s));
	if (s != NULL) {
		s->byid = (struct idmap)IDMAP_INIT(id_of);
		s->byaddr = (struct idmap)IDMAP_INIT(key_of);
	}
	return s;
}

void rs_set_free(struct rs_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		json_decref(s->items[i]->fields);
		free(s->items[i]);
	}
	free(s->items);
	for (size_t i = 0; i < s->nspare; i++)
		free(s->spare[i]);
	free(s->spare);
	idmap_free(&s->byid);
	idmap_free(&s->byaddr);
	free(s);
}

size_t rs_count(const struct rs_set *s)
{
	return s->n;
}

const struct rs *rs_at(const struct rs_set *s, size_t i)
{
	return i < s->n ? s->items[i] : NULL;
}

const struct rs *rs_find(const struct rs_set *s, const char *id)
{
	return idmap_get(&s->byid, id);
}

const struct rs *rs_find_addr(const struct rs_set *s, const char *key)
{
	return idmap_get(&s->byaddr, key);
}

int rs_reserve(struct rs_set *s, size_t n)
{
	struct rs **spare;
	if (s->n + n > s->cap) {
		size_t cap = s->cap ? s->cap : 16;
		struct rs **items;
		while (cap < s->n + n)
			cap *= 2;
		if ((items = realloc(s->items, cap * sizeof(*items))) == NULL)
			return -1;
		s->items = items;
		s->cap = cap;
	}
	if (n > s->nspare) {
		if ((spare = realloc(s->spare, n * sizeof(*spare))) == NULL)
			return -1;
		s->spare = spare;
		for (; s->nspare < n; s->nspare++)
			if ((s->spare[s->nspare] = calloc(1, sizeof(struct rs))) == NULL)
				return -1;
	}
	return idmap_reserve(&s->byid, n) == 0 && idmap_reserve(&s->byaddr, n) == 0 ? 0 : -1;
}

static void set_fields(struct rs *r, json_t *fields)
{
	r->fields = json_incref(fields);
	r->addr = json_string_value(json_object_get(fields, "RealServerIP"));
	r->is_ip = r->addr != NULL && rs_is_ip(r->addr);
}

void rs_add(struct rs_set *s, const char *id, const char *key, json_t *fields)
{
	struct rs *r = s->spare[--s->nspare];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->key, sizeof(r->key), "%s", key);
	set_fields(r, fields);
	s->items[s->n++] = r;
	idmap_put(&s->byid, r);
	idmap_put(&s->byaddr, r);
}

void rs_remove(struct rs_set *s, const char *id)
{
	struct rs *r = idmap_get(&s->byid, id);
	size_t i = 0;
	if (r == NULL)
		return;
	while (s->items[i] != r)
		i++;
	memmove(s->items + i, s->items + i + 1, (s->n - i - 1) * sizeof(*s->items));
	s->n--;
	idmap_del(&s->byid, r->id);
	idmap_del(&s->byaddr, r->key);
	json_decref(r->fields);
	free(r);
}

void rs_set_fields(struct rs_set *s, const char *id, json_t *fields)
{
	struct rs *r = idmap_get(&s->byid, id);
	if (r == NULL)
		return;
	json_decref(r->fields);
	set_fields(r, fields);
}

/* RFC 1123 host name: labels of [A-Za-z0-9-], 1..63 each, not starting or ending with '-'. */
static int host_name(const char *s, size_t len)
{
	size_t label = 0;
	if (len == 0 || len > RS_ADDR_MAX - 1)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-') {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

int rs_addr_key(const char *addr, char key[RS_ADDR_MAX])
{
	unsigned char bin[sizeof(struct in6_addr)];
	size_t len = strlen(addr);
	if (inet_pton(AF_INET, addr, bin) == 1)
		return inet_ntop(AF_INET, bin, key, RS_ADDR_MAX) != NULL ? 0 : -1;
	if (inet_pton(AF_INET6, addr, bin) == 1)
		return inet_ntop(AF_INET6, bin, key, RS_ADDR_MAX) != NULL ? 0 : -1;
	if (!host_name(addr, len))
		return -1;
	for (size_t i = 0; i <= len; i++)
		key[i] = (char)tolower((unsigned char)addr[i]);
	return 0;
}

json_t *rs_fields(const char *id, const char *addr, const char *name, int64_t project,
	json_t *tags)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:O}", "RealServerId", id, "RealServerIP", addr,
		"RealServerName", name, "ProjectId", (json_int_t)project, "TagSet", tags);
}

static int tags_valid(const json_t *tags)
{
	size_t i;
	json_t *t;
	if (!json_is_array(tags) || json_array_size(tags) > RS_TAGS_MAX)
		return 0;
	json_array_foreach(tags, i, t)
		if (!json_is_string(json_object_get(t, "TagKey")) ||
		    !json_is_string(json_object_get(t, "TagValue")))
			return 0;
	return 1;
}

int rs_check(const char *id, json_t *fields, char *err, size_t errlen)
{
	const char *rid, *addr, *name;
	json_int_t project;
	json_t *tags;
	char key[RS_ADDR_MAX];
	if (json_unpack(fields, "{s:s, s:s, s:s, s:I, s:o}", "RealServerId", &rid, "RealServerIP",
	    &addr, "RealServerName", &name, "ProjectId", &project, "TagSet", &tags) == 0 &&
	    strcmp(rid, id) == 0 && strlen(rid) < sizeof(((struct rs *)0)->id) &&
	    rs_addr_key(addr, key) == 0 && tags_valid(tags))
		return 0;
	snprintf(err, errlen, "real server %.80s: fields missing or malformed", id);
	return -1;
}

int rs_is_ip(const char *addr)
{
	unsigned char bin[16];
	return inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1;
}
