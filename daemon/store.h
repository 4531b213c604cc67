/* daemon/store.h - the state store: the durable set of the node's records (listeners; real
 *   servers, domains, rules ... as the API gains them), each a kind, an id and JSON fields.
 * An interface with back ends (the journal now; etcd for fleets later). Every write is
 * durable when it returns 0: after a crash, a record is there if and only if its put returned 0 (or
 * its del failed), so the API may answer success only after the store did.
 * Ownership: st_open_*() returns a store the caller owns; st_close() frees it (NULL-safe). Records
 *   passed in are copied (fields are referenced for the call only). Threads: writes and reads
 *   from one caller at a time, the state machine (state/sm.c) on the control thread; a back end
 *   may run threads of its own (the journal's compactor).
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

#endif
