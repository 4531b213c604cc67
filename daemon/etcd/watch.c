/* daemon/etcd/watch.c - watches of a prefix (a streamed /v3/watch, resumed from the revision
 *   after the last one delivered when it breaks) and lease keepalives (a /v3/lease/keepalive
 *   every third of the ttl).
 * Ownership: the client's lists hold each watch and keepalive until stopped; a stop from inside
 *   a callback marks it and the callback's frame frees it on its way out (in_cb).
 * Threads: the client's, but for etcd_watch(), etcd_keep() and the stops (any thread).
 */
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"

#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000

struct etcd_watch {
	struct etcd_watch *next, *prev;
	struct etcd *c;
	char *prefix;
	int64_t next_rev;               /* where to resume; 0 until the first UP (from 0) */
	etcd_watch_fn fn;
	void *arg;
	struct etcd_xfer *x;
	struct event *retry;
	unsigned backoff_ms;
	bool up, ended, stopped;
	int in_cb;
};

struct etcd_keep {
	struct etcd_keep *next, *prev;
	struct etcd *c;
	int64_t id;
	void (*lost)(void *arg, int64_t id);
	void *arg;
	struct event *tick;            /* every third of the ttl */
	int64_t ms;
	struct etcd_xfer *x;
	bool ended, stopped;
	int in_cb;
};

/* A stop waited for by another thread. */
struct stop_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	void *obj;
};

static void run_waited(struct etcd *c, void *arg, void (*fn)(struct etcd *, void *))
{
	struct stop_wait *s = arg;
	fn(c, s->obj);
	pthread_mutex_lock(&s->mu);
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Run fn(c, obj) on the client's thread and wait for it; directly when already there. */
static void on_loop_wait(struct etcd *c, void (*run)(struct etcd *, void *),
	void (*fn)(struct etcd *, void *), void *obj)
{
	struct stop_wait s = { .obj = obj };
	if (etcd_on_loop(c)) {
		fn(c, obj);
		return;
	}
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	if (etcd_post(c, run, &s) != 0)
		s.done = true;          /* closing: destroy stops everything itself */
	pthread_mutex_lock(&s.mu);
	while (!s.done)
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
}

/* ---- watch ---- */

static void deliver(struct etcd_watch *w, const struct etcd_wmsg *m)
{
	w->in_cb++;
	w->fn(w->arg, m);
	w->in_cb--;
}

static void watch_free(struct etcd_watch *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		w->c->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	if (w->retry != NULL)
		event_free(w->retry);
	free(w->prefix);
	free(w);
}

static void watch_line(struct etcd_xfer *x, json_t *obj, void *arg);
static void watch_done(struct etcd_xfer *x, const struct etcd_status *st, json_t *body,
	void *arg);

static void watch_connect(struct etcd_watch *w)
{
	json_t *req = json_object(), *cr = json_object();
	char *body = NULL, *path = strdup("/v3/watch");
	if (req != NULL && cr != NULL && json_object_set(req, "create_request", cr) == 0
			&& etcd_set_range(cr, w->prefix, ETCD_PREFIX) == 0
			&& (w->next_rev == 0 || etcd_set_i64(cr, "start_revision", w->next_rev) == 0))
		body = json_dumps(req, JSON_COMPACT);
	json_decref(cr);
	json_decref(req);
	if (body == NULL || path == NULL || (w->x = etcd_xfer_start(w->c, path, body, true,
			watch_done, watch_line, w)) == NULL) {
		if (body == NULL || path == NULL) {
			free(body);
			free(path);
		}
		event_add(w->retry, &(struct timeval){ 0, RETRY_MAX_MS * 1000 });
	}
}

static void watch_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	watch_connect(arg);
}

/* The stream is gone (or refused): say DOWN once, reconnect after a growing pause. */
static void watch_lost(struct etcd_watch *w, const char *why)
{
	if (w->x != NULL) {
		etcd_avoid(w->c, w->x->ep);     /* a member without a leader would take it back */
		etcd_xfer_cancel(w->x);
		w->x = NULL;
	}
	if (w->up) {
		w->up = false;
		deliver(w, &(struct etcd_wmsg){ .kind = ETCD_W_DOWN, .rev = w->next_rev - 1,
			.msg = why });
	}
	if (w->stopped)
		return;
	event_add(w->retry, &(struct timeval){ w->backoff_ms / 1000, w->backoff_ms % 1000 * 1000 });
	w->backoff_ms = w->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : w->backoff_ms * 2;
}

/* An answer with events: delivered in order, each revision once. */
static void watch_events(struct etcd_watch *w, const json_t *evs)
{
	size_t n = json_array_size(evs), k = 0;
	struct etcd_event *ev = calloc(n + 1, sizeof *ev);
	if (ev == NULL) {
		watch_lost(w, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(evs, i);
		const char *type = json_string_value(json_object_get(e, "type"));
		if (etcd_kv_from(json_object_get(e, "kv"), &ev[k].kv) != 0) {
			watch_lost(w, "a watch event without a key");
			goto out;
		}
		ev[k].del = type != NULL && strcmp(type, "DELETE") == 0;
		if (ev[k].kv.mod_rev >= w->next_rev)    /* a resumed stream never repeats */
			k++;
		else
			etcd_kv_clear(&ev[k].kv);
	}
	if (k > 0) {
		w->next_rev = ev[k - 1].kv.mod_rev + 1;
		deliver(w, &(struct etcd_wmsg){ .kind = ETCD_W_EVENTS, .rev = ev[k - 1].kv.mod_rev,
			.ev = ev, .n = k });
	}
out:
	for (size_t i = 0; i < k; i++)
		etcd_kv_clear(&ev[i].kv);
	free(ev);
}

static void watch_result(struct etcd_watch *w, const json_t *r)
{
	int64_t rev = etcd_i64(json_object_get(r, "header"), "revision");
	if (json_is_true(json_object_get(r, "canceled"))) {
		int64_t compact = etcd_i64(r, "compact_revision");
		const char *why = json_string_value(json_object_get(r, "cancel_reason"));
		if (compact <= 0) {
			watch_lost(w, why != NULL ? why : "the watch was cancelled by etcd");
			return;
		}
		w->ended = true;
		etcd_xfer_cancel(w->x);
		w->x = NULL;
		deliver(w, &(struct etcd_wmsg){ .kind = ETCD_W_COMPACTED, .rev = compact });
		return;
	}
	if (json_is_true(json_object_get(r, "created"))) {
		w->up = true;
		w->backoff_ms = RETRY_MIN_MS;
		if (w->next_rev == 0)
			w->next_rev = rev + 1;
		deliver(w, &(struct etcd_wmsg){ .kind = ETCD_W_UP, .rev = rev });
	} else if (json_array_size(json_object_get(r, "events")) > 0) {
		watch_events(w, json_object_get(r, "events"));
	} else if (rev >= w->next_rev) {
		w->next_rev = rev + 1;          /* a progress notification: nothing before rev left */
	}
}

static void watch_line(struct etcd_xfer *x, json_t *obj, void *arg)
{
	struct etcd_watch *w = arg;
	const json_t *r = json_object_get(obj, "result");
	(void)x;
	w->in_cb++;
	if (r != NULL) {
		watch_result(w, r);
	} else {
		struct etcd_status st;
		if (etcd_error_from(obj, 200, &st) != 0)
			etcd_st_set(&st, ETCD_E_PROTOCOL, "etcd watch: an answer without result");
		watch_lost(w, st.msg);
	}
	if (--w->in_cb == 0 && w->stopped)
		watch_free(w);
}

static void watch_done(struct etcd_xfer *x, const struct etcd_status *st, json_t *body,
	void *arg)
{
	struct etcd_watch *w = arg;
	(void)body;
	if (x == NULL)                  /* the client is closing */
		return;
	w->x = NULL;
	w->in_cb++;
	etcd_avoid(w->c, x->ep);
	if (st->err == ETCD_E_COMPACTED) {
		w->ended = true;
		deliver(w, &(struct etcd_wmsg){ .kind = ETCD_W_COMPACTED, .rev = 0 });
	} else if (!w->ended) {
		watch_lost(w, st->msg);
	}
	if (--w->in_cb == 0 && w->stopped)
		watch_free(w);
}

static void watch_begin(struct etcd *c, void *arg)
{
	struct etcd_watch *w = arg;
	w->next = c->watches;
	if (c->watches != NULL)
		c->watches->prev = w;
	c->watches = w;
	watch_connect(w);
}

struct etcd_watch *etcd_watch(struct etcd *c, const char *prefix, int64_t from, etcd_watch_fn fn,
	void *arg)
{
	struct etcd_watch *w = calloc(1, sizeof *w);
	if (w == NULL || (w->prefix = strdup(prefix)) == NULL
			|| (w->retry = evtimer_new(c->base, watch_retry, w)) == NULL)
		goto fail;
	w->c = c;
	w->next_rev = from > 0 ? from : 0;
	w->fn = fn;
	w->arg = arg;
	w->backoff_ms = RETRY_MIN_MS;
	if (etcd_on_loop(c))
		watch_begin(c, w);
	else if (etcd_post(c, watch_begin, w) != 0)
		goto fail;
	return w;
fail:
	if (w != NULL && w->retry != NULL)
		event_free(w->retry);
	if (w != NULL)
		free(w->prefix);
	free(w);
	return NULL;
}

static void watch_end(struct etcd *c, void *arg)
{
	struct etcd_watch *w = arg;
	(void)c;
	w->stopped = true;
	if (w->x != NULL) {
		etcd_xfer_cancel(w->x);
		w->x = NULL;
	}
	event_del(w->retry);
	if (w->in_cb == 0)
		watch_free(w);
}

static void watch_end_waited(struct etcd *c, void *arg)
{
	run_waited(c, arg, watch_end);
}

void etcd_watch_stop(struct etcd_watch *w)
{
	if (w != NULL)
		on_loop_wait(w->c, watch_end_waited, watch_end, w);
}

/* ---- lease keepalive ---- */

static void keep_free(struct etcd_keep *k)
{
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		k->c->keeps = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	if (k->tick != NULL)
		event_free(k->tick);
	free(k);
}

/* A renewal's answer: TTL 0 means etcd no longer has the lease. Failures wait for the next tick. */
static void keep_done(struct etcd_xfer *x, const struct etcd_status *st, json_t *body, void *arg)
{
	struct etcd_keep *k = arg;
	const json_t *r = json_object_get(body, "result");
	if (x == NULL)
		return;
	k->x = NULL;
	if (st->err != ETCD_OK || r == NULL || etcd_i64(r, "TTL") > 0)
		return;
	k->ended = true;
	event_del(k->tick);
	k->in_cb++;
	k->lost(k->arg, k->id);
	if (--k->in_cb == 0 && k->stopped)
		keep_free(k);
}

static void keep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_keep *k = arg;
	json_t *req = json_object();
	char *body = NULL, *path = strdup("/v3/lease/keepalive");
	(void)fd;
	(void)what;
	if (k->x != NULL || k->ended)   /* the last renewal is still under way */
		goto out;
	if (req != NULL && etcd_set_i64(req, "ID", k->id) == 0)
		body = json_dumps(req, JSON_COMPACT);
	if (body != NULL && path != NULL) {
		k->x = etcd_xfer_start(k->c, path, body, true, keep_done, NULL, k);
		path = body = NULL;
	}
out:
	free(path);
	free(body);
	json_decref(req);
}

static void keep_begin(struct etcd *c, void *arg)
{
	struct etcd_keep *k = arg;
	k->next = c->keeps;
	if (c->keeps != NULL)
		c->keeps->prev = k;
	c->keeps = k;
	event_add(k->tick, &(struct timeval){ k->ms / 1000, k->ms % 1000 * 1000 });
	event_active(k->tick, EV_TIMEOUT, 0);
}

struct etcd_keep *etcd_keep(struct etcd *c, int64_t id, int64_t ttl,
	void (*lost)(void *arg, int64_t id), void *arg)
{
	struct etcd_keep *k = calloc(1, sizeof *k);
	int64_t ms = ttl * 1000 / 3 > 100 ? ttl * 1000 / 3 : 100;
	if (k == NULL || (k->tick = event_new(c->base, -1, EV_PERSIST, keep_tick, k)) == NULL)
		goto fail;
	k->c = c;
	k->id = id;
	k->lost = lost;
	k->arg = arg;
	k->ms = ms;
	if (etcd_on_loop(c))
		keep_begin(c, k);
	else if (etcd_post(c, keep_begin, k) != 0)
		goto fail;
	return k;
fail:
	if (k != NULL && k->tick != NULL)
		event_free(k->tick);
	free(k);
	return NULL;
}

static void keep_end(struct etcd *c, void *arg)
{
	struct etcd_keep *k = arg;
	(void)c;
	k->stopped = true;
	if (k->x != NULL) {
		etcd_xfer_cancel(k->x);
		k->x = NULL;
	}
	event_del(k->tick);
	if (k->in_cb == 0)
		keep_free(k);
}

static void keep_end_waited(struct etcd *c, void *arg)
{
	run_waited(c, arg, keep_end);
}

void etcd_keep_stop(struct etcd_keep *k)
{
	if (k != NULL)
		on_loop_wait(k->c, keep_end_waited, keep_end, k);
}
