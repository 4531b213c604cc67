/* daemon/state/journal.h - the journal: a durable store of typed records (kind, id, fields).
 * A change is a list of puts and deletes that lands whole or not at all. Each change is one
 * checksummed entry appended to a preallocated segment (journal-<seq>.log) and made durable with
 * fdatasync; jr_compact() writes the whole record set as a snapshot (snapshot-<seq>.jsonl) and
 * drops the segments it covers. On open: the newest snapshot, then the entries after it. A torn
 * entry at the end of the last segment (a crash mid-write: its change was never acknowledged) is
 * cut off with a warning; any other damage refuses the open, naming the file and byte offset.
 * The on-disk format and the crash-safety argument: daemon/state/jr_int.h.
 *
 * Ownership: jr_open() returns a journal the caller owns; jr_close() frees it (NULL-safe) and
 *   writes nothing (closing is, for the files, the same as a crash). Ops passed in are copied
 *   (fields deep-copied: the caller keeps its own). Fields that jr_each() and jr_get() give are
 *   the journal's, borrowed: not to be changed.
 * Threads: every call but jr_close() may come from any thread, concurrently: they take the
 *   journal's lock (jr_sync() lets go of it during its fdatasync, so appends go on). jr_each()
 *   calls back under that lock: the callback must not call the journal.
 *   jr_compact() holds the lock only while it copies the record set and switches segments; it
 *   writes the snapshot and deletes old files without it (appends go on meanwhile).
 *   jr_close() must not run concurrently with any other call.
 */
#ifndef GAAPD_STATE_JOURNAL_H
#define GAAPD_STATE_JOURNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define JR_KIND_MAX 32          /* kinds: [a-z0-9_] , 1..31 bytes */
#define JR_ID_MAX 256           /* ids: 1..255 bytes, no NUL */

enum jr_op_type { JR_PUT, JR_DEL };

struct jr_op {
	enum jr_op_type type;
	const char *kind;
	const char *id;
	json_t *fields;             /* JR_PUT: a JSON object (referenced, not stolen); JR_DEL: NULL */
};

/* Called for every record read (snapshot, journal, migration) and every put appended: -1 (err
 * filled) refuses it: the open fails, or the append fails with EINVAL. Where a store layer checks
 * that fields are what its kind needs. */
typedef int (*jr_check_fn)(const char *kind, const char *id, json_t *fields, void *arg,
	char *err, size_t errlen);

struct jr_opts {
	size_t segment_size;        /* bytes preallocated per segment; 0 = JR_SEGMENT_SIZE */
	size_t compact_min;         /* jr_compact_due() threshold floor; 0 = JR_COMPACT_MIN */
	jr_check_fn check;
	void *check_arg;
	/* Tests only. Simulated crashes: jr_compact() (or jr_open()'s migration) stops after step k
	 * (jr_int.h lists the steps) and fails with ECANCELED, leaving the files as a crash would. */
	int stop_compact_after, stop_migrate_after;
	/* Tests only: replaces pwrite(2) for journal entries (to inject short writes and ENOSPC). */
	ssize_t (*pwrite_fn)(int fd, const void *buf, size_t n, off_t off);
};

/* Segments: 4 MiB preallocated. Switching to a new one costs ~1 ms (create, posix_fallocate,
 * fsync of it and of the directory) whatever its size, while an open reads the last one whole
 * (16 MiB of zeros: ~20 ms): small, but with room for ~15,000 changes between switches. A
 * compaction is due once the entries since the snapshot outgrow max(4 MiB, half the snapshot):
 * what an open must parse stays within 1.5 times the snapshot (parsing, not I/O, is what a
 * restore costs: ~40 MB/s with jansson; bench/README.md), which keeps 100,000 records under a
 * second, and a compaction (~50 ms per 100,000 records, off the API's path) comes at most once
 * per half a snapshot of changes. */
#define JR_SEGMENT_SIZE ((size_t)4 << 20)
#define JR_COMPACT_MIN ((size_t)4 << 20)

struct jr;

/* Opens (creating dir 0750 if missing) and loads the store in dir, holding dir/lock (flock) until
 * jr_close(): two daemons never share a directory. Migrates a v1 dir/listeners.json (records of
 * kind "listener") when the directory has no journal yet. opts may be NULL. NULL on failure,
 * with err filled and errno set. */
struct jr *jr_open(const char *dir, const struct jr_opts *opts, char *err, size_t errlen);
void jr_close(struct jr *j);

/* One change, durable when 0 is returned. -1: err filled, errno says why (ENOSPC, EDQUOT, EROFS,
 * EIO, ENOENT when the directory or segment was removed, EFBIG past RLIMIT_FSIZE, EINVAL for a bad
 * op, ENOMEM); the records and the files are as they were. One exception: when fdatasync fails
 * and even taking the written entry back (zeros, fdatasync) fails, the disk may or may not have
 * it; the journal then refuses every later write (EIO) until it is reopened. */
int jr_commit(struct jr *j, const struct jr_op *ops, size_t n, char *err, size_t errlen);
/* Group commit, in two halves: jr_append() writes the change and applies it to the record set
 * (visible to jr_each() at once) but does not make it durable; *seq is its sequence number.
 * jr_sync() returns once every change up to seq (at most the last appended) is durable: one
 * fdatasync covers every change appended before it starts; callers arriving while it runs wait
 * for it, and the first of them still uncovered starts the next (leader and followers). A failed jr_append()
 * changes nothing (as jr_commit()). A failed jr_sync() means changes already applied in memory
 * may not be on disk: the journal refuses every later write (errno EIO) until it is reopened. */
int jr_append(struct jr *j, const struct jr_op *ops, size_t n, uint64_t *seq,
	char *err, size_t errlen);
int jr_sync(struct jr *j, uint64_t seq, char *err, size_t errlen);

/* Calls fn for every record of kind (NULL: every kind), in creation order (a put that replaces
 * a record keeps its place); fn returning nonzero stops the walk and is returned. */
int jr_each(struct jr *j, const char *kind,
	int (*fn)(const char *kind, const char *id, json_t *fields, void *arg), void *arg);
/* The record's fields (borrowed, valid until the next change of that record: the caller
 * serialises them), or NULL. */
json_t *jr_get(struct jr *j, const char *kind, const char *id);
size_t jr_count(struct jr *j);

/* Whether the journal since the last snapshot outgrew max(compact_min, half the snapshot): then
 * jr_compact() is due. Compaction is the caller's to schedule, off the request path. */
int jr_compact_due(struct jr *j);
/* Writes a snapshot of every change appended so far, starts a new segment and deletes what the
 * snapshot covers. 0, or -1 (err, errno): the store stays usable and no record is lost. */
int jr_compact(struct jr *j, char *err, size_t errlen);

/* Prints the store in dir as one JSON document, without the lock and without writing anything:
 * safe while a gaapd runs on dir (an entry being written at the tail is left out). 0 or -1. */
int jr_dump(const char *dir, FILE *out, char *err, size_t errlen);

#endif
