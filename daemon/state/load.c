/* daemon/state/load.c - reading a state directory: which snapshots and segments it holds, and
 * the record set they make (the newest snapshot, then every entry after it, in order). Shared by
 * jr_open() and the read-only jr_dump(). Every refusal names the file and the byte offset.
 */
#include "jr_int.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void jr_seg_name(char *out, size_t size, uint64_t first)
{
	snprintf(out, size, "journal-%020" PRIu64 ".log", first);
}

void jr_snap_name(char *out, size_t size, uint64_t seq, int tmp)
{
	snprintf(out, size, "snapshot-%020" PRIu64 ".jsonl%s", seq, tmp ? ".tmp" : "");
}

/* "<prefix><20 digits><suffix>" -> the number; -1 when name is something else. */
static int parse_name(const char *name, const char *prefix, const char *suffix, uint64_t *out)
{
	size_t pl = strlen(prefix);
	char *end;
	if (strncmp(name, prefix, pl) != 0 || strspn(name + pl, "0123456789") != 20 ||
	    strcmp(name + pl + 20, suffix) != 0)
		return -1;
	*out = strtoull(name + pl, &end, 10);
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct jr_seg *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int add_name(struct jr_dir *d, int dir_fd, int unlink_tmp, const char *name)
{
	uint64_t v;
	if (unlink_tmp && parse_name(name, "snapshot-", ".jsonl.tmp", &v) == 0) {
		(void)unlinkat(dir_fd, name, 0);        /* its rename never ran */
	} else if (parse_name(name, "journal-", ".log", &v) == 0) {
		struct jr_seg *s = realloc(d->segs, (d->nsegs + 1) * sizeof(*s));
		if (s == NULL)
			return -1;
		d->segs = s;
		s[d->nsegs].first = v;
		jr_seg_name(s[d->nsegs++].name, sizeof(s->name), v);
	} else if (parse_name(name, "snapshot-", ".jsonl", &v) == 0) {
		uint64_t *s = realloc(d->snaps, (d->nsnaps + 1) * sizeof(*s));
		if (s == NULL)
			return -1;
		d->snaps = s;
		s[d->nsnaps++] = v;
	} else if (strcmp(name, JR_V1_FILE) == 0) {
		d->has_v1 = 1;
	}
	return 0;
}

int jr_dir_list(int dir_fd, struct jr_dir *d, int unlink_tmp, char *err, size_t errlen)
{
	int fd = dup(dir_fd);
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	memset(d, 0, sizeof(*d));
	if (dp == NULL) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "state directory: %s", strerror(errno));
		return -1;
	}
	rewinddir(dp);          /* the dup shares the offset with dir_fd */
	while ((de = readdir(dp)) != NULL) {
		if (add_name(d, dir_fd, unlink_tmp, de->d_name) != 0) {
			closedir(dp);
			snprintf(err, errlen, "state directory: out of memory");
			errno = ENOMEM;
			return -1;
		}
	}
	closedir(dp);
	if (d->nsegs > 1)
		qsort(d->segs, d->nsegs, sizeof(*d->segs), cmp_seg);
	if (d->nsnaps > 1)
		qsort(d->snaps, d->nsnaps, sizeof(*d->snaps), cmp_u64);
	return 0;
}

void jr_dir_free(struct jr_dir *d)
{
	free(d->segs);
	free(d->snaps);
	memset(d, 0, sizeof(*d));
}

unsigned char *jr_read_file(int dir_fd, const char *name, size_t *len)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char *buf = NULL;
	size_t got = 0;
	if (fd < 0 || fstat(fd, &st) != 0 || (buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto fail;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;  /* shrunk while read (a tail cut by a starting gaapd): what we have */
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
fail:
	if (fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return NULL;
}

struct replay {
	struct jr_set *set;
	const struct jr_opts *opts;
	const char *dir, *name;
	uint64_t snap_seq, expect;      /* expect: the seq the next entry must have */
	size_t bytes;                   /* entries after the snapshot */
	char *err;
	size_t errlen;
};

/* The op lines of an entry (after its first line) into a prepared batch. */
static int entry_ops(struct replay *r, const char *p, const char *end, json_int_t nops,
	struct jr_batch *b, char *why, size_t whylen)
{
	if (jr_batch_init(r->set, (size_t)nops, b, why, whylen) != 0)
		return -1;
	for (json_int_t i = 0; i < nops; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			snprintf(why, whylen, "op %" PRId64 " is missing", (int64_t)i);
			return -1;
		}
		if (jr_batch_line(b, p, (size_t)(nl - p) + 1, r->opts, why, whylen) != 0)
			return -1;
		p = nl + 1;
	}
	if (p != end) {
		snprintf(why, whylen, "bytes after its last op");
		return -1;
	}
	return 0;
}

static int replay_entry(const char *payload, size_t n, size_t off, void *arg)
{
	struct replay *r = arg;
	const char *nl = memchr(payload, '\n', n);
	json_t *head = nl != NULL ? json_loadb(payload, (size_t)(nl - payload), 0, NULL) : NULL;
	json_int_t seq = -1, nops = -1;
	struct jr_batch b = { 0 };
	char why[256] = "not a journal change";
	int rc = -1;
	json_unpack(head, "{s:I, s:I}", "seq", &seq, "ops", &nops);
	json_decref(head);
	if (seq < 1 || nops < 1)
		goto out;
	if ((uint64_t)seq != r->expect) {
		snprintf(why, sizeof(why), "entry %" PRId64 " where %" PRIu64 " was due: entries "
			"are missing", (int64_t)seq, r->expect);
		goto out;
	}
	r->expect++;
	rc = 0;
	if ((uint64_t)seq <= r->snap_seq)
		goto out;               /* in the snapshot already */
	if ((rc = entry_ops(r, nl + 1, payload + n, nops, &b, why, sizeof(why))) == 0) {
		jr_batch_install(r->set, &b);
		r->bytes += JR_HDR + n;
	}
out:
	if (rc != 0)
		snprintf(r->err, r->errlen, "state %s/%s: offset %zu: %s", r->dir, r->name, off, why);
	jr_batch_free(&b);
	return rc;
}

/* Replays one segment from r->expect (its first entry's seq). */
static int replay_seg(int dir_fd, struct replay *r, const struct jr_seg *seg, size_t *end,
	enum jr_scan_end *how)
{
	size_t len = 0;
	unsigned char *buf = jr_read_file(dir_fd, seg->name, &len);
	int rc;
	r->name = seg->name;
	if (buf == NULL) {
		snprintf(r->err, r->errlen, "state %s/%s: %s", r->dir, seg->name, strerror(errno));
		return -1;
	}
	errno = EINVAL;
	if ((rc = jr_scan(buf, len, end, how, replay_entry, r)) == 0 && *how == JR_END_CORRUPT) {
		snprintf(r->err, r->errlen, "state %s/%s: offset %zu: a damaged entry with valid "
			"entries after it (disk corruption, not a torn write)", r->dir, seg->name, *end);
		rc = -1;
	}
	free(buf);
	errno = rc != 0 ? EINVAL : 0;
	return rc;
}

/* The first segment to read: the one holding entry snap_seq + 1, or the last one. */
static size_t first_seg(const struct jr_dir *d, uint64_t snap_seq)
{
	size_t i = 0;
	while (i + 1 < d->nsegs && d->segs[i + 1].first <= snap_seq + 1)
		i++;
	return i;
}

static int replay_segs(int dir_fd, const struct jr_dir *d, struct replay *r, struct jr_loaded *out)
{
	for (size_t i = first_seg(d, r->snap_seq); i < d->nsegs; i++) {
		const struct jr_seg *seg = &d->segs[i];
		uint64_t due = r->expect != 0 ? r->expect : r->snap_seq + 1;
		/* The first segment read may begin before the snapshot's end; each later one must
		 * begin exactly where the one before it ended. */
		if (seg->first > due || (r->expect != 0 && seg->first != due)) {
			snprintf(r->err, r->errlen, "state %s/%s: offset 0: starts at entry %" PRIu64
				" where %" PRIu64 " was due: %s", r->dir, seg->name, seg->first, due,
				seg->first > due ? "entries are missing" : "it overlaps the segment before");
			errno = EINVAL;
			return -1;
		}
		r->expect = seg->first;
		if (replay_seg(dir_fd, r, seg, &out->tail, &out->tail_how) != 0)
			return -1;
		if (out->tail_how == JR_END_TORN && i + 1 < d->nsegs)
			LOG_WARN("state", "%s/%s: offset %zu: bytes after the last entry that are no "
				"entry (a failed append); ignored", r->dir, seg->name, out->tail);
	}
	return 0;
}

int jr_load_dir(const char *dir, int dir_fd, const struct jr_dir *d, const struct jr_opts *o,
	struct jr_set *s, struct jr_loaded *out, char *err, size_t errlen)
{
	struct replay r = { .set = s, .opts = o, .dir = dir, .err = err, .errlen = errlen };
	memset(out, 0, sizeof(*out));
	if (d->nsnaps > 0) {
		out->snap_seq = d->snaps[d->nsnaps - 1];
		if (jr_snap_load(dir_fd, dir, out->snap_seq, o, s, &out->snap_bytes, err, errlen) != 0)
			return -1;
	}
	r.snap_seq = out->snap_seq;
	if (replay_segs(dir_fd, d, &r, out) != 0)
		return -1;
	out->last_seq = r.expect > out->snap_seq + 1 ? r.expect - 1 : out->snap_seq;
	out->next_in_seg = r.expect;
	out->journal_bytes = r.bytes;
	return 0;
}

/* ---- jr_dump ---- */

static int dump_once(const char *dir, int dir_fd, FILE *out, char *err, size_t errlen)
{
	struct jr_dir d;
	struct jr_set s;
	struct jr_loaded l;
	int rc = -1;
	jr_set_init(&s);
	if (jr_dir_list(dir_fd, &d, 0, err, errlen) != 0)
		return -1;
	if (d.has_v1 && d.nsegs == 0 && d.nsnaps == 0)
		snprintf(err, errlen, "state %s: only a v1 %s (gaapd migrates it when it starts)",
			dir, JR_V1_FILE);
	else if (jr_load_dir(dir, dir_fd, &d, NULL, &s, &l, err, errlen) == 0)
		rc = 0;
	if (rc == 0) {
		fprintf(out, "{\"gaapd_state\":%d,\"seq\":%" PRIu64 ",\"records\":[", JR_SNAP_VERSION,
			l.last_seq);
		for (struct jr_rec *r = s.head; r != NULL; r = r->next)
			fprintf(out, "%s\n%.*s", r == s.head ? "" : ",", (int)r->linelen - 1, r->line);
		fprintf(out, "\n]}\n");
		rc = fflush(out) == 0 && !ferror(out) ? 0 : -1;
		if (rc != 0)
			snprintf(err, errlen, "writing the dump: %s", strerror(errno));
	}
	jr_set_clear(&s);
	jr_dir_free(&d);
	return rc;
}

int jr_dump(const char *dir, FILE *out, char *err, size_t errlen)
{
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
	if (dir_fd < 0) {
		snprintf(err, errlen, "state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	/* Reading a store in use can fail for a moment: a compaction may delete a file between the
	 * listing and its reading (a new listing has the snapshot that replaced it), and a read of a
	 * segment may catch an entry before it is written and the next one after. Damage stays. */
	for (int tries = 0; rc != 0 && tries < 5; tries++) {
		if (tries > 0)
			usleep(20000);
		rc = dump_once(dir, dir_fd, out, err, errlen);
	}
	close(dir_fd);
	return rc;
}
