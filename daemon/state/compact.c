/* daemon/state/compact.c - compaction: a snapshot of every change so far, a new segment, and
 * the files the snapshot covers deleted. The steps and why a crash after any of them loses
 * nothing: jr_int.h. The lock is held only while the record set is copied and the segment
 * switched; the snapshot is written and old files deleted while appends go on.
 */
#include "jr_int.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int jr_compact_due(struct jr *j)
{
	pthread_mutex_lock(&j->mu);
	size_t half = j->snap_bytes / 2;
	size_t floor = j->opts.compact_min > half ? j->opts.compact_min : half;
	int due = !j->compacting && !j->broken && j->journal_bytes >= floor;
	pthread_mutex_unlock(&j->mu);
	return due;
}

static int stopped(char *err, size_t errlen)
{
	snprintf(err, errlen, "stopped by a test hook");
	errno = ECANCELED;
	return -1;
}

/* Step 1, under mu: the snapshot text as of the last entry (*seq), and a new segment after it.
 * The old segment is synced first: a snapshot never holds a change that is not durable yet. */
static char *begin(struct jr *j, uint64_t *seq, size_t *len, char *err, size_t errlen)
{
	char *text;
	int e;
	*seq = j->last_seq;
	if ((text = jr_snap_text(&j->set, *seq, len)) == NULL) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (j->tail == 0 && j->seg_first == *seq + 1)
		return text;            /* the current segment is already the one after the snapshot */
	if (fdatasync(j->seg_fd) != 0) {
		e = errno;
		snprintf(err, errlen, "state %s: fdatasync: %s", j->dir, strerror(e));
		if (j->synced_seq < j->last_seq)
			j->broken = e;
		goto fail;
	}
	j->synced_seq = j->last_seq;
	if (jr_seg_start(j, *seq + 1, 0, err, errlen) == 0)
		return text;
	e = errno;
fail:
	free(text);
	errno = e;
	return NULL;
}

/* Step 4: segments wholly covered by snapshot seq and older snapshots, oldest first. */
static int drop_old(struct jr *j, uint64_t seq, char *err, size_t errlen)
{
	struct jr_dir d;
	char name[64];
	int stop = j->opts.stop_compact_after == 4;
	if (jr_dir_list(j->dir_fd, &d, 0, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < d.nsegs && d.segs[i].first <= seq; i++) {
		(void)unlinkat(j->dir_fd, d.segs[i].name, 0);
		if (stop)
			goto out;
	}
	for (size_t i = 0; i < d.nsnaps && d.snaps[i] < seq; i++) {
		jr_snap_name(name, sizeof(name), d.snaps[i], 0);
		(void)unlinkat(j->dir_fd, name, 0);
	}
	(void)jr_fsync_dir(j->dir_fd);  /* a deletion undone by a crash is redone next time */
out:
	jr_dir_free(&d);
	return stop ? stopped(err, errlen) : 0;
}

/* Under mu, after step 3 (rc 0) or a failure before it. */
static void snapped(struct jr *j, int rc, uint64_t seq, size_t len, size_t covered)
{
	if (rc == 0) {
		j->snap_seq = seq;
		j->snap_bytes = len;
	} else {
		j->journal_bytes += covered;    /* still to be replayed after the old snapshot */
	}
}

int jr_compact(struct jr *j, char *err, size_t errlen)
{
	uint64_t seq = 0;
	size_t len = 0, covered = 0;
	char *text = NULL;
	int stop = j->opts.stop_compact_after, rc = -1;
	pthread_mutex_lock(&j->mu);
	if (j->compacting || j->broken || j->last_seq == j->snap_seq) {
		rc = j->broken ? -1 : 0;  /* one at a time; or nothing new since the last snapshot */
		errno = EIO;
		snprintf(err, errlen, "state %s: a journal sync failed earlier", j->dir);
		pthread_mutex_unlock(&j->mu);
		return rc;
	}
	if ((text = begin(j, &seq, &len, err, errlen)) != NULL) {
		j->compacting = 1;
		covered = j->journal_bytes;
		j->journal_bytes = 0;
	}
	pthread_mutex_unlock(&j->mu);
	if (text == NULL)
		return -1;
	rc = stop == 1 ? stopped(err, errlen) : jr_snap_write(j->dir_fd, j->dir, seq, text, len,
		stop == 2 || stop == 3 ? stop - 1 : 0, err, errlen);
	free(text);
	pthread_mutex_lock(&j->mu);
	snapped(j, rc, seq, len, covered);
	pthread_mutex_unlock(&j->mu);
	if (rc == 0)
		rc = drop_old(j, seq, err, errlen);
	pthread_mutex_lock(&j->mu);
	j->compacting = 0;
	pthread_mutex_unlock(&j->mu);
	if (rc == 0)
		LOG_INFO("state", "compacted: snapshot of entry %" PRIu64 " (%zu bytes)", seq, len);
	return rc;
}
