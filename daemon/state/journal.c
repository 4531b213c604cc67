/* daemon/state/journal.c - the journal's open, appends, syncs and walks (journal.h; the format
 * and the crash-safety argument are in jr_int.h). An entry is written with one pwrite at the
 * segment's tail into preallocated space, so fdatasync has no file size to update: on ext4 that
 * is half the cost of an O_APPEND write (bench/README.md).
 */
#include "jr_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dirs(char *path)
{
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0750);
		*p = '/';
		if (rc != 0 && errno != EEXIST)
			return -1;
	}
	return mkdir(path, 0750) == 0 || errno == EEXIST ? 0 : -1;
}

static int open_dir(struct jr *j, char *err, size_t errlen)
{
	if (make_dirs(j->dir) != 0 ||
	    (j->dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (j->lock_fd = openat(j->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "state directory %s: %s", j->dir, strerror(errno));
		return -1;
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "state directory %s: %s", j->dir, errno == EWOULDBLOCK ?
			"in use by another gaapd (lock held)" : strerror(errno));
		return -1;
	}
	return 0;
}

int jr_seg_start(struct jr *j, uint64_t first, size_t min_size, char *err, size_t errlen)
{
	char name[48];
	size_t size = j->opts.segment_size > min_size ? j->opts.segment_size : min_size;
	int fd, e = 0;
	jr_seg_name(name, sizeof(name), first);
	if ((fd = openat(j->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    (e = posix_fallocate(fd, 0, (off_t)size)) != 0 || fsync(fd) != 0 ||
	    jr_fsync_dir(j->dir_fd) != 0) {
		e = e != 0 ? e : errno;
		snprintf(err, errlen, "state %s/%s: %s", j->dir, name, strerror(e));
		if (fd >= 0) {
			close(fd);
			(void)unlinkat(j->dir_fd, name, 0);
		}
		errno = e;
		return -1;
	}
	if (j->seg_fd >= 0)
		close(j->seg_fd);
	j->seg_fd = fd;
	j->seg_first = first;
	j->seg_size = size;
	j->tail = 0;
	return 0;
}

/* Opens the last segment to append after its valid entries, cutting a torn tail first. */
static int open_last(struct jr *j, const struct jr_seg *seg, const struct jr_loaded *l,
	char *err, size_t errlen)
{
	struct stat st;
	int e = 0;
	if ((j->seg_fd = openat(j->dir_fd, seg->name, O_RDWR | O_CLOEXEC)) < 0 ||
	    fstat(j->seg_fd, &st) != 0)
		goto fail;
	j->seg_first = seg->first;
	j->tail = l->tail;
	j->seg_size = (size_t)st.st_size > j->opts.segment_size ? (size_t)st.st_size :
		j->opts.segment_size;
	if (l->tail_how != JR_END_TORN && (size_t)st.st_size >= j->seg_size)
		return 0;
	if (l->tail_how == JR_END_TORN)
		LOG_WARN("state", "%s/%s: offset %zu: cut a torn entry (a crash while it was "
			"written: its change was never acknowledged)", j->dir, seg->name, l->tail);
	/* Zeros from the tail on, the whole size allocated: the tail is as a new segment's. */
	if (ftruncate(j->seg_fd, (off_t)l->tail) != 0 ||
	    (e = posix_fallocate(j->seg_fd, 0, (off_t)j->seg_size)) != 0 || fdatasync(j->seg_fd) != 0)
		goto fail;
	return 0;
fail:
	e = e != 0 ? e : errno;
	snprintf(err, errlen, "state %s/%s: %s", j->dir, seg->name, strerror(e));
	errno = e;
	return -1;
}

/* A v1 listeners.json is migrated when nothing newer is there (or only the snapshot of an
 * interrupted migration); beside a journal it is an operator's mistake: refuse, lose nothing. */
static int maybe_migrate(struct jr *j, struct jr_dir *d, char *err, size_t errlen)
{
	if (!d->has_v1)
		return 0;
	if (d->nsegs > 0 || d->nsnaps > 1 || (d->nsnaps == 1 && d->snaps[0] != 0)) {
		snprintf(err, errlen, "state %s: both a v1 %s and a journal: move %s away (the "
			"journal is newer; gaapd --dump-state shows it)", j->dir, JR_V1_FILE, JR_V1_FILE);
		errno = EEXIST;
		return -1;
	}
	if (jr_migrate(j->dir_fd, j->dir, &j->opts, err, errlen) != 0)
		return -1;
	jr_dir_free(d);
	return jr_dir_list(j->dir_fd, d, 1, err, errlen);
}

static int load(struct jr *j, char *err, size_t errlen)
{
	struct jr_dir d;
	struct jr_loaded l;
	int rc = -1;
	if (jr_dir_list(j->dir_fd, &d, 1, err, errlen) != 0)
		return -1;
	if (maybe_migrate(j, &d, err, errlen) != 0 ||
	    jr_load_dir(j->dir, j->dir_fd, &d, &j->opts, &j->set, &l, err, errlen) != 0)
		goto out;
	j->snap_seq = l.snap_seq;
	j->snap_bytes = l.snap_bytes;
	j->journal_bytes = l.journal_bytes;
	j->last_seq = j->synced_seq = l.last_seq;
	/* No segment, or the last one ends before the snapshot does: entries go to a new one. */
	if (d.nsegs == 0 || l.next_in_seg != l.last_seq + 1)
		rc = jr_seg_start(j, l.last_seq + 1, 0, err, errlen);
	else
		rc = open_last(j, &d.segs[d.nsegs - 1], &l, err, errlen);
out:
	jr_dir_free(&d);
	return rc;
}

struct jr *jr_open(const char *dir, const struct jr_opts *opts, char *err, size_t errlen)
{
	struct jr *j = calloc(1, sizeof(*j));
	if (j == NULL || (j->dir = strdup(dir)) == NULL) {
		free(j);
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (opts != NULL)
		j->opts = *opts;
	if (j->opts.segment_size == 0)
		j->opts.segment_size = JR_SEGMENT_SIZE;
	if (j->opts.compact_min == 0)
		j->opts.compact_min = JR_COMPACT_MIN;
	if (j->opts.pwrite_fn == NULL)
		j->opts.pwrite_fn = pwrite;
	j->dir_fd = j->lock_fd = j->seg_fd = -1;
	jr_set_init(&j->set);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->synced_cv, NULL);
	if (open_dir(j, err, errlen) != 0 || load(j, err, errlen) != 0) {
		int e = errno;
		jr_close(j);
		errno = e;
		return NULL;
	}
	return j;
}

void jr_close(struct jr *j)
{
	if (j == NULL)
		return;
	if (j->seg_fd >= 0)
		close(j->seg_fd);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);      /* releases the flock */
	jr_set_clear(&j->set);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->synced_cv);
	free(j->dir);
	free(j);
}

/* ---- appends ---- */

/* A change on its way: its entry (header + payload) and its prepared records. */
struct pending {
	unsigned char *buf;
	size_t len;
	struct jr_batch batch;
};

/* One op into the batch; its line (malloc'ed) in *line. fields are copied: the caller may
 * change its object afterwards without changing the record. */
static int prepare_op(struct jr *j, const struct jr_op *op, struct jr_batch *b, char **line,
	size_t *len, char *err, size_t errlen)
{
	json_t *copy = op->type == JR_PUT && json_is_object(op->fields) ?
		json_deep_copy(op->fields) : NULL;
	int rc = -1;
	if (op->kind == NULL || op->id == NULL || (op->type == JR_PUT && copy == NULL) ||
	    (*line = jr_line(op->kind, op->id, copy, len)) == NULL) {
		snprintf(err, errlen, "state: bad op (kind, id or fields missing or not UTF-8)");
		errno = EINVAL;
	} else if (op->type == JR_PUT) {
		rc = jr_batch_put(b, op->kind, op->id, copy, *line, *len, &j->opts, err, errlen);
	} else {
		rc = jr_batch_del(b, op->kind, op->id, err, errlen);
	}
	json_decref(copy);
	return rc;
}

/* The entry for ops as change seq, checked and prepared against the current set. */
static int prepare(struct jr *j, const struct jr_op *ops, size_t n, uint64_t seq,
	struct pending *p, char *err, size_t errlen)
{
	char head[64], **lines = calloc(n + 1, sizeof(*lines));
	size_t *lens = calloc(n + 1, sizeof(*lens));
	size_t total = (size_t)snprintf(head, sizeof(head), "{\"seq\":%" PRIu64 ",\"ops\":%zu}\n",
		seq, n), i;
	int rc = -1;
	if (lines == NULL || lens == NULL) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		goto out;
	}
	if (jr_batch_init(&j->set, n, &p->batch, err, errlen) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (prepare_op(j, &ops[i], &p->batch, &lines[i], &lens[i], err, errlen) != 0)
			goto out;
		total += lens[i];
	}
	if (total > JR_PAYLOAD_MAX || (p->buf = malloc(JR_HDR + total)) == NULL) {
		snprintf(err, errlen, "state: a change of %zu bytes: %s", total,
			total > JR_PAYLOAD_MAX ? "too large" : "out of memory");
		errno = total > JR_PAYLOAD_MAX ? EFBIG : ENOMEM;
		goto out;
	}
	char *q = stpcpy((char *)p->buf + JR_HDR, head);
	for (i = 0; i < n; i++)
		q = mempcpy(q, lines[i], lens[i]);
	jr_frame_header(p->buf, p->buf + JR_HDR, total);
	p->len = JR_HDR + total;
	rc = 0;
out:
	for (i = 0; lines != NULL && i < n; i++)
		free(lines[i]);
	free(lines);
	free(lens);
	return rc;
}

static void pending_free(struct pending *p)
{
	free(p->buf);
	p->buf = NULL;
	jr_batch_free(&p->batch);
}

/* Zeros over n bytes written at the tail: a change that failed leaves no entry behind. */
static int zero_back(struct jr *j, size_t n)
{
	static const unsigned char zeros[4096];
	for (size_t done = 0; done < n; ) {
		size_t k = n - done < sizeof(zeros) ? n - done : sizeof(zeros);
		ssize_t w = pwrite(j->seg_fd, zeros, k, (off_t)(j->tail + done));
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* Switches to a new segment when the entry does not fit: the old one is synced first, so that
 * jr_sync() never has to look back at it. */
static int make_room(struct jr *j, size_t len, char *err, size_t errlen)
{
	if (j->tail + len <= j->seg_size)
		return 0;
	if (fdatasync(j->seg_fd) != 0) {
		int e = errno;
		snprintf(err, errlen, "state %s: fdatasync: %s", j->dir, strerror(e));
		if (j->synced_seq < j->last_seq)
			j->broken = e;
		errno = e;
		return -1;
	}
	j->synced_seq = j->last_seq;
	return jr_seg_start(j, j->last_seq + 1, len, err, errlen);
}

/* The segment unlinked (the state directory removed): writing on would lose every change. */
static int seg_gone(struct jr *j, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(j->seg_fd, &st) == 0 && st.st_nlink > 0)
		return 0;
	snprintf(err, errlen, "state %s: the journal segment was removed", j->dir);
	errno = ENOENT;
	return -1;
}

static int write_entry(struct jr *j, const struct pending *p, char *err, size_t errlen)
{
	size_t done = 0;
	while (done < p->len) {
		ssize_t w = j->opts.pwrite_fn(j->seg_fd, p->buf + done, p->len - done,
			(off_t)(j->tail + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;
			snprintf(err, errlen, "state %s: journal write: %s", j->dir, strerror(e));
			(void)zero_back(j, done);       /* failing too: a torn tail, cut on open */
			errno = e;
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

/* Under mu: prepares and writes the next entry, not yet durable, memory not yet changed. */
static int put_entry(struct jr *j, const struct jr_op *ops, size_t n, struct pending *p,
	char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (j->broken) {
		snprintf(err, errlen, "state %s: a journal sync failed earlier (%s): restart gaapd",
			j->dir, strerror(j->broken));
		errno = EIO;
		return -1;
	}
	if (seg_gone(j, err, errlen) != 0 ||
	    prepare(j, ops, n, j->last_seq + 1, p, err, errlen) != 0 ||
	    make_room(j, p->len, err, errlen) != 0 || write_entry(j, p, err, errlen) != 0) {
		int e = errno;
		pending_free(p);
		errno = e;
		return -1;
	}
	return 0;
}

/* Under mu, once the entry is written: memory follows it (cannot fail). */
static uint64_t land(struct jr *j, struct pending *p)
{
	j->tail += p->len;
	j->journal_bytes += p->len;
	j->last_seq++;
	jr_batch_install(&j->set, &p->batch);
	pending_free(p);
	return j->last_seq;
}

int jr_append(struct jr *j, const struct jr_op *ops, size_t n, uint64_t *seq,
	char *err, size_t errlen)
{
	struct pending p;
	pthread_mutex_lock(&j->mu);
	int rc = put_entry(j, ops, n, &p, err, errlen);
	if (rc == 0)
		*seq = land(j, &p);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* ---- durability ---- */

/* Under mu, no sync running: one fdatasync covering every entry appended so far. mu is let go
 * meanwhile, so appends go on; a segment switch syncs the old segment itself. */
static void sync_round(struct jr *j)
{
	uint64_t target = j->last_seq;
	int fd = dup(j->seg_fd), e;
	if (fd < 0) {                   /* out of descriptors: sync under mu, appends wait */
		e = fdatasync(j->seg_fd) != 0 ? errno : 0;
	} else {
		j->syncing = 1;
		pthread_mutex_unlock(&j->mu);
		e = fdatasync(fd) != 0 ? errno : 0;
		close(fd);
		pthread_mutex_lock(&j->mu);
		j->syncing = 0;
	}
	if (e != 0)
		j->broken = e;          /* entries in memory may be missing on disk */
	else if (j->synced_seq < target)
		j->synced_seq = target;
	pthread_cond_broadcast(&j->synced_cv);
}

/* Group commit as leader and followers: the first caller to find no sync running syncs for
 * everyone appended by then; the others wait for it and return at once if it covered them. */
int jr_sync(struct jr *j, uint64_t seq, char *err, size_t errlen)
{
	int e;
	pthread_mutex_lock(&j->mu);
	if (seq > j->last_seq)
		seq = j->last_seq;      /* nothing later to wait for */
	while (j->synced_seq < seq && !j->broken) {
		if (j->syncing)
			pthread_cond_wait(&j->synced_cv, &j->mu);
		else
			sync_round(j);
	}
	e = j->synced_seq < seq ? j->broken : 0;
	pthread_mutex_unlock(&j->mu);
	if (e != 0) {
		snprintf(err, errlen, "state %s: journal sync: %s", j->dir, strerror(e));
		errno = e;
		return -1;
	}
	return 0;
}

/* A commit's fdatasync failed: take the entry back (zeros, synced) so that the answer "failed"
 * stays true after a restart; if even that fails, no later write is trusted. */
static void take_back(struct jr *j, const struct pending *p)
{
	if (zero_back(j, p->len) != 0 || fdatasync(j->seg_fd) != 0 || j->synced_seq < j->last_seq)
		j->broken = EIO;
}

int jr_commit(struct jr *j, const struct jr_op *ops, size_t n, char *err, size_t errlen)
{
	struct pending p;
	int rc, e;
	pthread_mutex_lock(&j->mu);
	if ((rc = put_entry(j, ops, n, &p, err, errlen)) == 0 && fdatasync(j->seg_fd) != 0) {
		e = errno;
		snprintf(err, errlen, "state %s: journal sync: %s", j->dir, strerror(e));
		take_back(j, &p);
		pending_free(&p);
		errno = e;
		rc = -1;
	}
	if (rc == 0)
		j->synced_seq = land(j, &p);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* ---- reading ---- */

int jr_each(struct jr *j, const char *kind,
	int (*fn)(const char *kind, const char *id, json_t *fields, void *arg), void *arg)
{
	int rc = 0;
	pthread_mutex_lock(&j->mu);
	for (struct jr_rec *r = j->set.head; r != NULL && rc == 0; r = r->next)
		if (kind == NULL || strcmp(r->kind, kind) == 0)
			rc = fn(r->kind, r->id, r->fields, arg);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

json_t *jr_get(struct jr *j, const char *kind, const char *id)
{
	pthread_mutex_lock(&j->mu);
	struct jr_rec *r = jr_set_find(&j->set, kind, id);
	pthread_mutex_unlock(&j->mu);
	return r != NULL ? r->fields : NULL;
}

size_t jr_count(struct jr *j)
{
	pthread_mutex_lock(&j->mu);
	size_t n = j->set.n;
	pthread_mutex_unlock(&j->mu);
	return n;
}
