/* daemon/state/certs.c - the certificate set (certs.h): an array in creation order. A node holds
 * few certificates (tens, hundreds), and each change to one is an API call: a lookup is a scan. */
#include "certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_set {
	struct cs_cert *v;
	size_t n, cap;
};

struct cs_set *cs_set_new(void)
{
	return calloc(1, sizeof(struct cs_set));
}

void cs_set_free(struct cs_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		json_decref(s->v[i].fields);
	free(s->v);
	free(s);
}

size_t cs_count(const struct cs_set *s)
{
	return s->n;
}

const struct cs_cert *cs_at(const struct cs_set *s, size_t i)
{
	return i < s->n ? &s->v[i] : NULL;
}

static long index_of(const struct cs_set *s, const char *id)
{
	for (size_t i = 0; id != NULL && i < s->n; i++)
		if (strcmp(s->v[i].id, id) == 0)
			return (long)i;
	return -1;
}

const struct cs_cert *cs_find(const struct cs_set *s, const char *id)
{
	long i = index_of(s, id);
	return i >= 0 ? &s->v[i] : NULL;
}

int cs_reserve(struct cs_set *s)
{
	size_t cap = s->cap ? s->cap * 2 : 16;
	struct cs_cert *v;
	if (s->n < s->cap)
		return 0;
	if ((v = realloc(s->v, cap * sizeof(*v))) == NULL)
		return -1;
	s->v = v;
	s->cap = cap;
	return 0;
}

static void fill(struct cs_cert *c, const char *id, json_t *fields)
{
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->fields = json_incref(fields);
	c->type = (int)json_integer_value(json_object_get(fields, "CertificateType"));
	c->content = json_string_value(json_object_get(fields, "CertificateContent"));
	c->key = json_string_value(json_object_get(fields, "CertificateKey"));
}

void cs_put(struct cs_set *s, const char *id, json_t *fields)
{
	long i = index_of(s, id);
	if (i >= 0) {
		json_t *old = s->v[i].fields;
		fill(&s->v[i], id, fields);
		json_decref(old);
	} else if (s->n < s->cap) {
		fill(&s->v[s->n++], id, fields);
	}
}

void cs_remove(struct cs_set *s, const char *id)
{
	long i = index_of(s, id);
	if (i < 0)
		return;
	json_decref(s->v[i].fields);
	memmove(&s->v[i], &s->v[i + 1], (s->n - (size_t)i - 1) * sizeof(s->v[0]));
	s->n--;
}

static int str_or_null(json_t *f, const char *k)
{
	json_t *v = json_object_get(f, k);
	return v != NULL && (json_is_string(v) || json_is_null(v));
}

int cs_check(const char *id, json_t *fields, char *err, size_t errlen)
{
	const char *cid, *alias, *content;
	json_int_t type, ctime, begin, end;
	json_t *key = json_object_get(fields, "CertificateKey");
	if (strncmp(id, "cert-", 5) == 0 && strlen(id) < ST_ID_MAX &&
	    json_unpack(fields, "{s:s, s:I, s:s, s:s, s:I, s:I, s:I}", "CertificateId", &cid,
	    "CertificateType", &type, "CertificateAlias", &alias, "CertificateContent", &content,
	    "CreateTime", &ctime, "BeginTime", &begin, "EndTime", &end) == 0 &&
	    strcmp(cid, id) == 0 && type >= 0 && type <= 4 && content[0] != '\0' &&
	    (type == 2 || type == 4 ? json_is_string(key) : json_is_null(key)) &&
	    str_or_null(fields, "SubjectCN") && str_or_null(fields, "IssuerCN"))
		return 0;
	snprintf(err, errlen, "certificate %.80s: fields missing or malformed", id);
	return -1;
}
