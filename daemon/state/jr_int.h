/* daemon/state/jr_int.h - the journal's insides, shared by its files (not for other modules).
 *
 * On disk, in the state directory (dir 0750, files 0600):
 *   lock                        flock'ed while a gaapd has the store open
 *   journal-<20-digit seq>.log  a segment: entries seq, seq+1, ... back to back from offset 0,
 *                               preallocated (posix_fallocate) to JR_SEGMENT_SIZE; the rest is zeros
 *   snapshot-<20-digit seq>.jsonl   every record as of entry seq (0: before the first entry)
 *   *.tmp                       a snapshot being written; removed on open (its rename never ran)
 *   listeners.json.v1-migrated  the v1 file, kept after its migration
 * An entry: a 16-byte header, then the payload.
 *   0  magic  C7 4A 52 01 ("\xc7JR\1": not text, so a payload is never mistaken for a header)
 *   4  u32le  payload length (1 .. JR_PAYLOAD_MAX)
 *   8  u32le  CRC32C of the payload
 *   12 u32le  CRC32C of bytes 0..11 (a damaged length cannot send the reader astray)
 *   16 payload: JSON lines, each ending in '\n': {"seq":N,"ops":K}, then K op lines, in order:
 *              a put is the record's snapshot line {"kind":K,"id":I,"fields":{..}}, a delete
 *              {"kind":K,"id":I,"del":true}. (A put's bytes become the record's line as they are:
 *              nothing is encoded twice, on the write or on the replay.)
 * A snapshot: JSON lines. {"gaapd_state":2,"seq":S,"records":N}, then N lines
 *   {"kind":K,"id":I,"fields":{..}} in creation order, then {"end":N,"crc32c":C}, C covering every
 *   byte before that last line. A snapshot is renamed into place only once complete and fsynced:
 *   any damage in one is disk corruption and refuses the open.
 *
 * Crash safety. A change is acknowledged only after its entry is fdatasync'ed, and an entry is
 * valid only when both CRCs match, so a crash can leave at most the unacknowledged entries
 * being written at the tail of the newest segment, torn: they are cut. Sequence numbers are
 * consecutive from the snapshot on, so a lost entry in the middle is a gap and refuses the
 * open. Compaction steps (a crash after any of them loses nothing):
 *   1 the current segment is fdatasync'ed and a new empty segment journal-<S+1>.log is created
 *     (and the directory fsync'ed): later changes go there;
 *   2 snapshot-<S>.jsonl.tmp is written and fsync'ed (a crash leaves a .tmp: removed on open);
 *   3 it is renamed to snapshot-<S>.jsonl and the directory fsync'ed: the snapshot now covers
 *     every entry <= S, which the open skips;
 *   4 segments wholly <= S and older snapshots are deleted, oldest first (a crash midway leaves
 *     files the open skips), then the directory is fsync'ed.
 * Migration of a v1 listeners.json (steps, for the same test hook): 1 snapshot-0.jsonl.tmp
 * written and fsync'ed; 2 renamed into place; 3 listeners.json renamed to
 * listeners.json.v1-migrated. Until step 3 the v1 file is still there and the migration is done
 * again, from scratch, on the next open.
 */
#ifndef GAAPD_STATE_JR_INT_H
#define GAAPD_STATE_JR_INT_H

#include "journal.h"

#include <pthread.h>
#include <stdint.h>

#define JR_HDR 16
#define JR_PAYLOAD_MAX ((size_t)64 << 20)
#define JR_SNAP_VERSION 2
#define JR_V1_FILE "listeners.json"
#define JR_V1_DONE "listeners.json.v1-migrated"

/* ---- records.c: the record set, a hash on (kind, id) plus a list in creation order ---- */
struct jr_rec {
	struct jr_rec *prev, *next;     /* creation order */
	struct jr_rec *chain;           /* hash bucket */
	uint32_t hash;
	char *kind, *id;                /* one allocation: "kind\0id\0" */
	json_t *fields;                 /* owned reference */
	char *line;                     /* the snapshot line, with its '\n'; owned */
	size_t linelen;
};

struct jr_set {
	struct jr_rec **buckets;
	size_t nbuckets, n;
	struct jr_rec *head, *tail;
	size_t bytes;                   /* sum of linelen: the next snapshot's size, roughly */
};

/* A change prepared to be installed without failing: every allocation is made up front, so
 * that once the entry is on disk, memory follows it for sure. */
struct jr_prep {
	enum jr_op_type type;
	struct jr_rec *rec;             /* JR_PUT: a new record (installed, or merged into the old) */
	char *key;                      /* JR_DEL: "kind\0id\0" */
};

struct jr_batch {
	struct jr_prep *ops;
	size_t n;
};

void jr_set_init(struct jr_set *s);
void jr_set_clear(struct jr_set *s);
struct jr_rec *jr_set_find(const struct jr_set *s, const char *kind, const char *id);
/* The op line of a put (fields) or a del (fields NULL), '\n' included, *len bytes; NULL: ENOMEM
 * (or kind, id not strings). */
char *jr_line(const char *kind, const char *id, json_t *fields, size_t *len);
/* A record with its line (a snapshot's or an entry's, '\n' included: copied); fields
 * referenced. NULL: ENOMEM. */
struct jr_rec *jr_rec_with_line(const char *kind, const char *id, json_t *fields, const char *line,
	size_t linelen);
void jr_rec_free(struct jr_rec *r);
/* Adds r (a new key) at the end of the creation order. -1: ENOMEM, r not added. */
int jr_set_add(struct jr_set *s, struct jr_rec *r);
/* Room for n ops, and the hash grown so that installing them cannot fail. 0, or -1 with err
 * (EINVAL for n == 0, ENOMEM). Then each op, checked and prepared: 0, or -1 with err (EINVAL,
 * ENOMEM). A put's line is the record's line, '\n' included; jr_batch_line() takes an entry's op
 * line ({"kind","id","fields"} or {"kind","id","del":true}). */
int jr_batch_init(struct jr_set *s, size_t n, struct jr_batch *b, char *err, size_t errlen);
int jr_batch_put(struct jr_batch *b, const char *kind, const char *id, json_t *fields,
	const char *line, size_t len, const struct jr_opts *o, char *err, size_t errlen);
int jr_batch_del(struct jr_batch *b, const char *kind, const char *id, char *err, size_t errlen);
int jr_batch_line(struct jr_batch *b, const char *line, size_t len, const struct jr_opts *o,
	char *err, size_t errlen);
void jr_batch_install(struct jr_set *s, struct jr_batch *b);     /* empties b */
void jr_batch_free(struct jr_batch *b);
int jr_kind_ok(const char *kind);
int jr_id_ok(const char *id);

/* ---- frame.c: entries and the scan of a segment ---- */
/* Writes the header of payload p (n bytes) into hdr. */
void jr_frame_header(unsigned char hdr[JR_HDR], const void *p, size_t n);
/* The length of the valid entry at off in buf (header and payload), or 0. */
size_t jr_frame_at(const unsigned char *buf, size_t len, size_t off);
enum jr_scan_end { JR_END_CLEAN, JR_END_TORN, JR_END_CORRUPT };
/* Walks the valid entries from offset 0, calling fn(payload, n, offset, arg) for each (fn
 * returning -1 stops: -1). Then says how the segment ends: zeros (CLEAN), bytes with no valid
 * entry after them (TORN), or a valid entry after invalid bytes (CORRUPT). *end: the offset
 * after the last valid entry. */
int jr_scan(const unsigned char *buf, size_t len, size_t *end, enum jr_scan_end *how,
	int (*fn)(const char *payload, size_t n, size_t off, void *arg), void *arg);

/* ---- load.c: reading a directory (jr_open and jr_dump) ---- */
struct jr_seg {
	uint64_t first;                 /* from the name: the seq of its first entry */
	char name[48];
};

struct jr_dir {
	struct jr_seg *segs;            /* sorted by first */
	size_t nsegs;
	uint64_t *snaps;                /* sorted */
	size_t nsnaps;
	int has_v1;
};

/* Lists dir; unlink_tmp: removes snapshot temp files (a crash's leftovers) on the way. */
int jr_dir_list(int dir_fd, struct jr_dir *d, int unlink_tmp, char *err, size_t errlen);
void jr_dir_free(struct jr_dir *d);
void jr_seg_name(char *out, size_t size, uint64_t first);
void jr_snap_name(char *out, size_t size, uint64_t seq, int tmp);

/* The outcome of reading snapshot and segments into a set. */
struct jr_loaded {
	uint64_t snap_seq, last_seq;    /* last_seq: the last valid entry (snap_seq if none) */
	size_t snap_bytes, journal_bytes;
	uint64_t next_in_seg;           /* the seq due next in the last segment (0: no segment) */
	size_t tail;                    /* the last segment's end of valid entries */
	enum jr_scan_end tail_how;      /* how the last segment ends (TORN: to be cut) */
};

/* Loads the newest snapshot and replays the segments after it into s. read_only: a torn tail
 * of the last segment is left alone (jr_dump). 0 or -1 with err naming file and offset. */
int jr_load_dir(const char *dir, int dir_fd, const struct jr_dir *d, const struct jr_opts *o,
	struct jr_set *s, struct jr_loaded *out, char *err, size_t errlen);
/* Reads a whole file (relative to dir_fd); NULL with errno. */
unsigned char *jr_read_file(int dir_fd, const char *name, size_t *len);

/* ---- snap.c: snapshots, compaction, migration ---- */
/* The snapshot text of s as of seq (malloc'ed, *len bytes), or NULL (ENOMEM). */
char *jr_snap_text(const struct jr_set *s, uint64_t seq, size_t *len);
/* Writes text as snapshot-<seq>.jsonl: tmp, fsync, rename, fsync dir; stop_after (tests) stops
 * after step 1 (tmp written) or 2. 0 or -1 (err, errno). */
int jr_snap_write(int dir_fd, const char *dir, uint64_t seq, const char *text, size_t len,
	int stop_after, char *err, size_t errlen);
/* Loads snapshot-<seq>.jsonl into s; *bytes its size. 0 or -1 (err names file and offset). */
int jr_snap_load(int dir_fd, const char *dir, uint64_t seq, const struct jr_opts *o,
	struct jr_set *s, size_t *bytes, char *err, size_t errlen);
/* Migrates dir/listeners.json (v1) into snapshot-0.jsonl. 0 or -1. */
int jr_migrate(int dir_fd, const char *dir, const struct jr_opts *o, char *err, size_t errlen);

/* ---- journal.c ---- */
struct jr {
	char *dir;
	int dir_fd, lock_fd;
	struct jr_opts opts;
	pthread_mutex_t mu;             /* everything below, except where said */
	pthread_cond_t synced_cv;       /* broadcast when a jr_sync() fdatasync ends */
	int syncing;                    /* a jr_sync() is in fdatasync (of a dup of seg_fd, without
	                                 * mu: a segment switch may close seg_fd meanwhile) */
	struct jr_set set;
	int seg_fd;
	uint64_t seg_first;
	size_t seg_size, tail;
	uint64_t last_seq;              /* the last entry appended */
	uint64_t synced_seq;            /* every entry up to it is durable */
	uint64_t snap_seq;
	size_t snap_bytes, journal_bytes;
	int compacting;
	int broken;                     /* an errno: a sync failed, memory may be ahead of the disk */
};

/* Creates journal-<first>.log (0600, preallocated, directory fsync'ed) and makes it the
 * segment appended to, closing the old one (which the caller synced). Under mu. 0 or -1. */
int jr_seg_start(struct jr *j, uint64_t first, size_t min_size, char *err, size_t errlen);
int jr_fsync_dir(int dir_fd);

#endif
