/* daemon/etcd/etcd.h - a client of etcd v3's HTTP/JSON gateway (etcd 3.4: /v3/kv/..., /v3/watch,
 *   /v3/lease/..., /v3/maintenance/status): key-value reads and transactions, leases kept alive,
 *   and watches of a prefix that resume where they broke off. The foundation of the etcd store
 *   back end (store.h, daemon/store_etcd*.c), and nothing else's.
 *
 * Transport: HTTP/1.1 over libevent bufferevents, responses parsed by llhttp (strict build), on a
 *   loop of the client's own thread. Not evhttp: libevent 2.1's evhttp client has one timeout for
 *   connect and reads alike (a watch is silent for as long as nothing changes, so it would either
 *   time out idle watches or have no dial timeout) and reports a failed exchange without its
 *   cause. Not libcurl: a second event machinery and a new dependency for what libevent, llhttp
 *   and jansson (all linked already) do in a few hundred lines. Here the dial timeout is the
 *   bufferevent's write timeout while connecting (STYLE.md), a unary call also has read and
 *   write timeouts, a watch none, and every failure keeps its cause. Each call is one connection
 *   (Connection: close): simple failover, nothing stale to detect; on loopback or a LAN the
 *   handshake is small against etcd's fsync per write.
 *
 * Endpoints and failover: calls go to the endpoint that answered last. When a connection cannot
 *   be made (refused, unreachable, dial timeout) the next endpoint is tried, each at most once
 *   per call. A read (range, status, a lease keepalive, a watch) is also retried elsewhere when
 *   the connection breaks after the request was sent; a write (put, delete, txn, grant, revoke,
 *   compact) is not: its outcome is unknown (ETCD_E_LOST), the caller decides (a txn with its
 *   compares is safe to re-check by reading). Every request asks for a leader (the gateway's
 *   Grpc-Metadata-Hasleader): a member cut off from the leader answers "no leader" (grpc 14)
 *   at once, reads then ask the next member, and a watch on it ends (DOWN) and resumes on
 *   another, instead of staying silently on a stale member. A member that is alive but never
 *   answers (stopped, not partitioned) still holds a watch until its connection breaks: etcd
 *   3.4's gateway gives a watch no way to ask for progress.
 *
 * Threads: etcd_create() starts the client's thread and loop; it requires evthread_use_pthreads()
 *   to have been called (main() does, before any event_base). Calls (etcd_range ... etcd_status)
 *   are synchronous, may be made from any thread but the client's own (-1 with EDEADLK there),
 *   concurrently: each is an exchange of its own on the loop, and the caller sleeps until it
 *   ends. Watch and keepalive callbacks run on the client's thread, in order, one at a time; they
 *   must not block and must not make synchronous calls (hand the work to another thread's
 *   mailbox). etcd_watch_stop()/etcd_keep_stop() may be called from any thread, the callback
 *   included; after they return, no callback of theirs runs again.
 * Ownership: the caller owns the etcd (etcd_destroy(), NULL-safe, stops every watch and keepalive
 *   still running without calling back), each etcd_watch and etcd_keep until stopped, and every
 *   result a call fills (etcd_kvs_free(), etcd_txn_out_free()). Keys, values and arguments are
 *   copied or used during the call only.
 */
#ifndef GAAPD_ETCD_H
#define GAAPD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct etcd;
struct etcd_watch;
struct etcd_keep;

/* What went wrong; every call fills an etcd_status (st->msg says it in words). */
enum etcd_err {
	ETCD_OK,
	ETCD_E_UNREACHABLE,     /* no endpoint could be connected (refused, dial timeout ...) */
	ETCD_E_TIMEOUT,         /* connected, but the answer stalled past the request timeout (a
	                         * write's outcome is then unknown too, as with ETCD_E_LOST) */
	ETCD_E_LOST,            /* a write's connection broke after it was sent: outcome unknown */
	ETCD_E_COMPACTED,       /* the revision asked for was compacted (grpc code 11) */
	ETCD_E_SERVER,          /* etcd refused: http status, grpc code and message in the status */
	ETCD_E_PROTOCOL,        /* an answer that is not what the gateway sends */
	ETCD_E_INVAL,           /* bad arguments (the message says which) */
	ETCD_E_NOMEM,
	ETCD_E_CLOSED,          /* the client is being destroyed */
};

struct etcd_status {
	enum etcd_err err;
	int http;               /* the HTTP status, 0 when none came */
	int grpc;               /* the gRPC code of an error answer, 0 when none */
	char msg[256];
};

const char *etcd_err_name(enum etcd_err e);     /* "unreachable" ... */

struct etcd_cfg {
	const char *const *endpoints;   /* http://host:port, host an IP literal or a name (resolved
	                                 * by etcd_create(), once) */
	size_t nendpoints;
	unsigned dial_timeout_ms;       /* per endpoint tried; 0: 2000 */
	unsigned request_timeout_ms;    /* unary calls: the longest silence of a connected call
	                                 * (sending, or waiting for the answer); 0: 5000 */
};

/* NULL on error with err filled (a bad endpoint, resources). */
struct etcd *etcd_create(const struct etcd_cfg *cfg, char *err, size_t errlen);
void etcd_destroy(struct etcd *c);

/* A key-value pair as etcd holds it; key and value are NUL-terminated copies (the NUL is not
 * counted in vlen; values may hold NULs). */
struct etcd_kv {
	char *key;
	char *value;
	size_t vlen;
	int64_t create_rev, mod_rev, version, lease;
};

struct etcd_kvs {
	struct etcd_kv *kv;
	size_t n;
	int64_t count;          /* keys in the range (n may be less with a limit) */
	bool more;
	int64_t revision;       /* the store's revision the answer reflects */
};
void etcd_kvs_free(struct etcd_kvs *r);         /* frees the contents; NULL-safe */

/* Which keys: key alone, or (prefix) every key that starts with it. */
#define ETCD_KEY 0
#define ETCD_PREFIX 1

/* Every key of the range at revision rev (0: the newest); limit 0: all. The calls return 0 when
 * etcd answered, -1 with st filled otherwise (st->err OK on success). */
int etcd_range(struct etcd *c, const char *key, int match, int64_t rev, int64_t limit,
	struct etcd_kvs *out, struct etcd_status *st);
/* *rev (may be NULL): the revision of the change. */
int etcd_put(struct etcd *c, const char *key, const void *value, size_t vlen, int64_t lease,
	int64_t *rev, struct etcd_status *st);
int etcd_delete(struct etcd *c, const char *key, int match, int64_t *deleted, int64_t *rev,
	struct etcd_status *st);

/* A transaction: if every compare holds, the success ops, else the failure ops, at one revision. */
enum etcd_target { ETCD_VALUE, ETCD_VERSION, ETCD_CREATE_REV, ETCD_MOD_REV };
enum etcd_cmp_op { ETCD_EQ, ETCD_NE, ETCD_LT, ETCD_GT };
struct etcd_cmp {
	const char *key;
	enum etcd_target target;
	enum etcd_cmp_op op;
	int64_t num;            /* VERSION, CREATE_REV, MOD_REV (0: the key does not exist) */
	const void *value;      /* VALUE: compared bytewise */
	size_t vlen;
};
enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_RANGE };
struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	int match;              /* ETCD_KEY or ETCD_PREFIX (DELETE, RANGE) */
	const void *value;      /* PUT */
	size_t vlen;
	int64_t lease;          /* PUT: 0 or a granted lease */
};
struct etcd_txn_out {
	bool succeeded;         /* the compares held: the success ops ran */
	int64_t revision;       /* the store's revision after the txn */
	struct etcd_kvs *ranges;        /* one per op of the branch that ran; RANGE ops' kvs */
	size_t nranges;
};
void etcd_txn_out_free(struct etcd_txn_out *t);
int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t ncmp,
	const struct etcd_op *ok, size_t nok, const struct etcd_op *fail, size_t nfail,
	struct etcd_txn_out *out, struct etcd_status *st);

/* Leases: granted for ttl seconds (etcd may raise a small ttl: *granted_ttl), revoked with
 * their keys. etcd_keep() keeps one alive from the client's thread, renewing every third of its
 * ttl; lost(arg, id) runs once if etcd says the lease is gone (expired while unreachable, or
 * revoked), and the keepalive ends (stop it still). Unreachable endpoints are retried at the
 * next renewal. */
int etcd_lease_grant(struct etcd *c, int64_t ttl, int64_t *id, int64_t *granted_ttl,
	struct etcd_status *st);
int etcd_lease_revoke(struct etcd *c, int64_t id, struct etcd_status *st);
struct etcd_keep *etcd_keep(struct etcd *c, int64_t id, int64_t ttl,
	void (*lost)(void *arg, int64_t id), void *arg);
void etcd_keep_stop(struct etcd_keep *k);       /* NULL-safe */

/* The member's state (tests, health): its version, its leader's id, the store's revision. */
struct etcd_member {
	char version[32];
	uint64_t member_id, leader_id;
	int64_t revision;
};
int etcd_status_of(struct etcd *c, struct etcd_member *out, struct etcd_status *st);
/* Drop history before rev (what etcd's auto-compaction does; tests force it). */
int etcd_compact(struct etcd *c, int64_t rev, struct etcd_status *st);

/* Watch every key starting with prefix, from revision from (0: changes after now). fn gets,
 * on the client's thread and in order:
 *   ETCD_W_UP       connected; rev: the store's revision then (the first time with from 0,
 *                   events start after it)
 *   ETCD_W_EVENTS   ev[0..n) in revision order (one etcd revision may hold several: a txn);
 *                   rev: the last one's revision. Never twice for a revision, never skipped.
 *   ETCD_W_DOWN     the connection broke (msg says why); the watch reconnects by itself, from
 *                   the revision after the last one delivered, and says UP again
 *   ETCD_W_COMPACTED the revision to resume from was compacted; rev: etcd's compact revision.
 *                   The watch has ended: the caller resyncs (a range, at its revision R) and
 *                   starts a new watch from R + 1.
 */
enum etcd_wkind { ETCD_W_UP, ETCD_W_EVENTS, ETCD_W_DOWN, ETCD_W_COMPACTED };
struct etcd_event {
	bool del;               /* DELETE (kv has key and mod_rev only), else PUT */
	struct etcd_kv kv;
};
struct etcd_wmsg {
	enum etcd_wkind kind;
	int64_t rev;
	const struct etcd_event *ev;    /* valid during the callback */
	size_t n;
	const char *msg;                /* DOWN: why */
};
typedef void (*etcd_watch_fn)(void *arg, const struct etcd_wmsg *m);
struct etcd_watch *etcd_watch(struct etcd *c, const char *prefix, int64_t from, etcd_watch_fn fn,
	void *arg);
void etcd_watch_stop(struct etcd_watch *w);     /* NULL-safe */

/* The store's use of this client (keys, one txn per change, the feed, node leases) is described
 * in store.h, with the etcd back end.
 *
 * Left for later in the client: a keep-alive connection per endpoint if creates per second need
 *   it (each call is one connection now), client TLS (bufferevent_openssl), and leader-aware
 *   retries of a txn after "etcdserver: leader changed" (grpc 14; safe only when the caller can
 *   re-check its compares, which the store's can).
 */

#endif
