/* daemon/store.h - the state store: the durable list of listener records.
 * An interface with back ends (the journal now; etcd for fleets later). Every write is
 * durable when it returns 0: after a crash, a record is there if and only if its put returned 0 (or
 * its del failed), so the API may answer success only after the store did.
 * Ownership: st_open_*() returns a store the caller owns; st_close() frees it (NULL-safe). Records
 *   passed in are copied. Threads: one caller at a time (the listener table's lock serialises).
 */
#ifndef GAAPD_STORE_H
#define GAAPD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ST_ID_MAX 64
#define ST_NAME_MAX 128         /* bytes of UTF-8, with the NUL; names are <= 30 characters */

struct st_listener {
	char id[ST_ID_MAX];         /* listener-xxxxxxxx */
	char name[ST_NAME_MAX];
	char protocol[8];           /* HTTP */
	char proxy_id[ST_ID_MAX];
	char group_id[ST_ID_MAX];   /* "" unless created through a group */
	unsigned port;
	int64_t create_time;        /* Unix seconds */
};

struct st_ops;
struct st {
	const struct st_ops *ops;
};

struct st_ops {
	int (*apply)(struct st *s, const struct st_listener *puts, size_t nputs,
		const char *const *dels, size_t ndels, char *err, size_t errlen);
	int (*load)(struct st *s, int (*fn)(const struct st_listener *rec, void *arg), void *arg,
		char *err, size_t errlen);
	void (*close)(struct st *s);
	/* Optional, both or neither (group commit): apply without waiting for the disk, giving the
	 * change's sequence number; sync: every change up to seq durable. */
	int (*append)(struct st *s, const struct st_listener *puts, size_t nputs,
		const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen);
	int (*sync)(struct st *s, uint64_t seq, char *err, size_t errlen);
};

/* Writes return 0, or -1 with err filled and errno saying why (ENOSPC, EROFS, ENOENT: the store is
 * unavailable; anything else is unexpected). The store is unchanged after a failed write. */

/* Insert or replace the record with rec->id. */
int st_put(struct st *s, const struct st_listener *rec, char *err, size_t errlen);
/* Remove the record; removing a missing id succeeds. */
int st_del(struct st *s, const char *id, char *err, size_t errlen);
/* Remove dels, then insert or replace puts, as one change: after a crash either all of it is
 * there or none. */
int st_apply(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, char *err, size_t errlen);
/* Group commit: st_apply() without waiting for the disk. *seq numbers the change (0: it is
 * durable already, the back end has no appends); it is durable once st_sync(seq) returned 0.
 * A failed st_sync() leaves the store refusing every later write: the caller must stop. */
int st_append(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen);
int st_sync(struct st *s, uint64_t seq, char *err, size_t errlen);
/* Call fn for every record, in creation order; fn returning -1 stops with -1. */
int st_load(struct st *s, int (*fn)(const struct st_listener *rec, void *arg), void *arg,
	char *err, size_t errlen);
void st_close(struct st *s);

/* The journal back end (daemon/state/journal.h): each change one checksummed entry, fdatasync'ed
 * before it returns, compacted into snapshots by a thread of its own; listeners are records of
 * kind "listener". Migrates a v1 dir/listeners.json (the file back end's, before the journal) on
 * first open; dir/lock is held (flock) while the store is open, so two daemons never share a
 * state directory. Creates dir (0750) when missing. compact_min: the journal's compaction
 * threshold floor in bytes (node.state_compact_bytes; 0 = JR_COMPACT_MIN). */
struct st *st_open_journal(const char *dir, size_t compact_min, char *err, size_t errlen);

#endif
