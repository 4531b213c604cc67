/* daemon/etcd/client.c - the client: its thread and loop, the queue other threads post work to,
 *   endpoints, and the synchronous calls (each an exchange on the loop, the caller waiting).
 * Threads: etcd_create()/etcd_destroy() by the owner; calls from any thread but the client's.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "etcd_int.h"

bool etcd_on_loop(const struct etcd *c)
{
	return pthread_equal(pthread_self(), c->thread) != 0;
}

int etcd_post(struct etcd *c, void (*run)(struct etcd *, void *), void *arg)
{
	struct etcd_task *t = malloc(sizeof *t);
	if (t == NULL)
		return -1;
	t->next = NULL;
	t->run = run;
	t->arg = arg;
	pthread_mutex_lock(&c->mu);
	if (c->closing) {
		pthread_mutex_unlock(&c->mu);
		free(t);
		return -1;
	}
	if (c->tail != NULL)
		c->tail->next = t;
	else
		c->head = t;
	c->tail = t;
	pthread_mutex_unlock(&c->mu);
	event_active(c->mbox, EV_READ, 0);
	return 0;
}

/* Everything still running ends: exchanges fail with ETCD_E_CLOSED (their waiting callers wake),
 * watches and keepalives stop without calling back (their owners are the ones destroying). */
static void shut(struct etcd *c)
{
	struct etcd_status st = { .err = ETCD_E_CLOSED };
	snprintf(st.msg, sizeof st.msg, "etcd client closed");
	while (c->watches != NULL)
		etcd_watch_stop(c->watches);
	while (c->keeps != NULL)
		etcd_keep_stop(c->keeps);
	while (c->xfers != NULL) {
		struct etcd_xfer *x = c->xfers;
		etcd_xfer_done done = x->cancelled ? NULL : x->done;
		void *arg = x->arg;
		etcd_xfer_cancel(x);            /* frees it: it is not in a callback */
		if (done != NULL)
			done(NULL, &st, NULL, arg);
	}
	event_base_loopbreak(c->base);
}

static void mbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd *c = arg;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->mu);
	struct etcd_task *t = c->head;
	bool closing = c->closing;
	c->head = c->tail = NULL;
	pthread_mutex_unlock(&c->mu);
	while (t != NULL) {
		struct etcd_task *next = t->next;
		t->run(c, t->arg);
		free(t);
		t = next;
	}
	if (closing)
		shut(c);
}

static void *loop_main(void *arg)
{
	struct etcd *c = arg;
	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* http://host:port -> an endpoint, resolved now (the loop never blocks on DNS). */
static int parse_ep(const char *url, struct etcd_ep *ep, char *err, size_t errlen)
{
	char host[256];
	const char *p = url, *colon;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	if (strncmp(p, "http://", 7) != 0) {
		snprintf(err, errlen, "etcd endpoint %s: only http://host:port is supported%s", url,
			strncmp(p, "https://", 8) == 0 ? " (no client TLS yet)" : "");
		return -1;
	}
	p += 7;
	size_t n = strcspn(p, "/");
	if (p[n] != '\0' && strcmp(p + n, "/") != 0) {
		snprintf(err, errlen, "etcd endpoint %s: a path is not allowed", url);
		return -1;
	}
	colon = p[0] == '[' ? strstr(p, "]:") : strrchr(p, ':');
	if (colon == NULL || colon > p + n || n >= sizeof ep->hostport) {
		snprintf(err, errlen, "etcd endpoint %s: expected http://host:port", url);
		return -1;
	}
	if (p[0] == '[')
		colon++;
	size_t hl = (size_t)(colon - p) - (p[0] == '[' ? 2 : 0);
	snprintf(host, sizeof host, "%.*s", (int)hl, p + (p[0] == '['));
	snprintf(ep->hostport, sizeof ep->hostport, "%.*s", (int)n, p);
	char port[16];
	snprintf(port, sizeof port, "%.*s", (int)(p + n - colon - 1), colon + 1);
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0) {
		snprintf(err, errlen, "etcd endpoint %s: %s", url, gai_strerror(r));
		return -1;
	}
	memcpy(&ep->addr, ai->ai_addr, ai->ai_addrlen);
	ep->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int setup(struct etcd *c, const struct etcd_cfg *cfg, char *err, size_t errlen)
{
	if (cfg->nendpoints == 0) {
		snprintf(err, errlen, "etcd: no endpoint");
		return -1;
	}
	c->dial_ms = cfg->dial_timeout_ms != 0 ? cfg->dial_timeout_ms : 2000;
	c->req_ms = cfg->request_timeout_ms != 0 ? cfg->request_timeout_ms : 5000;
	if ((c->eps = calloc(cfg->nendpoints, sizeof *c->eps)) == NULL) {
		snprintf(err, errlen, "etcd: out of memory");
		return -1;
	}
	for (c->neps = 0; c->neps < cfg->nendpoints; c->neps++)
		if (parse_ep(cfg->endpoints[c->neps], &c->eps[c->neps], err, errlen) != 0)
			return -1;
	if ((c->base = event_base_new()) == NULL
			|| (c->mbox = event_new(c->base, -1, EV_READ, mbox_cb, c)) == NULL) {
		snprintf(err, errlen, "etcd: cannot make an event loop");
		return -1;
	}
	return 0;
}

struct etcd *etcd_create(const struct etcd_cfg *cfg, char *err, size_t errlen)
{
	struct etcd *c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(err, errlen, "etcd: out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	if (setup(c, cfg, err, errlen) != 0)
		goto fail;
	if ((errno = pthread_create(&c->thread, NULL, loop_main, c)) != 0) {
		snprintf(err, errlen, "etcd: cannot start its thread: %s", strerror(errno));
		goto fail;
	}
	return c;
fail:
	if (c->mbox != NULL)
		event_free(c->mbox);
	if (c->base != NULL)
		event_base_free(c->base);
	pthread_mutex_destroy(&c->mu);
	free(c->eps);
	free(c);
	return NULL;
}

void etcd_destroy(struct etcd *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	pthread_mutex_unlock(&c->mu);
	event_active(c->mbox, EV_READ, 0);
	pthread_join(c->thread, NULL);
	event_free(c->mbox);
	event_base_free(c->base);
	pthread_mutex_destroy(&c->mu);
	free(c->eps);
	free(c);
}

/* ---- synchronous calls: an exchange on the loop, the caller waiting on a condition ---- */

struct call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, retry_sent;
	char *path, *body;
	struct etcd_status st;
	json_t *resp;
};

static void call_done(struct etcd_xfer *x, const struct etcd_status *st, json_t *body, void *arg)
{
	struct call *k = arg;
	(void)x;
	pthread_mutex_lock(&k->mu);
	k->st = *st;
	k->resp = json_incref(body);
	k->done = true;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static void call_run(struct etcd *c, void *arg)
{
	struct call *k = arg;
	char *path = k->path, *body = k->body;
	k->path = k->body = NULL;               /* the exchange owns them now */
	if (etcd_xfer_start(c, path, body, k->retry_sent, call_done, NULL, k) == NULL) {
		struct etcd_status st = { .err = ETCD_E_NOMEM };
		snprintf(st.msg, sizeof st.msg, "etcd: out of memory");
		call_done(NULL, &st, NULL, k);
	}
}

int etcd_call(struct etcd *c, const char *path, json_t *req, bool retry_sent, json_t **resp,
	struct etcd_status *st)
{
	struct call k = { .retry_sent = retry_sent };
	memset(st, 0, sizeof *st);
	*resp = NULL;
	if (etcd_on_loop(c)) {
		json_decref(req);
		etcd_st_set(st, ETCD_E_INVAL, "etcd: a synchronous call from the client's thread");
		errno = EDEADLK;
		return -1;
	}
	k.path = strdup(path);
	k.body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (k.path == NULL || k.body == NULL) {
		free(k.path);
		free(k.body);
		etcd_st_set(st, ETCD_E_NOMEM, "etcd: out of memory");
		return -1;
	}
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv, NULL);
	if (etcd_post(c, call_run, &k) != 0) {
		free(k.path);
		free(k.body);
		etcd_st_set(&k.st, ETCD_E_CLOSED, "etcd client closed");
		k.done = true;
	}
	pthread_mutex_lock(&k.mu);
	while (!k.done)
		pthread_cond_wait(&k.cv, &k.mu);
	pthread_mutex_unlock(&k.mu);
	pthread_cond_destroy(&k.cv);
	pthread_mutex_destroy(&k.mu);
	*st = k.st;
	*resp = k.resp;
	return st->err == ETCD_OK ? 0 : -1;
}

/* ---- key-value ---- */

int etcd_nomem(json_t *req, struct etcd_status *st)
{
	json_decref(req);
	etcd_st_set(st, ETCD_E_NOMEM, "etcd: out of memory");
	return -1;
}

int etcd_bad_answer(json_t *resp, const char *what, struct etcd_status *st)
{
	json_decref(resp);
	etcd_st_set(st, ETCD_E_PROTOCOL, "etcd: %s: unexpected answer", what);
	return -1;
}

int etcd_range(struct etcd *c, const char *key, int match, int64_t rev, int64_t limit,
	struct etcd_kvs *out, struct etcd_status *st)
{
	json_t *req = json_object(), *resp;
	memset(out, 0, sizeof *out);
	if (req == NULL || etcd_set_range(req, key, match) != 0
			|| (rev > 0 && etcd_set_i64(req, "revision", rev) != 0)
			|| (limit > 0 && etcd_set_i64(req, "limit", limit) != 0))
		return etcd_nomem(req, st);
	if (etcd_call(c, "/v3/kv/range", req, true, &resp, st) != 0)
		return -1;
	if (etcd_kvs_from(resp, out) != 0)
		return etcd_bad_answer(resp, "range", st);
	json_decref(resp);
	return 0;
}

int etcd_put(struct etcd *c, const char *key, const void *value, size_t vlen, int64_t lease,
	int64_t *rev, struct etcd_status *st)
{
	json_t *req = json_object(), *resp;
	char *v = etcd_b64(value, vlen);
	if (req == NULL || v == NULL || etcd_set_key(req, "key", key) != 0
			|| json_object_set_new(req, "value", json_string(v)) != 0
			|| (lease != 0 && etcd_set_i64(req, "lease", lease) != 0)) {
		free(v);
		return etcd_nomem(req, st);
	}
	free(v);
	if (etcd_call(c, "/v3/kv/put", req, false, &resp, st) != 0)
		return -1;
	if (rev != NULL)
		*rev = etcd_i64(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	return 0;
}

int etcd_delete(struct etcd *c, const char *key, int match, int64_t *deleted, int64_t *rev,
	struct etcd_status *st)
{
	json_t *req = json_object(), *resp;
	if (req == NULL || etcd_set_range(req, key, match) != 0)
		return etcd_nomem(req, st);
	if (etcd_call(c, "/v3/kv/deleterange", req, false, &resp, st) != 0)
		return -1;
	if (deleted != NULL)
		*deleted = etcd_i64(resp, "deleted");
	if (rev != NULL)
		*rev = etcd_i64(json_object_get(resp, "header"), "revision");
	json_decref(resp);
	return 0;
}

int etcd_compact(struct etcd *c, int64_t rev, struct etcd_status *st)
{
	json_t *req = json_object(), *resp;
	if (req == NULL || etcd_set_i64(req, "revision", rev) != 0
			|| json_object_set_new(req, "physical", json_true()) != 0)
		return etcd_nomem(req, st);
	if (etcd_call(c, "/v3/kv/compaction", req, false, &resp, st) != 0)
		return -1;
	json_decref(resp);
	return 0;
}

int etcd_status_of(struct etcd *c, struct etcd_member *out, struct etcd_status *st)
{
	json_t *req = json_object(), *resp;
	memset(out, 0, sizeof *out);
	if (req == NULL)
		return etcd_nomem(req, st);
	if (etcd_call(c, "/v3/maintenance/status", req, true, &resp, st) != 0)
		return -1;
	const char *v = json_string_value(json_object_get(resp, "version"));
	json_t *h = json_object_get(resp, "header");
	if (v == NULL || h == NULL)
		return etcd_bad_answer(resp, "status", st);
	snprintf(out->version, sizeof out->version, "%s", v);
	out->member_id = (uint64_t)strtoull(json_string_value(json_object_get(h, "member_id"))
		? json_string_value(json_object_get(h, "member_id")) : "0", NULL, 10);
	out->leader_id = (uint64_t)strtoull(json_string_value(json_object_get(resp, "leader"))
		? json_string_value(json_object_get(resp, "leader")) : "0", NULL, 10);
	out->revision = etcd_i64(h, "revision");
	json_decref(resp);
	return 0;
}

int etcd_lease_grant(struct etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl,
	struct etcd_status *st)
{
	json_t *req = json_object(), *resp;
	if (ttl <= 0) {
		json_decref(req);
		etcd_st_set(st, ETCD_E_INVAL, "etcd: lease ttl %lld: must be positive", (long long)ttl);
		return -1;
	}
	if (req == NULL || etcd_set_i64(req, "TTL", ttl) != 0)
		return etcd_nomem(req, st);
	if (etcd_call(c, "/v3/lease/grant", req, false, &resp, st) != 0)
		return -1;
	*id = etcd_i64(resp, "ID");
	if (granted_ttl != NULL)
		*granted_ttl = etcd_i64(resp, "TTL");
	if (*id == 0)
		return etcd_bad_answer(resp, "lease grant", st);
	json_decref(resp);
	return 0;
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct etcd_status *st)
{
	json_t *req = json_object(), *resp;
	if (req == NULL || etcd_set_i64(req, "ID", id) != 0)
		return etcd_nomem(req, st);
	if (etcd_call(c, "/v3/lease/revoke", req, false, &resp, st) != 0)
		return -1;
	json_decref(resp);
	return 0;
}
