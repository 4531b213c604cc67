/* daemon/store_etcd.c - the etcd back end of the state store (store.h): open and close, the
 * write entry point (the txn itself is store_etcd_txn.c), reads from the local cache, and the
 * control thread's side of the feed (st_etcd_drain). */
#include "store_etcd_int.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int etcd_write(struct st *base, const struct st_op *ops, size_t n, uint64_t *seq,
	char *err, size_t errlen)
{
	struct se *s = (struct se *)base;
	uint64_t cseq;
	char cerr[256];
	if (seq != NULL)
		*seq = 0;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&s->wmu);
	int rc = se_txn_write(s, ops, n, err, errlen), e = errno;
	pthread_mutex_unlock(&s->wmu);
	if (rc != 0) {
		errno = e;
		return -1;
	}
	/* etcd holds it durably; the cache catches up at the next start's resync if this fails. */
	if (st_append(s->cache, ops, n, &cseq, cerr, sizeof(cerr)) != 0)
		LOG_ERR("state", "the local cache missed a change: %s", cerr);
	for (size_t i = 0; i < n; i++)
		if (ops[i].type == ST_DEL && strcmp(ops[i].kind, ST_LISTENER) == 0)
			se_report(s, ops[i].id, NULL, true);
	return 0;
}

static int etcd_each(struct st *base, const char *kind, st_each_fn fn, void *arg)
{
	return st_each(((struct se *)base)->cache, kind, fn, arg);
}

static int etcd_conflict(struct st *base, struct st_conflict *out)
{
	struct se *s = (struct se *)base;
	int rc = -1;
	pthread_mutex_lock(&s->mu);
	if (s->has_conflict) {
		*out = s->conflict;
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void etcd_close(struct st *base)
{
	struct se *s = (struct se *)base;
	se_feed_stop(s);
	etcd_destroy(s->c);
	st_close(s->cache);
	vw_free(&s->view);
	while (s->bhead != NULL) {
		struct se_batch *b = s->bhead;
		s->bhead = b->next;
		se_batch_free(b);
	}
	for (size_t i = 0; i < s->nreports; i++)
		free(s->reports[i].val);
	free(s->reports);
	json_decref(s->node_proxies);
	pthread_mutex_destroy(&s->wmu);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->qmu);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

static const struct st_ops etcd_ops = {
	.write = etcd_write, .sync = NULL, .each = etcd_each, .close = etcd_close,
	.conflict = etcd_conflict,
};

/* The cache's records into the view, revisions unknown (0) until the first resync. */
static int view_rec(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct se *s = arg;
	char key[SE_KEY_MAX], *val;
	int rc;
	if (se_key(key, s, "rec/%s/%s", kind, id) != 0)
		return 0;
	if ((val = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return -1;
	rc = vw_set(&s->view, key, val, strlen(val), 0);
	free(val);
	return rc;
}

static int open_parts(struct se *s, const struct st_etcd_opts *o, char *err, size_t errlen)
{
	struct etcd_cfg cfg = { .endpoints = o->endpoints, .nendpoints = o->nendpoints,
		.dial_timeout_ms = o->dial_timeout_ms };
	if (snprintf(s->prefix, sizeof(s->prefix), "%s", o->prefix) >= (int)sizeof(s->prefix) ||
	    snprintf(s->node, sizeof(s->node), "%s", o->node) >= (int)sizeof(s->node) ||
	    o->places == NULL) {
		snprintf(err, errlen, "state store: etcd prefix or node name too long, or no "
			"places");
		return -1;
	}
	if ((s->node_proxies = json_array()) == NULL)
		return -1;
	for (size_t i = 0; i < o->nnode_proxies; i++)
		json_array_append_new(s->node_proxies, json_string(o->node_proxies[i]));
	if ((s->cache = st_open_journal(o->cache_dir, o->compact_min, err, errlen)) == NULL)
		return -1;
	if (st_each(s->cache, NULL, view_rec, s) != 0) {
		snprintf(err, errlen, "state store: out of memory loading the cache");
		return -1;
	}
	if ((s->c = etcd_create(&cfg, err, errlen)) == NULL)
		return -1;
	if (se_feed_start(s) != 0) {
		snprintf(err, errlen, "state store: cannot start the etcd feed thread");
		return -1;
	}
	return 0;
}

struct st *st_open_etcd(const struct st_etcd_opts *o, char *err, size_t errlen)
{
	struct se *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "state store: out of memory");
		return NULL;
	}
	s->base.ops = &etcd_ops;
	s->places = o->places;
	s->places_arg = o->places_arg;
	s->wake = o->wake;
	s->wake_arg = o->wake_arg;
	s->started = (int64_t)time(NULL);
	pthread_mutex_init(&s->wmu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->qmu, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (open_parts(s, o, err, errlen) != 0) {
		etcd_close(&s->base);
		return NULL;
	}
	return &s->base;
}

/* Under mu: the ops of b that a later revision already superseded in the view (this node's own
 * write made after b was queued, or a batch still to come) are dropped, so that neither the
 * cache nor apply ever goes back to an older state of a record. */
static void supersede(struct se *s, struct se_batch *b)
{
	char key[SE_KEY_MAX];
	size_t out = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct st_op *op = &b->ops[i];
		struct se_ent *e = se_key(key, s, "rec/%s/%s", op->kind, op->id) == 0 ?
			vw_find(&s->view, key) : NULL;
		if (e != NULL && e->mod_rev > b->rev) {
			free((char *)op->kind);
			free((char *)op->id);
			json_decref(op->fields);
			continue;
		}
		b->ops[out++] = *op;
	}
	b->n = out;
}

size_t st_etcd_drain(struct st *base, int (*apply)(void *arg, const struct st_op *ops, size_t n,
	char *err, size_t errlen), void *arg)
{
	struct se *s = (struct se *)base;
	struct se_batch *b;
	size_t count = 0;
	char err[512];
	uint64_t seq;
	pthread_mutex_lock(&s->mu);
	b = s->bhead;
	s->bhead = s->btail = NULL;
	for (struct se_batch *x = b; x != NULL; x = x->next)
		supersede(s, x);
	pthread_mutex_unlock(&s->mu);
	while (b != NULL) {
		struct se_batch *next = b->next;
		if (b->n > 0 && st_append(s->cache, b->ops, b->n, &seq, err, sizeof(err)) != 0)
			LOG_ERR("state", "the local cache missed a change of the fleet: %s", err);
		if (b->n > 0 && apply != NULL && apply(arg, b->ops, b->n, err, sizeof(err)) != 0)
			LOG_ERR("state", "applying a change of the fleet failed: %s", err);
		se_batch_free(b);
		b = next;
		count++;
	}
	pthread_mutex_lock(&s->mu);
	s->counts.batches_applied += count;
	pthread_mutex_unlock(&s->mu);
	return count;
}

int st_etcd_ready(struct st *base)
{
	struct se *s = (struct se *)base;
	pthread_mutex_lock(&s->mu);
	int r = s->ready;
	pthread_mutex_unlock(&s->mu);
	return r;
}

void st_etcd_report(struct st *base, const char *listener, const char *why_not)
{
	se_report((struct se *)base, listener, why_not != NULL && why_not[0] != '\0' ?
		why_not : "bound", false);
}
