/* daemon/store_etcd_view.c - the etcd back end's view of P (store_etcd_int.h): every key this
 * node saw, with its mod_revision, in a sorted array (lookups by key, prefix walks for nodes and
 * statuses); the keys' helpers, feed batches, and what the view answers: ListenerStatus across
 * the fleet and the counts. */
#include "store_etcd_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t vw_lower(struct se_view *v, const char *key)
{
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v->e[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct se_ent *vw_find(struct se_view *v, const char *key)
{
	size_t i = vw_lower(v, key);
	return i < v->n && strcmp(v->e[i].key, key) == 0 ? &v->e[i] : NULL;
}

static int set_val(struct se_ent *e, const char *val, size_t vlen)
{
	char *copy = NULL;
	if (val != NULL) {
		if ((copy = malloc(vlen + 1)) == NULL)
			return -1;
		memcpy(copy, val, vlen);
		copy[vlen] = '\0';
	}
	free(e->val);
	e->val = copy;
	e->vlen = val != NULL ? vlen : 0;
	e->live = val != NULL;
	return 0;
}

int vw_set(struct se_view *v, const char *key, const char *val, size_t vlen, int64_t mod_rev)
{
	size_t i = vw_lower(v, key);
	if (i == v->n || strcmp(v->e[i].key, key) != 0) {
		if (v->n == v->cap) {
			size_t cap = v->cap != 0 ? v->cap * 2 : 64;
			struct se_ent *e = realloc(v->e, cap * sizeof(*e));
			if (e == NULL)
				return -1;
			v->e = e;
			v->cap = cap;
		}
		char *k = strdup(key);
		if (k == NULL)
			return -1;
		memmove(&v->e[i + 1], &v->e[i], (v->n - i) * sizeof(v->e[0]));
		v->e[i] = (struct se_ent){ .key = k };
		v->n++;
	}
	v->e[i].mod_rev = mod_rev;
	v->e[i].seen = true;
	v->deaths += val == NULL;
	return set_val(&v->e[i], val, vlen);
}

/* After a resync: keys under prefix the range did not show are gone. */
void vw_drop_unseen(struct se_view *v, const char *prefix)
{
	size_t plen = strlen(prefix), out = 0;
	for (size_t i = 0; i < v->n; i++) {
		struct se_ent *e = &v->e[i];
		if (strncmp(e->key, prefix, plen) == 0 && !e->seen) {
			free(e->key);
			free(e->val);
			continue;
		}
		v->e[out++] = *e;
	}
	v->n = out;
}

void vw_purge(struct se_view *v, int64_t upto)
{
	size_t out = 0;
	for (size_t i = 0; i < v->n; i++) {
		struct se_ent *e = &v->e[i];
		if (!e->live && e->mod_rev <= upto) {
			free(e->key);
			free(e->val);
			continue;
		}
		v->e[out++] = *e;
	}
	v->n = out;
	v->deaths = 0;
}

void vw_free(struct se_view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->e[i].key);
		free(v->e[i].val);
	}
	free(v->e);
	*v = (struct se_view){ 0 };
}

int se_key(char *buf, const struct se *s, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, SE_KEY_MAX, "%s/", s->prefix), m;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, SE_KEY_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)(n + m) >= SE_KEY_MAX ? -1 : 0;
}

int se_rec_of(const struct se *s, const char *key, char *kind, size_t klen, char *id,
	size_t ilen)
{
	size_t plen = strlen(s->prefix);
	const char *k = key + plen + 5, *slash;
	if (strncmp(key, s->prefix, plen) != 0 || strncmp(key + plen, "/rec/", 5) != 0 ||
	    (slash = strchr(k, '/')) == NULL || (size_t)(slash - k) >= klen ||
	    strlen(slash + 1) >= ilen || slash == k || slash[1] == '\0')
		return -1;
	memcpy(kind, k, (size_t)(slash - k));
	kind[slash - k] = '\0';
	strcpy(id, slash + 1);
	return 0;
}

int se_batch_add(struct se_batch *b, enum st_op_type t, const char *kind, const char *id,
	json_t *fields)
{
	if (b->n == b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : 8;
		struct st_op *ops = realloc(b->ops, cap * sizeof(*ops));
		if (ops == NULL)
			goto fail;
		b->ops = ops;
		b->cap = cap;
	}
	char *k = strdup(kind), *i = strdup(id);
	if (k == NULL || i == NULL) {
		free(k);
		free(i);
		goto fail;
	}
	b->ops[b->n++] = (struct st_op){ .type = t, .kind = k, .id = i, .fields = fields };
	return 0;
fail:
	json_decref(fields);
	return -1;
}

void se_batch_free(struct se_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free((char *)b->ops[i].kind);
		free((char *)b->ops[i].id);
		json_decref(b->ops[i].fields);
	}
	free(b->ops);
	free(b);
}

/* Does the node's registration (its JSON) list proxy? */
static bool node_serves(const struct se_ent *e, const char *proxy)
{
	json_t *j = json_loadb(e->val, e->vlen, 0, NULL), *p, *v;
	bool yes = false;
	size_t i;
	if (j != NULL && json_is_array(p = json_object_get(j, "Proxies")))
		json_array_foreach(p, i, v)
			yes = yes || (json_is_string(v) &&
				strcmp(json_string_value(v), proxy) == 0);
	json_decref(j);
	return yes;
}

/* Node name of entry e (a P/node/ key) not bound for listener: 1 with why, else 0. */
static int node_pending(struct se *s, const struct se_ent *e, size_t plen, const char *listener,
	char *why, size_t whylen)
{
	char key[SE_KEY_MAX];
	const char *name = e->key + plen;
	struct se_ent *st;
	if (se_key(key, s, "status/%s/%s", listener, name) != 0)
		return 0;
	st = vw_find(&s->view, key);
	if (st == NULL || !st->live) {
		snprintf(why, whylen, "node %s: not reported yet", name);
		return 1;
	}
	if (strcmp(st->val, "bound") != 0) {
		snprintf(why, whylen, "node %s: %s", name, st->val);
		return 1;
	}
	return 0;
}

int st_etcd_listener_status(struct st *base, const char *listener, const char *proxy, char *why,
	size_t whylen)
{
	struct se *s = (struct se *)base;
	char pre[SE_KEY_MAX];
	int rc = 0;
	if (whylen > 0)
		why[0] = '\0';
	if (se_key(pre, s, "node/") != 0)
		return 0;
	size_t plen = strlen(pre);
	pthread_mutex_lock(&s->mu);
	for (size_t i = vw_lower(&s->view, pre); rc == 0 && i < s->view.n &&
	    strncmp(s->view.e[i].key, pre, plen) == 0; i++)
		if (s->view.e[i].live && node_serves(&s->view.e[i], proxy))
			rc = node_pending(s, &s->view.e[i], plen, listener, why, whylen);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void st_etcd_counts(struct st *base, struct st_etcd_counts *out)
{
	struct se *s = (struct se *)base;
	char pre[SE_KEY_MAX];
	size_t plen, live = 0;
	se_key(pre, s, "node/");
	plen = strlen(pre);
	pthread_mutex_lock(&s->mu);
	for (size_t i = vw_lower(&s->view, pre); i < s->view.n &&
	    strncmp(s->view.e[i].key, pre, plen) == 0; i++)
		live += s->view.e[i].live;
	*out = s->counts;
	out->connected = s->ready;
	out->live_nodes = live;
	pthread_mutex_unlock(&s->mu);
}
