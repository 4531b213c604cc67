/* daemon/store.h - the state store: the durable set of the node's records (listeners; real
 *   servers, domains, rules ... as the API gains them), each a kind, an id and JSON fields.
 * An interface with two back ends: the journal (one node) and etcd (a fleet). Every write is
 * durable when it returns 0: after a crash, a record is there if and only if its put returned 0 (or
 * its del failed), so the API may answer success only after the store did.
 * Ownership: st_open_*() returns a store the caller owns; st_close() frees it (NULL-safe). Records
 *   passed in are copied (fields are referenced for the call only). Threads: writes and reads
 *   from one caller at a time, the state machine (state/sm.c) on the control thread; a back end
 *   may run threads of its own (the journal's compactor, the etcd back end's feed).
 */
#ifndef GAAPD_STORE_H
#define GAAPD_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ST_ID_MAX 64
#define ST_NAME_MAX 128         /* bytes of UTF-8, with the NUL; names are <= 30 characters */

/* An HTTPS listener's own TLS members (l7-and-https.md §6, §7.7): certificates by id (the
 * "certificate" records, state/certs.h), kept in the listener's record so that create, delete and
 * restore stay one record. */
#define ST_CLIENT_CAS_MAX 10    /* client CA certificates per listener or domain (§1.3) */
struct st_https {
	char cert[ST_ID_MAX];       /* CertificateId: its server certificate (type 2) */
	char forward[8];            /* ForwardProtocol towards real servers: HTTP or HTTPS */
	int auth_type;              /* AuthType: 0 one-way, 1 mutual */
	char cas[ST_CLIENT_CAS_MAX][ST_ID_MAX];     /* AuthType 1: its client CAs (type 1) */
	size_t ncas;                /* 0 with AuthType 0, at least 1 with AuthType 1 */
	unsigned versions;          /* TLSSupportVersion as TLS_V* bits (tls/tls.h), never 0 */
	int ciphers;                /* TLSCiphers, enum tls_ciphers */
};

struct st_listener {
	char id[ST_ID_MAX];         /* listener-xxxxxxxx */
	char name[ST_NAME_MAX];
	char protocol[8];           /* HTTP or HTTPS */
	char proxy_id[ST_ID_MAX];
	char group_id[ST_ID_MAX];   /* "" unless created through a group */
	unsigned port;
	int64_t create_time;        /* Unix seconds */
	struct st_https https;      /* Protocol HTTPS only (zero otherwise) */
};

/* A record: a kind ("listener"; real servers, domains, rules ... as they come), an id unique
 * within its kind, and its fields, a JSON object whose shape the kind's schema (store.c) checks.
 * One change is a list of these ops, applied whole or not at all. */
enum st_op_type { ST_PUT, ST_DEL };

struct st_op {
	enum st_op_type type;
	const char *kind;
	const char *id;
	json_t *fields;             /* ST_PUT: an object (referenced, not stolen); ST_DEL: NULL */
};

typedef int (*st_each_fn)(const char *kind, const char *id, json_t *fields, void *arg);

struct st_ops;
struct st_conflict;
struct st {
	const struct st_ops *ops;
};

struct st_ops {
	/* seq NULL: durable before it returns. Else written, *seq numbering the change, durable
	 * once sync(seq) returned 0 (group commit). */
	int (*write)(struct st *s, const struct st_op *ops, size_t n, uint64_t *seq, char *err,
		size_t errlen);
	int (*sync)(struct st *s, uint64_t seq, char *err, size_t errlen);
	/* Every record of kind (NULL: all), in creation order; fn's nonzero stops and is returned. */
	int (*each)(struct st *s, const char *kind, st_each_fn fn, void *arg);
	void (*close)(struct st *s);
	/* NULL for a node's own store: it never refuses a change that sm allowed. */
	int (*conflict)(struct st *s, struct st_conflict *out);
};

/* Writes return 0, or -1 with err filled and errno saying why (ENOSPC, EROFS, ENOENT: the store is
 * unavailable; EINVAL: a record its kind's schema refuses; anything else is unexpected). The store
 * is unchanged after a failed write. */

/* Records of any kind. st_write(): the change, durable before it returns. st_append(): the same
 * without waiting for the disk, *seq numbering it; it is durable once st_sync(seq) returned 0,
 * and one sync covers every change appended before it. A failed st_sync() leaves the store
 * refusing every later write: the caller must stop. */
int st_write(struct st *s, const struct st_op *ops, size_t n, char *err, size_t errlen);
int st_append(struct st *s, const struct st_op *ops, size_t n, uint64_t *seq, char *err,
	size_t errlen);
int st_sync(struct st *s, uint64_t seq, char *err, size_t errlen);
int st_each(struct st *s, const char *kind, st_each_fn fn, void *arg);
void st_close(struct st *s);

/* A fleet's store refuses what another node's change made wrong since this node decided (sm
 * decides on its own view, which may lag the fleet's by a watch event): a write that fails with
 * errno EADDRINUSE claimed a port that another listener holds on proxy; with EUSERS it would
 * take proxy past its max_listeners. st_conflict() says which proxy and port: 0 after such a
 * failure, -1 otherwise (and always for the journal). */
struct st_conflict {
	char proxy[ST_ID_MAX];
	unsigned port;
};
int st_conflict(struct st *s, struct st_conflict *out);

/* The kinds' schemas: 0 when fields are what kind needs under id, else -1 with err. Kinds
 * without a schema yet are taken as they are. The back ends check every record they read. */
int st_check(const char *kind, const char *id, json_t *fields, char *err, size_t errlen);

/* The listener kind ("listener"): fields are the JSON object the v1 file held per listener
 * (ListenerId, ListenerName, Protocol, ProxyId, GroupId, Port, CreateTime), so that a v1
 * listeners.json migrates as it is; an HTTPS listener's also CertificateId, ForwardProtocol,
 * AuthType, ClientCertificateIds ([string], [] with AuthType 0), TLSSupportVersion ([names]),
 * TLSCiphers (a package's name). */
#define ST_LISTENER "listener"
json_t *st_listener_json(const struct st_listener *rec);        /* NULL on ENOMEM */
int st_listener_from(json_t *fields, struct st_listener *rec);  /* 0, or -1: not a listener */

/* Listener shorthands over st_write(): insert or replace rec; remove id (a missing id
 * succeeds); dels then puts as one change. */
int st_put(struct st *s, const struct st_listener *rec, char *err, size_t errlen);
int st_del(struct st *s, const char *id, char *err, size_t errlen);
int st_apply(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, char *err, size_t errlen);
/* st_apply() as st_append(): durable at st_sync(*seq). */
int st_append_listeners(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen);
/* Every listener, in creation order; fn returning -1 stops with -1. */
int st_load(struct st *s, int (*fn)(const struct st_listener *rec, void *arg), void *arg,
	char *err, size_t errlen);

/* The journal back end (daemon/state/journal.h): each change one checksummed entry, fdatasync'ed
 * before it returns, compacted into snapshots by a thread of its own; listeners are records of
 * kind "listener". Migrates a v1 dir/listeners.json (the file back end's, before the journal) on
 * first open; dir/lock is held (flock) while the store is open, so two daemons never share a
 * state directory. Creates dir (0750) when missing. compact_min: the journal's compaction
 * threshold floor in bytes (node.state_compact_bytes; 0 = JR_COMPACT_MIN). */
struct st *st_open_journal(const char *dir, size_t compact_min, char *err, size_t errlen);

/* ---- The etcd back end (daemon/store_etcd*.c): every node of a fleet shares its records ----
 *
 * Keys, all under prefix P; values JSON unless said:
 *   P/rec/<kind>/<id>          one record, its fields (what the journal holds)
 *   P/port/<proxy>/<port>      the listener id holding the port on that proxy (text)
 *   P/count/<proxy>            how many listeners occupy that proxy (decimal text)
 *   P/node/<name>              a live node, under its lease: {"Proxies": [ids], "Started": s}
 *   P/status/<listener>/<node> under the node's lease: "bound", or why not (text)
 * A write is one etcd transaction. Beside the records it puts or deletes, it claims or frees
 * the port keys of every listener it creates or deletes, on every proxy the listener occupies
 * (places()), and moves those proxies' counters, with compares: a claimed port key must not
 * exist (else EADDRINUSE), a counter must be unchanged since read and stay within the proxy's
 * max_listeners (else, re-read, EUSERS), a new record's key must not exist, a changed or deleted
 * one must be at the revision this node last saw. A compare lost to a concurrent change of a
 * counter is retried (bounded) with the value the failed transaction read back; one lost on a
 * record the node had a stale view of fails with EAGAIN (the caller's view catches up from the
 * watch). A write whose outcome is unknown (the connection broke) is settled by reading its
 * keys back. etcd unreachable, or not yet caught up since the start: ENOTCONN at once. Durable
 * in etcd when it returns 0 (seq is left 0: nothing to sync).
 *
 * The local cache: the journal store in cache_dir holds what this node serves (every write and
 * every change applied from the feed), so that a node starts and serves with etcd down. each()
 * reads it.
 *
 * The feed: a thread of the back end watches P from the revision it caught up to. At start and
 * after a compaction it ranges P and diffs that against what it has (the cache, then its view
 * by mod_revision), so only differences are applied. Changes of other nodes become batches of
 * st_ops (puts of whole records, dels), one per etcd revision, in revision order; this node's
 * own writes are skipped (it applied them when it wrote). wake(arg) is called on the back end's
 * thread when a batch is ready; the owner then calls st_etcd_drain() on the control thread,
 * which writes each batch to the cache and hands it to apply (sm_apply_records()).
 *
 * Nodes: at start (and whenever etcd says the lease was lost) the node registers P/node/<node>
 * under a lease it keeps alive; its status keys live under the same lease, so a dead node drops
 * out of every ListenerStatus by itself.
 */
typedef size_t (*st_places_fn)(void *arg, const char *proxy_id, const char *group_id,
	char (*proxies)[ST_ID_MAX], unsigned *max_listeners, size_t room);
struct st_etcd_opts {
	const char *const *endpoints;   /* http://host:port */
	size_t nendpoints;
	unsigned dial_timeout_ms;
	const char *prefix;             /* without a trailing slash */
	const char *node;               /* this node's name, unique in the fleet */
	const char *const *node_proxies;    /* the proxies this node serves (its configuration's) */
	size_t nnode_proxies;
	const char *cache_dir;          /* the local cache (journal); node.state_dir */
	size_t compact_min;             /* its compaction floor, as st_open_journal() */
	/* The proxies a listener (its ProxyId, or its GroupId when not "") occupies, into
	 * proxies[i] with their max_listeners[i], i < room: how many. Called on the writing thread
	 * with the configuration of the moment. */
	st_places_fn places;
	void *places_arg;
	void (*wake)(void *arg);        /* a batch is ready: call st_etcd_drain() (any thread) */
	void *wake_arg;
};
/* NULL with err when the cache cannot be opened (etcd being down is not an error: the store
 * starts disconnected and connects by itself). */
struct st *st_open_etcd(const struct st_etcd_opts *o, char *err, size_t errlen);

/* On the control thread: every ready batch, in order, written to the cache, then apply(arg,
 * ops, n) (its nonzero is logged; the batch stays applied to the cache). How many batches. */
size_t st_etcd_drain(struct st *s, int (*apply)(void *arg, const struct st_op *ops, size_t n,
	char *err, size_t errlen), void *arg);
/* Connected and caught up: changes can be written (ENOTCONN otherwise). */
int st_etcd_ready(struct st *s);
/* This node's status of a listener: NULL or "" when it serves it ("bound"), else why not.
 * Written under the node's lease by the back end's thread (asynchronously, latest wins); a
 * listener deleted from the store has its status keys removed by each node. */
void st_etcd_report(struct st *s, const char *listener, const char *why_not);
/* ListenerStatus across the fleet: 1 while a live node serving proxy has not reported the
 * listener bound (why names the node and its reason, or "not reported yet"), else 0. */
int st_etcd_listener_status(struct st *s, const char *listener, const char *proxy, char *why,
	size_t whylen);
/* For /metrics and logs. */
struct st_etcd_counts {
	uint64_t txns, txn_retries, conflicts;   /* writes; counter compares lost and retried;
	                                          * EADDRINUSE/EUSERS answers */
	uint64_t batches_applied, resyncs;       /* feed batches drained; full resyncs */
	int64_t revision;                        /* the last revision the feed delivered */
	int connected;                           /* watch up and caught up */
	size_t live_nodes;
};
void st_etcd_counts(struct st *s, struct st_etcd_counts *out);

#endif
