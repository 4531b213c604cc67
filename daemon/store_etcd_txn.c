/* daemon/store_etcd_txn.c - the etcd back end's write path (store.h): one change becomes one
 * etcd txn (records with their revision compares, the port keys and counters of the listeners
 * it creates or deletes), settled from the txn's answer: EADDRINUSE, EUSERS, a counter lost to
 * a concurrent change retried with the value read back, EAGAIN for a stale record, an unknown
 * outcome read back (made: success; not made: sent again; unreadable: EIO, and if it was made
 * the feed brings it later like another node's change).
 * A listener claims ports when it is created and frees them when deleted; a put of one the view
 * has keeps its claims (sm never moves a listener's port, proxy or group). */
#include "store_etcd_int.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct p_rec {
	char key[SE_KEY_MAX];
	char *val;                  /* NULL: a delete */
	int64_t was;                /* the view's mod_rev (0: new) */
	bool skip;                  /* the delete of a record etcd does not have */
};
struct p_claim {
	char key[SE_KEY_MAX];
	char proxy[ST_ID_MAX];
	char lid[ST_ID_MAX];
	unsigned port;
	bool del;
};
struct p_cnt {
	char key[SE_KEY_MAX];
	char proxy[ST_ID_MAX];
	char newval[24];
	long long val;
	int delta;
	unsigned max;
	int64_t was;
};
struct plan {
	struct p_rec *rec;
	size_t nrec;
	struct p_claim *claims;
	size_t nclaims, capclaims;
	struct p_cnt cnts[SE_PLACES_MAX];
	size_t ncnts;
	struct etcd_cmp *cmp;
	struct etcd_op *ok, *fail;
	size_t ncmp, nok, nfail;
	bool full;                  /* plan_counts() refused it (EUSERS): settle_full() decides */
};

enum { SETTLED, RETRY };

static int fail_with(int e, char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "state store: %s", msg);
	errno = e;
	return -1;
}

static struct p_cnt *cnt_of(struct plan *p, const char *proxy)
{
	for (size_t i = 0; i < p->ncnts; i++)
		if (strcmp(p->cnts[i].proxy, proxy) == 0)
			return &p->cnts[i];
	if (p->ncnts == SE_PLACES_MAX)
		return NULL;
	struct p_cnt *c = &p->cnts[p->ncnts++];
	snprintf(c->proxy, sizeof(c->proxy), "%s", proxy);
	return c;
}

/* The port keys and counter moves of listener l created (del false) or deleted. */
static int plan_listener(struct se *s, struct plan *p, const struct st_listener *l, bool del)
{
	char proxies[SE_PLACES_MAX][ST_ID_MAX];
	unsigned maxes[SE_PLACES_MAX];
	size_t np = s->places(s->places_arg, l->proxy_id, l->group_id, proxies, maxes,
		SE_PLACES_MAX);
	for (size_t i = 0; i < np && i < SE_PLACES_MAX; i++) {
		struct p_cnt *c = cnt_of(p, proxies[i]);
		if (c == NULL)
			return -1;
		c->delta += del ? -1 : 1;
		c->max = maxes[i];
		if (p->nclaims == p->capclaims) {
			size_t cap = p->capclaims != 0 ? p->capclaims * 2 : 8;
			struct p_claim *cl = realloc(p->claims, cap * sizeof(*cl));
			if (cl == NULL)
				return -1;
			p->claims = cl;
			p->capclaims = cap;
		}
		struct p_claim *cl = &p->claims[p->nclaims++];
		*cl = (struct p_claim){ .port = l->port, .del = del };
		snprintf(cl->proxy, sizeof(cl->proxy), "%s", proxies[i]);
		snprintf(cl->lid, sizeof(cl->lid), "%s", l->id);
		if (se_key(cl->key, s, "port/%s/%u", proxies[i], l->port) != 0)
			return -1;
	}
	return 0;
}

/* Record i of the change into the plan, with the listener's claims when one comes or goes. */
static int plan_rec(struct se *s, struct plan *p, const struct st_op *op, struct p_rec *r)
{
	struct se_ent *e;
	struct st_listener l;
	bool lsn = strcmp(op->kind, ST_LISTENER) == 0;
	if (se_key(r->key, s, "rec/%s/%s", op->kind, op->id) != 0)
		return -1;
	e = vw_find(&s->view, r->key);
	r->was = e != NULL && e->live ? e->mod_rev : 0;
	if (op->type == ST_DEL) {
		r->skip = r->was == 0;
		if (r->skip || !lsn)
			return 0;
		json_t *old = json_loadb(e->val, e->vlen, 0, NULL);
		int rc = old != NULL && st_listener_from(old, &l) == 0 ?
			plan_listener(s, p, &l, true) : 0;
		json_decref(old);
		return rc;
	}
	if ((r->val = json_dumps(op->fields, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return -1;
	if (lsn && r->was == 0 && st_listener_from(op->fields, &l) == 0)
		return plan_listener(s, p, &l, false);
	return 0;
}

static void cmp_add(struct plan *p, const char *key, enum etcd_target t, int64_t num)
{
	p->cmp[p->ncmp++] = (struct etcd_cmp){ .key = key, .target = t, .op = ETCD_EQ, .num = num };
}

static void op_add(struct etcd_op *ops, size_t *n, enum etcd_op_type t, const char *key,
	const char *val)
{
	ops[(*n)++] = (struct etcd_op){ .type = t, .key = key, .value = val,
		.vlen = val != NULL ? strlen(val) : 0 };
}

/* The counters' compares and new values; EUSERS when one would pass its proxy's max. */
static int plan_counts(struct se *s, struct plan *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->ncnts; i++) {
		struct p_cnt *c = &p->cnts[i];
		struct se_ent *e;
		if (se_key(c->key, s, "count/%s", c->proxy) != 0)
			return fail_with(EINVAL, err, errlen, "a proxy id too long for a key");
		e = vw_find(&s->view, c->key);
		c->val = e != NULL && e->live ? strtoll(e->val, NULL, 10) : 0;
		c->was = e != NULL && e->live ? e->mod_rev : 0;
		long long nv = c->val + c->delta;
		if (c->delta > 0 && c->max != 0 && nv > (long long)c->max) {
			snprintf(s->conflict.proxy, sizeof(s->conflict.proxy), "%s", c->proxy);
			s->conflict.port = 0;
			s->has_conflict = true;
			s->counts.conflicts++;
			snprintf(err, errlen, "proxy %s holds %lld listeners, its maximum",
				c->proxy, c->val);
			errno = EUSERS;
			return -1;
		}
		snprintf(c->newval, sizeof(c->newval), "%lld", nv < 0 ? 0 : nv);
	}
	return 0;
}

/* The txn's compares and branches from the plan's parts. */
static int plan_ops(struct plan *p)
{
	size_t max = p->nrec + p->nclaims + p->ncnts;
	p->cmp = calloc(max + 1, sizeof(*p->cmp));
	p->ok = calloc(max + 1, sizeof(*p->ok));
	p->fail = calloc(max + 1, sizeof(*p->fail));
	if (p->cmp == NULL || p->ok == NULL || p->fail == NULL)
		return -1;
	for (size_t i = 0; i < p->nrec; i++) {
		struct p_rec *r = &p->rec[i];
		if (r->skip)
			continue;
		cmp_add(p, r->key, r->was != 0 ? ETCD_MOD_REV : ETCD_CREATE_REV, r->was);
		op_add(p->ok, &p->nok, r->val != NULL ? ETCD_OP_PUT : ETCD_OP_DELETE, r->key,
			r->val);
	}
	for (size_t i = 0; i < p->nclaims; i++) {
		struct p_claim *c = &p->claims[i];
		if (!c->del) {
			cmp_add(p, c->key, ETCD_VERSION, 0);
			op_add(p->fail, &p->nfail, ETCD_OP_RANGE, c->key, NULL);
		}
		op_add(p->ok, &p->nok, c->del ? ETCD_OP_DELETE : ETCD_OP_PUT, c->key,
			c->del ? NULL : c->lid);
	}
	for (size_t i = 0; i < p->ncnts; i++) {
		cmp_add(p, p->cnts[i].key, ETCD_MOD_REV, p->cnts[i].was);
		op_add(p->fail, &p->nfail, ETCD_OP_RANGE, p->cnts[i].key, NULL);
		op_add(p->ok, &p->nok, ETCD_OP_PUT, p->cnts[i].key, p->cnts[i].newval);
	}
	return 0;
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->nrec; i++)
		free(p->rec[i].val);
	free(p->rec);
	free(p->claims);
	free(p->cmp);
	free(p->ok);
	free(p->fail);
	free(p);
}

/* Does a later op of the change touch the same record? Then it wins (as in the journal), and
 * this one stays out of the txn: etcd refuses a txn naming a key twice. */
static bool overridden(const struct st_op *ops, size_t n, size_t i)
{
	for (size_t j = i + 1; j < n; j++)
		if (strcmp(ops[j].kind, ops[i].kind) == 0 && strcmp(ops[j].id, ops[i].id) == 0)
			return true;
	return false;
}

/* Under mu, from the view. NULL with errno and err (EUSERS, ENOMEM, EINVAL). */
static struct plan *plan_build(struct se *s, const struct st_op *ops, size_t n, char *err,
	size_t errlen)
{
	struct plan *p = calloc(1, sizeof(*p));
	if (p == NULL || (p->rec = calloc(n, sizeof(*p->rec))) == NULL)
		goto nomem;
	p->nrec = n;
	for (size_t i = 0; i < n; i++) {
		if ((p->rec[i].skip = overridden(ops, n, i)))
			continue;
		if (plan_rec(s, p, &ops[i], &p->rec[i]) != 0)
			goto nomem;
	}
	if (plan_counts(s, p, err, errlen) != 0) {
		int e = errno;
		if (e == EUSERS) {
			p->full = true;
			return p;
		}
		plan_free(p);
		errno = e;
		return NULL;
	}
	if (plan_ops(p) != 0)
		goto nomem;
	return p;
nomem:
	if (p != NULL)
		plan_free(p);
	fail_with(ENOMEM, err, errlen, "out of memory (or a key too long)");
	return NULL;
}

/* The ok branch applied at rev: the view learns every key of it. */
static void view_applied(struct se *s, const struct plan *p, int64_t rev)
{
	for (size_t i = 0; i < p->nok; i++) {
		const struct etcd_op *o = &p->ok[i];
		vw_set(&s->view, o->key, o->type == ETCD_OP_PUT ? o->value : NULL, o->vlen, rev);
	}
	s->counts.revision = rev > s->counts.revision ? rev : s->counts.revision;
}

/* The failure branch's ranges: why the compares failed. Under mu. */
static int settle_failed(struct se *s, struct plan *p, const struct etcd_txn_out *out, char *err,
	size_t errlen)
{
	size_t r = 0;
	bool moved = false;
	for (size_t i = 0; i < p->nclaims && r < out->nranges; i++) {
		if (p->claims[i].del)
			continue;
		const struct etcd_kvs *k = &out->ranges[r++];
		if (k->n == 0)
			continue;
		vw_set(&s->view, k->kv[0].key, k->kv[0].value, k->kv[0].vlen, k->kv[0].mod_rev);
		snprintf(s->conflict.proxy, sizeof(s->conflict.proxy), "%s", p->claims[i].proxy);
		s->conflict.port = p->claims[i].port;
		s->has_conflict = true;
		s->counts.conflicts++;
		snprintf(err, errlen, "port %u of proxy %s is held by listener %s",
			p->claims[i].port, p->claims[i].proxy, k->kv[0].value);
		errno = EADDRINUSE;
		return -1;
	}
	for (size_t i = 0; i < p->ncnts && r < out->nranges; i++) {
		const struct etcd_kvs *k = &out->ranges[r++];
		int64_t mr = k->n > 0 ? k->kv[0].mod_rev : 0;
		if (k->n > 0)
			vw_set(&s->view, k->kv[0].key, k->kv[0].value, k->kv[0].vlen, mr);
		else
			vw_set(&s->view, p->cnts[i].key, NULL, 0, 0);
		moved = moved || mr != p->cnts[i].was;
	}
	if (moved)
		return RETRY;
	return fail_with(EAGAIN, err, errlen, "a record changed on another node since this node "
		"last saw it (its view catches up from the watch); try again");
}

/* A txn whose answer never came: did it apply? 1 yes (*rev), 0 no, -1 unknown. */
static int read_back(struct se *s, const struct plan *p, int64_t *rev)
{
	struct etcd_kvs k;
	struct etcd_status st;
	const struct etcd_op *o = &p->ok[0];
	int rc;
	if (p->nok == 0 || etcd_range(s->c, o->key, ETCD_KEY, 0, 0, &k, &st) != 0)
		return -1;
	if (o->type == ETCD_OP_DELETE) {
		rc = k.n == 0;
		*rev = k.revision;
	} else {
		rc = k.n > 0 && k.kv[0].vlen == o->vlen && memcmp(k.kv[0].value, o->value,
			o->vlen) == 0 && k.kv[0].mod_rev > p->cmp[0].num;
		*rev = k.n > 0 ? k.kv[0].mod_rev : 0;
	}
	etcd_kvs_free(&k);
	return rc;
}

/* One attempt: the txn sent, its outcome into the view. 0, RETRY, or -1 with errno. */
static int attempt(struct se *s, struct plan *p, char *err, size_t errlen)
{
	struct etcd_txn_out out = { 0 };
	struct etcd_status st;
	int64_t rev = 0;
	int rc = etcd_txn(s->c, p->cmp, p->ncmp, p->ok, p->nok, p->fail, p->nfail, &out, &st), ap;
	if (rc != 0 && (st.err == ETCD_E_LOST || st.err == ETCD_E_TIMEOUT)) {
		ap = read_back(s, p, &rev);
		if (ap < 0) {   /* if it was made, the feed brings it like another node's */
			snprintf(err, errlen, "state store: etcd's answer was lost (%s) and the "
				"change could not be read back: it may or may not have been made",
				st.msg);
			errno = EIO;
			return -1;
		}
		if (!ap)                /* not made: the compares make sending it again safe */
			return RETRY;
		out.succeeded = true;
		out.revision = rev;
	} else if (rc != 0) {
		/* grpc 14 (unavailable: no leader ...) is etcd down for this purpose */
		bool down = (st.err != ETCD_E_SERVER && st.err != ETCD_E_PROTOCOL &&
			st.err != ETCD_E_INVAL && st.err != ETCD_E_NOMEM) || st.grpc == 14;
		snprintf(err, errlen, "state store: etcd %s: %s", down ? "is unreachable" :
			"refused the change", st.msg);
		errno = down ? ENOTCONN : st.err == ETCD_E_NOMEM ? ENOMEM : EIO;
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	if (out.succeeded) {
		view_applied(s, p, out.revision);
		s->counts.txns++;
		rc = 0;
	} else {
		rc = settle_failed(s, p, &out, err, errlen);
	}
	pthread_mutex_unlock(&s->mu);
	etcd_txn_out_free(&out);
	return rc;
}

static void done_writing(struct se *s)
{
	pthread_mutex_lock(&s->mu);
	s->writing--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* The view says a proxy this create occupies is full. Its counter may be fresher than its port
 * keys (a failed txn reads the counter back at etcd's latest revision; the watch may not have
 * brought the create that took this port yet), so a claimed port is asked of etcd: held by
 * another listener, the refusal is EADDRINUSE, as one node checks the port before the limit;
 * else (or etcd not answering the read) EUSERS stands. Without it a create that lost its port to
 * another node's create, which also filled the proxy, answered LimitExceeded, not
 * DuplicatedPort (found by tests/e2e/test_fleet.py, 200 creates of 100 ports). -1 with errno. */
static int settle_full(struct se *s, const struct plan *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->nclaims; i++) {
		const struct p_claim *c = &p->claims[i];
		struct etcd_kvs k;
		struct etcd_status st;
		if (c->del || etcd_range(s->c, c->key, ETCD_KEY, 0, 0, &k, &st) != 0)
			continue;
		bool held = k.n > 0 && !(k.kv[0].vlen == strlen(c->lid) &&
			memcmp(k.kv[0].value, c->lid, k.kv[0].vlen) == 0);
		if (held) {
			pthread_mutex_lock(&s->mu);
			snprintf(s->conflict.proxy, sizeof(s->conflict.proxy), "%s", c->proxy);
			s->conflict.port = c->port;
			s->has_conflict = true;
			pthread_mutex_unlock(&s->mu);
			snprintf(err, errlen, "port %u of proxy %s is held by listener %.*s", c->port,
				c->proxy, (int)k.kv[0].vlen, k.kv[0].value);
			etcd_kvs_free(&k);
			errno = EADDRINUSE;
			return -1;
		}
		etcd_kvs_free(&k);
	}
	errno = EUSERS;
	return -1;
}

/* One attempt from the view of the moment; 0, RETRY, or -1 with errno. */
static int try_once(struct se *s, const struct st_op *ops, size_t n, char *err, size_t errlen)
{
	struct plan *p;
	int rc, e;
	pthread_mutex_lock(&s->mu);
	if (!s->ready) {
		pthread_mutex_unlock(&s->mu);
		return fail_with(ENOTCONN, err, errlen, "etcd is unreachable or this node has "
			"not caught up with it yet");
	}
	s->has_conflict = false;
	s->writing++;
	p = plan_build(s, ops, n, err, errlen);
	pthread_mutex_unlock(&s->mu);
	if (p == NULL)
		rc = -1;
	else if (p->full)
		rc = settle_full(s, p, err, errlen);
	else
		rc = p->nok == 0 ? 0 : attempt(s, p, err, errlen);
	e = errno;
	if (p != NULL)
		plan_free(p);
	done_writing(s);
	errno = e;
	return rc;
}

int se_txn_write(struct se *s, const struct st_op *ops, size_t n, char *err, size_t errlen)
{
	int rc = RETRY;
	for (size_t i = 0; i < n; i++)
		if (ops[i].type == ST_PUT && st_check(ops[i].kind, ops[i].id, ops[i].fields, err,
		    errlen) != 0) {
			errno = EINVAL;
			return -1;
		}
	for (int i = 0; rc == RETRY && i <= SE_RETRIES; i++) {
		rc = try_once(s, ops, n, err, errlen);
		if (rc == RETRY) {
			pthread_mutex_lock(&s->mu);
			s->counts.txn_retries++;
			pthread_mutex_unlock(&s->mu);
		}
	}
	if (rc == RETRY)
		return fail_with(EAGAIN, err, errlen, "a proxy's listener count kept changing "
			"under this node; try again");
	return rc;
}
