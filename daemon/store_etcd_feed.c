/* daemon/store_etcd_feed.c - the etcd back end's thread (store.h): it ranges P and diffs that
 * against the view (at start, after a compaction), watches P from there, turns other nodes'
 * record changes into batches for st_etcd_drain(), and drives the node's registration and
 * statuses (store_etcd_node.c). The watch's callbacks only copy their messages into
 * a queue: they run on the etcd client's thread, which must never wait for a lock a writer
 * holds across its txn, nor make calls of its own. */
#include "store_etcd_int.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_MS 500

void se_kick(struct se *s)
{
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- the watch's messages, off the client's thread ---- */

static void wmsg_free(struct se_wmsg *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->ev[i].key);
		free(m->ev[i].val);
	}
	free(m->ev);
	free(m);
}

static void watch_cb(void *arg, const struct etcd_wmsg *wm)
{
	struct se *s = arg;
	struct se_wmsg *m = calloc(1, sizeof(*m));
	if (m == NULL || (wm->n > 0 && (m->ev = calloc(wm->n, sizeof(*m->ev))) == NULL)) {
		free(m);
		LOG_ERR("state", "out of memory queueing a watch message: resyncing");
		pthread_mutex_lock(&s->mu);
		s->lost_msg = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	m->kind = wm->kind;
	m->rev = wm->rev;
	m->n = wm->n;
	for (size_t i = 0; i < wm->n; i++) {
		const struct etcd_kv *kv = &wm->ev[i].kv;
		m->ev[i] = (struct se_wev){ .del = wm->ev[i].del, .key = strdup(kv->key),
			.mod_rev = kv->mod_rev, .vlen = kv->vlen };
		if (!wm->ev[i].del && kv->value != NULL && (m->ev[i].val = malloc(kv->vlen + 1)))
			memcpy(m->ev[i].val, kv->value, kv->vlen + 1);
	}
	pthread_mutex_lock(&s->qmu);
	if (s->qtail != NULL)
		s->qtail->next = m;
	else
		s->qhead = m;
	s->qtail = m;
	pthread_mutex_unlock(&s->qmu);
	se_kick(s);
}

/* ---- resync and events ---- */

static json_t *parse(const char *val, size_t vlen)
{
	return val != NULL ? json_loadb(val, vlen, 0, NULL) : NULL;
}

/* A record's change into b (a put of val, or a del); bad records are logged and skipped. */
static void feed_rec(struct se *s, struct se_batch *b, const char *key, const char *val,
	size_t vlen)
{
	char kind[64], id[ST_ID_MAX * 2], err[256];
	json_t *f;
	if (se_rec_of(s, key, kind, sizeof(kind), id, sizeof(id)) != 0)
		return;
	if (val == NULL) {
		se_batch_add(b, ST_DEL, kind, id, NULL);
		if (strcmp(kind, ST_LISTENER) == 0)
			se_report_set(s, id, NULL, true);
		return;
	}
	if ((f = parse(val, vlen)) == NULL || st_check(kind, id, f, err, sizeof(err)) != 0) {
		LOG_ERR("state", "etcd holds a bad record %s: %s", key,
			f == NULL ? "not JSON" : err);
		json_decref(f);
		return;
	}
	se_batch_add(b, ST_PUT, kind, id, f);
}

static bool same_json(const struct se_ent *e, const struct etcd_kv *kv)
{
	json_t *a = parse(e->val, e->vlen), *b = parse(kv->value, kv->vlen);
	bool same = a != NULL && b != NULL && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return same;
}

static void push_batch(struct se *s, struct se_batch *b)
{
	if (b->n == 0) {
		se_batch_free(b);
		return;
	}
	if (s->btail != NULL)
		s->btail->next = b;
	else
		s->bhead = b;
	s->btail = b;
}

/* Under mu: the range k against the view; the differences as one batch (dels first). */
static bool resync_diff(struct se *s, const struct etcd_kvs *k, const char *pre)
{
	struct se_batch *dels = calloc(1, sizeof(*dels)), *puts = calloc(1, sizeof(*puts));
	size_t plen = strlen(pre);
	bool any;
	if (dels != NULL)
		dels->rev = k->revision;
	for (size_t i = vw_lower(&s->view, pre); i < s->view.n &&
	    strncmp(s->view.e[i].key, pre, plen) == 0; i++)
		s->view.e[i].seen = false;
	for (size_t i = 0; i < k->n && puts != NULL; i++) {
		const struct etcd_kv *kv = &k->kv[i];
		struct se_ent *e = vw_find(&s->view, kv->key);
		if (e == NULL || !e->live || (e->mod_rev != kv->mod_rev && !same_json(e, kv)))
			feed_rec(s, puts, kv->key, kv->value, kv->vlen);
		vw_set(&s->view, kv->key, kv->value, kv->vlen, kv->mod_rev);
	}
	for (size_t i = vw_lower(&s->view, pre); i < s->view.n && dels != NULL &&
	    strncmp(s->view.e[i].key, pre, plen) == 0; i++)
		if (!s->view.e[i].seen && s->view.e[i].live)
			feed_rec(s, dels, s->view.e[i].key, NULL, 0);
	vw_drop_unseen(&s->view, pre);
	for (size_t i = 0; dels != NULL && puts != NULL && i < puts->n; i++) {
		se_batch_add(dels, ST_PUT, puts->ops[i].kind, puts->ops[i].id,
			puts->ops[i].fields);
		puts->ops[i].fields = NULL;
	}
	se_batch_free(puts);
	any = dels != NULL && dels->n > 0;
	if (dels != NULL)
		push_batch(s, dels);
	return any;
}

static void wait_writers(struct se *s)
{
	while (s->writing > 0)
		pthread_cond_wait(&s->cv, &s->mu);
}

/* Range P, diff, watch from the range's revision + 1. 0, or -1 (etcd unreachable). */
static int resync(struct se *s)
{
	char pre[SE_KEY_MAX];
	struct etcd_kvs k;
	struct etcd_status st;
	bool fed;
	se_key(pre, s, "%s", "");
	if (etcd_range(s->c, pre, ETCD_PREFIX, 0, 0, &k, &st) != 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	wait_writers(s);
	fed = resync_diff(s, &k, pre);
	s->counts.resyncs++;
	s->counts.revision = k.revision;
	s->synced = true;
	pthread_mutex_unlock(&s->mu);
	if (fed && s->wake != NULL)
		s->wake(s->wake_arg);
	s->watch = etcd_watch(s->c, pre, k.revision + 1, watch_cb, s);
	etcd_kvs_free(&k);
	if (s->watch == NULL) {
		pthread_mutex_lock(&s->mu);
		s->synced = false;
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	return 0;
}

/* Under mu: a watch message's events, one batch per revision; this node's own skipped. */
static bool events(struct se *s, const struct se_wmsg *m)
{
	struct se_batch *b = NULL;
	int64_t rev = -1;
	bool any = false;
	for (size_t i = 0; i < m->n; i++) {
		const struct se_wev *ev = &m->ev[i];
		struct se_ent *e = vw_find(&s->view, ev->key);
		if (ev->mod_rev != rev) {
			if (b != NULL) {
				any = any || b->n > 0;
				push_batch(s, b);
			}
			if ((b = calloc(1, sizeof(*b))) != NULL)
				b->rev = ev->mod_rev;
			rev = ev->mod_rev;
		}
		if (e != NULL && e->mod_rev >= ev->mod_rev)
			continue;
		if (b != NULL && (!ev->del || (e != NULL && e->live)))
			feed_rec(s, b, ev->key, ev->del ? NULL : ev->val, ev->vlen);
		vw_set(&s->view, ev->key, ev->del ? NULL : ev->val, ev->vlen, ev->mod_rev);
	}
	if (b != NULL) {
		any = any || b->n > 0;
		push_batch(s, b);
	}
	s->counts.revision = m->rev > s->counts.revision ? m->rev : s->counts.revision;
	/* Deleted keys must not pile up in the view; a tombstone stays while the watch may still
	 * bring its own event, or a batch from before it waits to be drained (drain skips what
	 * a later revision superseded). */
	if (s->view.deaths >= 1024)
		vw_purge(&s->view, s->bhead != NULL && s->bhead->rev - 1 < m->rev ?
			s->bhead->rev - 1 : m->rev);
	return any;
}

static void set_watch_state(struct se *s, bool up)
{
	pthread_mutex_lock(&s->mu);
	s->watch_up = up;
	s->ready = up && s->synced;
	pthread_mutex_unlock(&s->mu);
}

/* The watch ended on a compaction: everything queued is from it; resync next. */
static void compacted(struct se *s, struct se_wmsg *rest)
{
	etcd_watch_stop(s->watch);
	s->watch = NULL;
	pthread_mutex_lock(&s->mu);
	s->synced = s->ready = s->watch_up = false;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_lock(&s->qmu);
	if (s->qtail != NULL) {
		s->qtail->next = rest;
		rest = s->qhead;
	}
	s->qhead = s->qtail = NULL;
	pthread_mutex_unlock(&s->qmu);
	while (rest != NULL) {
		struct se_wmsg *n = rest->next;
		wmsg_free(rest);
		rest = n;
	}
	LOG_INFO("state", "this node's watch lost its place in etcd's history: resyncing");
}

static void process_queue(struct se *s)
{
	struct se_wmsg *m;
	pthread_mutex_lock(&s->qmu);
	m = s->qhead;
	s->qhead = s->qtail = NULL;
	pthread_mutex_unlock(&s->qmu);
	while (m != NULL) {
		struct se_wmsg *next = m->next;
		bool fed = false;
		if (m->kind == ETCD_W_COMPACTED) {
			wmsg_free(m);
			compacted(s, next);
			return;
		}
		if (m->kind == ETCD_W_UP || m->kind == ETCD_W_DOWN)
			set_watch_state(s, m->kind == ETCD_W_UP);
		if (m->kind == ETCD_W_EVENTS) {
			pthread_mutex_lock(&s->mu);
			wait_writers(s);
			fed = events(s, m);
			pthread_mutex_unlock(&s->mu);
		}
		if (fed && s->wake != NULL)
			s->wake(s->wake_arg);
		wmsg_free(m);
		m = next;
	}
}

static bool has_work(struct se *s)
{
	bool w;
	pthread_mutex_lock(&s->qmu);
	w = s->qhead != NULL;
	pthread_mutex_unlock(&s->qmu);
	pthread_mutex_lock(&s->rmu);
	w = w || (s->reports_dirty && s->lease != 0);
	pthread_mutex_unlock(&s->rmu);
	return w || s->lease_lost || s->lost_msg || (s->synced && s->lease == 0);
}

static void step(struct se *s)
{
	bool lost, lost_msg;
	if (!s->synced && resync(s) != 0)
		return;
	pthread_mutex_lock(&s->mu);
	lost_msg = s->lost_msg;
	s->lost_msg = false;
	pthread_mutex_unlock(&s->mu);
	if (lost_msg) {             /* a gap in the events: only a resync closes it */
		compacted(s, NULL);
		return;
	}
	process_queue(s);
	pthread_mutex_lock(&s->mu);
	lost = s->lease_lost;
	s->lease_lost = false;
	pthread_mutex_unlock(&s->mu);
	if (lost) {
		LOG_INFO("state", "etcd lost this node's lease: registering again");
		etcd_keep_stop(s->keep);
		s->keep = NULL;
		s->lease = 0;
	}
	if (s->synced && s->lease == 0 && se_register(s) != 0)
		return;
	se_flush_reports(s);
}

static void idle(struct se *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)IDLE_MS * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

static void *feed(void *arg)
{
	struct se *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->quit) {
		pthread_mutex_unlock(&s->mu);
		step(s);
		pthread_mutex_lock(&s->mu);
		bool failed = !s->synced || (s->lease == 0 && !s->lease_lost);
		if (!s->quit && (failed || !has_work(s)))
			idle(s);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int se_feed_start(struct se *s)
{
	sigset_t old;
	util_block_process_signals(&old);
	int rc = pthread_create(&s->thread, NULL, feed, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	s->running = rc == 0;
	return rc;
}

void se_feed_stop(struct se *s)
{
	struct etcd_status st;
	if (s->running) {
		pthread_mutex_lock(&s->mu);
		s->quit = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	etcd_watch_stop(s->watch);
	s->watch = NULL;
	etcd_keep_stop(s->keep);
	s->keep = NULL;
	if (s->lease != 0)          /* the node drops out of the fleet's statuses at once */
		etcd_lease_revoke(s->c, s->lease, &st);
	s->lease = 0;
	while (s->qhead != NULL) {
		struct se_wmsg *m = s->qhead;
		s->qhead = m->next;
		wmsg_free(m);
	}
	s->qtail = NULL;
}
