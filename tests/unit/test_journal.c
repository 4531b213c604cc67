/* tests/unit/test_journal.c - the journal (daemon/state): what a commit returned 0 for is there
 * after a reopen, in creation order; a change lands whole or not at all; a torn tail is cut and
 * damage elsewhere refuses the open with file and offset; compaction and migration stopped after
 * each step (a simulated crash) lose nothing; a failed write (ENOSPC, EFBIG) changes nothing;
 * group commit covers every append before the sync. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crc32c.h"
#include "jr_int.h"
#include "journal.h"
#include "log.h"

#define SEG1 "journal-00000000000000000001.log"

struct fixture {
	char dir[64];
	char err[512];
	char path[160];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/gaapd-journal-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static const char *path(struct fixture *f, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	return f->path;
}

static int exists(struct fixture *f, const char *name)
{
	return access(path(f, name), F_OK) == 0;
}

static struct jr *open_ok(struct fixture *f, const struct jr_opts *o)
{
	struct jr *j = jr_open(f->dir, o, f->err, sizeof(f->err));
	if (j == NULL)
		fail_msg("jr_open: %s", f->err);
	return j;
}

static int put(struct fixture *f, struct jr *j, const char *kind, const char *id, int n)
{
	json_t *fields = json_pack("{s:i}", "n", n);
	struct jr_op op = { .type = JR_PUT, .kind = kind, .id = id, .fields = fields };
	int rc = jr_commit(j, &op, 1, f->err, sizeof(f->err));
	json_decref(fields);
	return rc;
}

static int del(struct fixture *f, struct jr *j, const char *kind, const char *id)
{
	struct jr_op op = { .type = JR_DEL, .kind = kind, .id = id };
	return jr_commit(j, &op, 1, f->err, sizeof(f->err));
}

struct text {
	char s[8192];
};

static int add_text(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct text *t = arg;
	size_t len = strlen(t->s);
	snprintf(t->s + len, sizeof(t->s) - len, "%s%s/%s=%d", len ? " " : "", kind, id,
		(int)json_integer_value(json_object_get(fields, "n")));
	return 0;
}

/* The whole record set as "kind/id=n ..." in creation order. */
static struct text records(struct jr *j)
{
	struct text t = { .s = "" };
	assert_int_equal(jr_each(j, NULL, add_text, &t), 0);
	return t;
}

static struct text reopen(struct fixture *f, struct jr **j, const struct jr_opts *o)
{
	jr_close(*j);
	*j = open_ok(f, o);
	return records(*j);
}

/* ---- basics ---- */

static void crc32c_matches_the_standard_and_both_versions_agree(void **state)
{
	unsigned char buf[1000];
	(void)state;
	assert_int_equal(jr_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(jr_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n < sizeof(buf); n += 37)
		assert_int_equal(jr_crc32c(0, buf + 1, n), jr_crc32c_sw(0, buf + 1, n));
	assert_int_equal(jr_crc32c(jr_crc32c(0, buf, 100), buf + 100, 200), jr_crc32c(0, buf, 300));
}

static void put_replace_delete_survive_a_reopen_in_creation_order(void **state)
{
	struct fixture *f = *state;
	struct jr *j = open_ok(f, NULL);
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	assert_int_equal(put(f, j, "rule", "a", 2), 0);           /* same id, another kind */
	assert_int_equal(put(f, j, "listener", "b", 3), 0);
	assert_int_equal(put(f, j, "listener", "c", 4), 0);
	assert_int_equal(put(f, j, "listener", "a", 5), 0);       /* a replace keeps its place */
	assert_int_equal(del(f, j, "listener", "b"), 0);
	assert_int_equal(del(f, j, "listener", "nosuch"), 0);
	const char *want = "listener/a=5 rule/a=2 listener/c=4";
	assert_string_equal(records(j).s, want);
	assert_string_equal(reopen(f, &j, NULL).s, want);
	assert_int_equal((int)json_integer_value(json_object_get(jr_get(j, "rule", "a"), "n")), 2);
	assert_null(jr_get(j, "listener", "b"));
	assert_int_equal(jr_count(j), 3);
	assert_int_equal(put(f, j, "listener", "b", 6), 0);       /* re-created: at the end */
	assert_string_equal(reopen(f, &j, NULL).s, "listener/a=5 rule/a=2 listener/c=4 listener/b=6");
	jr_close(j);
}

static void a_change_lands_whole_or_not_at_all(void **state)
{
	struct fixture *f = *state;
	struct jr *j = open_ok(f, NULL);
	json_t *x = json_pack("{s:i}", "n", 7), *y = json_pack("{s:i}", "n", 8);
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	struct jr_op bad[] = { { JR_PUT, "listener", "x", x }, { JR_PUT, "Bad Kind", "y", y } };
	assert_int_equal(jr_commit(j, bad, 2, f->err, sizeof(f->err)), -1);
	assert_int_equal(errno, EINVAL);
	struct jr_op nofields[] = { { JR_DEL, "listener", "a", NULL }, { JR_PUT, "listener", "y", NULL } };
	assert_int_equal(jr_commit(j, nofields, 2, f->err, sizeof(f->err)), -1);
	assert_string_equal(records(j).s, "listener/a=1");
	struct jr_op good[] = { { JR_PUT, "listener", "x", x }, { JR_DEL, "listener", "a", NULL },
		{ JR_PUT, "rule", "y", y } };
	assert_int_equal(jr_commit(j, good, 3, f->err, sizeof(f->err)), 0);
	assert_string_equal(reopen(f, &j, NULL).s, "listener/x=7 rule/y=8");
	json_decref(x);
	json_decref(y);
	jr_close(j);
}

static void a_second_open_of_the_directory_is_refused(void **state)
{
	struct fixture *f = *state;
	struct jr *j = open_ok(f, NULL);
	assert_null(jr_open(f->dir, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "in use by another gaapd"));
	jr_close(j);
}

static void modes_are_0750_for_the_directory_and_0600_for_files(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/new/state", f->dir);
	mode_t old = umask(0);
	struct jr *j = jr_open(sub, NULL, f->err, sizeof(f->err));
	umask(old);
	assert_non_null(j);
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	assert_int_equal(jr_compact(j, f->err, sizeof(f->err)), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0750);
	snprintf(sub, sizeof(sub), "%s/new/state/%s", f->dir, "journal-00000000000000000002.log");
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(sub, sizeof(sub), "%s/new/state/%s", f->dir, "snapshot-00000000000000000001.jsonl");
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(sub, sizeof(sub), "%s/new/state/lock", f->dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	jr_close(j);
}

/* ---- group commit ---- */

static void two_appends_then_one_sync_make_both_durable(void **state)
{
	struct fixture *f = *state;
	struct jr *j = open_ok(f, NULL);
	json_t *x = json_pack("{s:i}", "n", 1);
	struct jr_op op1 = { JR_PUT, "listener", "a", x }, op2 = { JR_PUT, "listener", "b", x };
	uint64_t s1 = 0, s2 = 0;
	assert_int_equal(jr_append(j, &op1, 1, &s1, f->err, sizeof(f->err)), 0);
	assert_int_equal(jr_append(j, &op2, 1, &s2, f->err, sizeof(f->err)), 0);
	assert_true(s2 == s1 + 1);
	assert_string_equal(records(j).s, "listener/a=1 listener/b=1");     /* visible at once */
	assert_true(j->synced_seq < s1);
	assert_int_equal(jr_sync(j, s2, f->err, sizeof(f->err)), 0);
	assert_true(j->synced_seq >= s2);                  /* one fdatasync covered both */
	assert_int_equal(jr_sync(j, s1, f->err, sizeof(f->err)), 0);        /* nothing left to do */
	assert_string_equal(reopen(f, &j, NULL).s, "listener/a=1 listener/b=1");
	json_decref(x);
	jr_close(j);
}

struct syncer {
	struct jr *j;
	int stop, fails;
};

static void *sync_loop(void *arg)
{
	struct syncer *s = arg;
	char err[256];
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
		if (jr_sync(s->j, UINT64_MAX, err, sizeof(err)) != 0)
			s->fails++;
	return NULL;
}

/* jr_sync() on another thread while appends go on, across segment switches. */
static void sync_from_another_thread_while_appending(void **state)
{
	struct fixture *f = *state;
	struct jr_opts o = { .segment_size = 512 };
	struct jr *j = open_ok(f, &o);
	struct syncer s = { .j = j };
	pthread_t t;
	char id[16];
	json_t *x = json_pack("{s:i}", "n", 1);
	uint64_t seq = 0;
	assert_int_equal(pthread_create(&t, NULL, sync_loop, &s), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "l%03d", i);
		struct jr_op op = { JR_PUT, "listener", id, x };
		assert_int_equal(jr_append(j, &op, 1, &seq, f->err, sizeof(f->err)), 0);
	}
	assert_int_equal(jr_sync(j, seq, f->err, sizeof(f->err)), 0);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(s.fails, 0);
	assert_int_equal(jr_count(j), 200);
	jr_close(j);
	j = open_ok(f, &o);
	assert_int_equal(jr_count(j), 200);
	json_decref(x);
	jr_close(j);
}

/* ---- damage: torn tails are cut, anything else refuses the open ---- */

/* The offsets of the valid entries of a segment; returns their count, *end after the last. */
static size_t entries(struct fixture *f, const char *name, size_t *offs, size_t max, size_t *end)
{
	size_t len = 0, n = 0, off = 0, k;
	unsigned char *buf = jr_read_file(AT_FDCWD, path(f, name), &len);
	assert_non_null(buf);
	while ((k = jr_frame_at(buf, len, off)) > 0 && n < max) {
		offs[n++] = off;
		off += k;
	}
	*end = off;
	free(buf);
	return n;
}

static void patch(struct fixture *f, const char *name, size_t off, const void *p, size_t n)
{
	int fd = open(path(f, name), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void read_at(struct fixture *f, const char *name, size_t off, void *p, size_t n)
{
	int fd = open(path(f, name), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

/* Three entries a=1 b=2 c=3 in the first segment, closed; offs: where each starts. */
static void three_entries(struct fixture *f, size_t offs[4], size_t *end)
{
	struct jr *j = open_ok(f, NULL);
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	assert_int_equal(put(f, j, "listener", "b", 2), 0);
	assert_int_equal(put(f, j, "listener", "c", 3), 0);
	jr_close(j);
	assert_int_equal(entries(f, SEG1, offs, 4, end), 3);
	offs[3] = *end;
}

static int log_has(struct fixture *f, const char *text)
{
	size_t len = 0;
	char *log = (char *)jr_read_file(AT_FDCWD, path(f, "log"), &len);
	int found = log != NULL && strstr(log, text) != NULL;
	free(log);
	return found;
}

/* Opens after the damage: want are the records left, a warning logged, and the journal goes
 * on where the cut was. */
static void expect_cut(struct fixture *f, const char *want)
{
	char logpath[160], more[128];
	snprintf(logpath, sizeof(logpath), "%s/log", f->dir);
	assert_int_equal(log_open(logpath), 0);
	struct jr *j = open_ok(f, NULL);
	log_close();
	assert_string_equal(records(j).s, want);
	assert_true(log_has(f, "cut a torn entry"));
	assert_true(log_has(f, SEG1));
	assert_int_equal(put(f, j, "listener", "d", 4), 0);
	snprintf(more, sizeof(more), "%s listener/d=4", want);
	assert_string_equal(reopen(f, &j, NULL).s, more);
	jr_close(j);
}

static void a_partial_header_at_the_tail_is_cut(void **state)
{
	struct fixture *f = *state;
	size_t offs[4], end;
	unsigned char hdr[JR_HDR];
	three_entries(f, offs, &end);
	read_at(f, SEG1, offs[2], hdr, sizeof(hdr));
	patch(f, SEG1, end, hdr, 7);
	expect_cut(f, "listener/a=1 listener/b=2 listener/c=3");
}

static void a_partial_payload_at_the_tail_is_cut(void **state)
{
	struct fixture *f = *state;
	size_t offs[4], end;
	unsigned char e[512];
	three_entries(f, offs, &end);
	size_t n = offs[3] - offs[2];
	read_at(f, SEG1, offs[2], e, n);
	patch(f, SEG1, end, e, JR_HDR + (n - JR_HDR) / 2);      /* header and half the payload */
	expect_cut(f, "listener/a=1 listener/b=2 listener/c=3");
}

static void a_last_entry_half_zeroed_is_cut(void **state)
{
	struct fixture *f = *state;
	size_t offs[4], end;
	static const unsigned char zeros[512];
	three_entries(f, offs, &end);
	size_t n = offs[3] - offs[2];
	patch(f, SEG1, offs[2] + n / 2, zeros, n - n / 2);       /* its last sectors never landed */
	expect_cut(f, "listener/a=1 listener/b=2");
}

static void a_last_entry_with_a_zeroed_header_is_cut(void **state)
{
	struct fixture *f = *state;
	size_t offs[4], end;
	static const unsigned char zeros[JR_HDR];
	three_entries(f, offs, &end);
	patch(f, SEG1, offs[2], zeros, JR_HDR);
	expect_cut(f, "listener/a=1 listener/b=2");
}

static void a_bad_crc_in_the_last_entry_is_cut(void **state)
{
	struct fixture *f = *state;
	size_t offs[4], end;
	unsigned char c;
	three_entries(f, offs, &end);
	read_at(f, SEG1, offs[2] + JR_HDR + 5, &c, 1);
	c ^= 0x20;
	patch(f, SEG1, offs[2] + JR_HDR + 5, &c, 1);
	expect_cut(f, "listener/a=1 listener/b=2");
}

static void zeroed_preallocation_is_a_clean_end(void **state)
{
	struct fixture *f = *state;
	size_t offs[4], end;
	char logpath[160];
	struct stat st;
	three_entries(f, offs, &end);
	assert_int_equal(stat(path(f, SEG1), &st), 0);
	assert_true((size_t)st.st_size == JR_SEGMENT_SIZE);     /* preallocated */
	snprintf(logpath, sizeof(logpath), "%s/log", f->dir);
	assert_int_equal(log_open(logpath), 0);
	struct jr *j = open_ok(f, NULL);
	log_close();
	assert_string_equal(records(j).s, "listener/a=1 listener/b=2 listener/c=3");
	assert_false(log_has(f, "torn"));
	jr_close(j);
}

static void a_bad_crc_in_the_middle_refuses_the_open_with_file_and_offset(void **state)
{
	struct fixture *f = *state;
	size_t offs[4], end;
	unsigned char c;
	char want[64];
	three_entries(f, offs, &end);
	read_at(f, SEG1, offs[1] + JR_HDR + 5, &c, 1);
	c ^= 0x01;
	patch(f, SEG1, offs[1] + JR_HDR + 5, &c, 1);
	assert_null(jr_open(f->dir, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, SEG1));
	snprintf(want, sizeof(want), "offset %zu:", offs[1]);
	assert_non_null(strstr(f->err, want));
	assert_non_null(strstr(f->err, "corruption"));
	c ^= 0x01;                      /* repaired: everything is back */
	patch(f, SEG1, offs[1] + JR_HDR + 5, &c, 1);
	struct jr *j = open_ok(f, NULL);
	assert_string_equal(records(j).s, "listener/a=1 listener/b=2 listener/c=3");
	jr_close(j);
}

static void a_damaged_snapshot_refuses_the_open(void **state)
{
	struct fixture *f = *state;
	const char *snap = "snapshot-00000000000000000002.jsonl";
	struct jr *j = open_ok(f, NULL);
	unsigned char c;
	struct stat st;
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	assert_int_equal(put(f, j, "listener", "b", 2), 0);
	assert_int_equal(jr_compact(j, f->err, sizeof(f->err)), 0);
	jr_close(j);
	read_at(f, snap, 60, &c, 1);
	c ^= 0x04;
	patch(f, snap, 60, &c, 1);
	assert_null(jr_open(f->dir, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, snap));
	assert_non_null(strstr(f->err, "damaged"));
	c ^= 0x04;
	patch(f, snap, 60, &c, 1);
	assert_int_equal(stat(path(f, snap), &st), 0);
	assert_int_equal(truncate(f->path, st.st_size - 3), 0);        /* its end line cut */
	assert_null(jr_open(f->dir, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "checksum"));
}

static void a_missing_segment_is_a_gap_that_refuses_the_open(void **state)
{
	struct fixture *f = *state;
	struct jr_opts o = { .segment_size = 128 };     /* about one entry a segment */
	struct jr *j = open_ok(f, &o);
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "l%d", i);
		assert_int_equal(put(f, j, "listener", id, i), 0);
	}
	jr_close(j);
	assert_true(exists(f, "journal-00000000000000000003.log"));
	assert_int_equal(unlink(path(f, "journal-00000000000000000003.log")), 0);
	assert_null(jr_open(f->dir, &o, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "entries are missing"));
	assert_non_null(strstr(f->err, "journal-00000000000000000004.log"));
}

/* ---- compaction ---- */

/* Changes over several small segments: 30 puts, every third deleted, some replaced. */
static void fill(struct fixture *f, struct jr *j, int base)
{
	char id[16];
	for (int i = 0; i < 30; i++) {
		snprintf(id, sizeof(id), "l%02d", i);
		assert_int_equal(put(f, j, "listener", id, base + i), 0);
	}
	for (int i = 0; i < 30; i += 3) {
		snprintf(id, sizeof(id), "l%02d", i);
		assert_int_equal(del(f, j, "listener", id), 0);
	}
	assert_int_equal(put(f, j, "listener", "l01", base + 100), 0);
}

static size_t count_files(struct fixture *f, const char *prefix)
{
	struct jr_dir d;
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	size_t n;
	assert_int_equal(jr_dir_list(fd, &d, 0, f->err, sizeof(f->err)), 0);
	n = strcmp(prefix, "journal") == 0 ? d.nsegs : d.nsnaps;
	jr_dir_free(&d);
	close(fd);
	return n;
}

static void compaction_stopped_after_each_step_loses_nothing(void **state)
{
	struct fixture *f = *state;
	for (int k = 1; k <= 4; k++) {
		struct jr_opts o = { .segment_size = 1024 }, crash = o;
		crash.stop_compact_after = k;
		struct jr *j = open_ok(f, &o);
		fill(f, j, k * 1000);
		struct text want = records(j);
		jr_close(j);
		j = open_ok(f, &crash);
		assert_int_equal(jr_compact(j, f->err, sizeof(f->err)), -1);   /* "crashed" */
		assert_int_equal(errno, ECANCELED);
		assert_string_equal(reopen(f, &j, &o).s, want.s);
		assert_int_equal(put(f, j, "rule", "after", k), 0);            /* and it goes on */
		snprintf(want.s + strlen(want.s), 64, " rule/after=%d", k);
		assert_string_equal(reopen(f, &j, &o).s, want.s);
		assert_int_equal(jr_compact(j, f->err, sizeof(f->err)), 0);    /* a whole one */
		assert_int_equal(count_files(f, "journal"), 1);
		assert_int_equal(count_files(f, "snapshot"), 1);
		assert_string_equal(reopen(f, &j, &o).s, want.s);
		assert_int_equal(del(f, j, "rule", "after"), 0);
		jr_close(j);
	}
}

static void a_leftover_snapshot_temp_file_is_removed(void **state)
{
	struct fixture *f = *state;
	int fd = open(path(f, "snapshot-00000000000000000009.jsonl.tmp"), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"gaapd", 7), 7);
	close(fd);
	struct jr *j = open_ok(f, NULL);
	assert_false(exists(f, "snapshot-00000000000000000009.jsonl.tmp"));
	assert_int_equal(jr_count(j), 0);
	jr_close(j);
}

struct appender {
	struct jr *j;
	int stop, done, fails;
};

/* Commits until told to stop (at most 5,000). */
static void *append_loop(void *arg)
{
	struct appender *a = arg;
	char id[16], err[256];
	json_t *x = json_pack("{s:i}", "n", 9);
	for (int i = 0; i < 5000 && !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE); i++) {
		snprintf(id, sizeof(id), "c%04d", i);
		struct jr_op op = { JR_PUT, "rule", id, x };
		if (jr_commit(a->j, &op, 1, err, sizeof(err)) != 0)
			a->fails++;
		__atomic_store_n(&a->done, i + 1, __ATOMIC_RELEASE);
	}
	json_decref(x);
	return NULL;
}

/* Three compactions while another thread commits all along. */
static void compaction_while_changes_go_on(void **state)
{
	struct fixture *f = *state;
	struct jr_opts o = { .segment_size = 2048, .compact_min = 4096 };
	struct jr *j = open_ok(f, &o);
	struct appender a = { .j = j };
	pthread_t t;
	int compactions = 0;
	char last[16];
	assert_int_equal(pthread_create(&t, NULL, append_loop, &a), 0);
	while (compactions < 3 && __atomic_load_n(&a.done, __ATOMIC_ACQUIRE) < 5000) {
		if (jr_compact_due(j)) {
			assert_int_equal(jr_compact(j, f->err, sizeof(f->err)), 0);
			compactions++;
		}
		usleep(100);
	}
	__atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(a.fails, 0);
	assert_int_equal(compactions, 3);
	jr_close(j);
	j = open_ok(f, &o);
	assert_int_equal(jr_count(j), a.done);
	snprintf(last, sizeof(last), "c%04d", a.done - 1);
	assert_non_null(jr_get(j, "rule", "c0000"));
	assert_non_null(jr_get(j, "rule", last));
	jr_close(j);
}

/* ---- migration of a v1 listeners.json ---- */

/* Exactly what the v1 file back end (daemon/store_file.c until issue 12) wrote. */
#define V1_A "{\"ListenerId\":\"listener-aaaaaaaa\",\"ListenerName\":\"one\",\"Protocol\":\"HTTP\"," \
	"\"ProxyId\":\"link-cuxw2rm0\",\"GroupId\":\"\",\"Port\":8081,\"CreateTime\":1795833763}"
#define V1_B "{\"ListenerId\":\"listener-bbbbbbbb\",\"ListenerName\":\"two\",\"Protocol\":\"HTTP\"," \
	"\"ProxyId\":\"\",\"GroupId\":\"lg-qz6ntod5\",\"Port\":8082,\"CreateTime\":1795833764}"
#define V1_FILE "{\"version\":1,\"listeners\":[\n" V1_A ",\n" V1_B "\n]}\n"

static void write_v1(struct fixture *f, const char *text)
{
	FILE *fp = fopen(path(f, "listeners.json"), "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int ids(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct text *t = arg;
	size_t len = strlen(t->s);
	(void)fields;
	snprintf(t->s + len, sizeof(t->s) - len, "%s%s/%s", len ? " " : "", kind, id);
	return 0;
}

static void expect_migrated(struct fixture *f, struct jr *j)
{
	struct text t = { .s = "" };
	assert_int_equal(jr_each(j, "listener", ids, &t), 0);
	assert_string_equal(t.s, "listener/listener-aaaaaaaa listener/listener-bbbbbbbb");
	json_t *b = jr_get(j, "listener", "listener-bbbbbbbb");
	assert_string_equal(json_string_value(json_object_get(b, "GroupId")), "lg-qz6ntod5");
	assert_int_equal(json_integer_value(json_object_get(b, "Port")), 8082);
	assert_false(exists(f, "listeners.json"));
	assert_true(exists(f, "listeners.json.v1-migrated"));
}

static void a_v1_listeners_json_is_migrated_once_and_kept(void **state)
{
	struct fixture *f = *state;
	char logpath[160];
	write_v1(f, V1_FILE);
	snprintf(logpath, sizeof(logpath), "%s/log", f->dir);
	assert_int_equal(log_open(logpath), 0);
	struct jr *j = open_ok(f, NULL);
	log_close();
	assert_true(log_has(f, "state: migrated 2 listeners from listeners.json (v1)"));
	expect_migrated(f, j);
	assert_int_equal(put(f, j, "listener", "listener-cccccccc", 3), 0);
	jr_close(j);
	j = open_ok(f, NULL);
	assert_int_equal(jr_count(j), 3);
	jr_close(j);
	write_v1(f, V1_FILE);           /* an old file put back beside the journal: refused */
	assert_null(jr_open(f->dir, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "both a v1 listeners.json and a journal"));
}

static void a_migration_stopped_after_each_step_is_redone(void **state)
{
	struct fixture *f = *state;
	for (int k = 1; k <= 3; k++) {
		struct jr_opts crash = { .stop_migrate_after = k };
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", f->dir);
		assert_int_equal(system(cmd), 0);
		write_v1(f, V1_FILE);
		struct jr *j = jr_open(f->dir, &crash, f->err, sizeof(f->err));
		assert_null(j);
		assert_int_equal(errno, ECANCELED);
		assert_int_equal(exists(f, "listeners.json"), k < 3);  /* step 3 is its rename */
		j = open_ok(f, NULL);
		expect_migrated(f, j);
		jr_close(j);
	}
}

static void a_bad_v1_file_refuses_the_open_and_stays(void **state)
{
	struct fixture *f = *state;
	write_v1(f, "{\"version\":1,\"listeners\":[{\"ListenerId\":");
	assert_null(jr_open(f->dir, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "listeners.json"));
	write_v1(f, "{\"version\":1,\"listeners\":[{\"ListenerName\":\"x\"}]}");
	assert_null(jr_open(f->dir, NULL, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "record 0 is invalid"));
	assert_true(exists(f, "listeners.json"));
	assert_false(exists(f, "snapshot-00000000000000000000.jsonl"));
}

/* ---- failed writes change nothing ---- */

static int fail_writes;         /* the injected pwrite: how the next write ends */

/* Half of the bytes, then ENOSPC: a disk that filled up in the middle of an entry. */
static ssize_t full_disk_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (!fail_writes)
		return pwrite(fd, buf, n, off);
	if (fail_writes++ == 1 && n > 1)
		return pwrite(fd, buf, n / 2, off);
	errno = ENOSPC;
	return -1;
}

static void enospc_in_the_middle_of_an_entry_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct jr_opts o = { .pwrite_fn = full_disk_pwrite };
	struct jr *j = open_ok(f, &o);
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	fail_writes = 1;
	assert_int_equal(put(f, j, "listener", "b", 2), -1);
	assert_int_equal(errno, ENOSPC);
	assert_non_null(strstr(f->err, "No space left"));
	assert_int_equal(del(f, j, "listener", "a"), -1);
	assert_int_equal(errno, ENOSPC);
	assert_string_equal(records(j).s, "listener/a=1");
	fail_writes = 0;
	assert_string_equal(reopen(f, &j, &o).s, "listener/a=1");
	assert_int_equal(put(f, j, "listener", "c", 3), 0);              /* the space is back */
	assert_string_equal(reopen(f, &j, &o).s, "listener/a=1 listener/c=3");
	jr_close(j);
}

/* RLIMIT_FSIZE: the kernel cuts the write at the limit, then fails it with EFBIG (SIGXFSZ
 * ignored, as gaapd does). A real short write, then a real error. */
static void a_file_size_limit_fails_with_efbig_and_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	struct jr *j = open_ok(f, NULL);
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = j->tail + 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int rc = put(f, j, "listener", "b", 2), e = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(rc, -1);
	assert_int_equal(e, EFBIG);
	assert_string_equal(records(j).s, "listener/a=1");
	assert_string_equal(reopen(f, &j, NULL).s, "listener/a=1");
	assert_int_equal(put(f, j, "listener", "c", 3), 0);
	assert_string_equal(reopen(f, &j, NULL).s, "listener/a=1 listener/c=3");
	jr_close(j);
}

static void a_removed_state_directory_fails_with_enoent(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	struct jr *j = open_ok(f, NULL);
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(put(f, j, "listener", "b", 2), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(records(j).s, "listener/a=1");
	jr_close(j);
	assert_int_equal(mkdir(f->dir, 0700), 0);       /* for the teardown */
}

/* ---- jr_dump ---- */

static json_t *dump(struct fixture *f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_int_equal(jr_dump(f->dir, out, f->err, sizeof(f->err)), 0);
	fclose(out);
	json_t *doc = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(doc);
	return doc;
}

static void dump_reads_a_store_in_use_and_leaves_a_torn_tail_alone(void **state)
{
	struct fixture *f = *state;
	struct jr_opts o = { .segment_size = 512 };
	struct jr *j = open_ok(f, &o);
	size_t offs[4], end;
	unsigned char hdr[JR_HDR];
	assert_int_equal(put(f, j, "listener", "a", 1), 0);
	assert_int_equal(put(f, j, "rule", "r", 2), 0);
	assert_int_equal(jr_compact(j, f->err, sizeof(f->err)), 0);
	assert_int_equal(put(f, j, "listener", "b", 3), 0);
	assert_int_equal(del(f, j, "listener", "a"), 0);
	json_t *doc = dump(f);                          /* the lock is held: no matter */
	json_t *recs = json_object_get(doc, "records");
	assert_int_equal(json_integer_value(json_object_get(doc, "seq")), 4);
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "id")), "r");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_array_get(recs, 1), "fields"), "n")), 3);
	json_decref(doc);
	/* an entry being written at the tail: left out, and left as it is */
	const char *seg = "journal-00000000000000000003.log";
	assert_int_equal(entries(f, seg, offs, 4, &end), 2);
	read_at(f, seg, 0, hdr, sizeof(hdr));
	patch(f, seg, end, hdr, 9);
	doc = dump(f);
	assert_int_equal(json_array_size(json_object_get(doc, "records")), 2);
	json_decref(doc);
	read_at(f, seg, end, hdr, 9);
	assert_int_equal(hdr[0], 0xc7);                 /* not cut: dump writes nothing */
	jr_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(crc32c_matches_the_standard_and_both_versions_agree),
		T(put_replace_delete_survive_a_reopen_in_creation_order),
		T(a_change_lands_whole_or_not_at_all),
		T(a_second_open_of_the_directory_is_refused),
		T(modes_are_0750_for_the_directory_and_0600_for_files),
		T(two_appends_then_one_sync_make_both_durable),
		T(sync_from_another_thread_while_appending),
		T(a_partial_header_at_the_tail_is_cut),
		T(a_partial_payload_at_the_tail_is_cut),
		T(a_last_entry_half_zeroed_is_cut),
		T(a_last_entry_with_a_zeroed_header_is_cut),
		T(a_bad_crc_in_the_last_entry_is_cut),
		T(zeroed_preallocation_is_a_clean_end),
		T(a_bad_crc_in_the_middle_refuses_the_open_with_file_and_offset),
		T(a_damaged_snapshot_refuses_the_open),
		T(a_missing_segment_is_a_gap_that_refuses_the_open),
		T(compaction_stopped_after_each_step_loses_nothing),
		T(a_leftover_snapshot_temp_file_is_removed),
		T(compaction_while_changes_go_on),
		T(a_v1_listeners_json_is_migrated_once_and_kept),
		T(a_migration_stopped_after_each_step_is_redone),
		T(a_bad_v1_file_refuses_the_open_and_stays),
		T(enospc_in_the_middle_of_an_entry_changes_nothing),
		T(a_file_size_limit_fails_with_efbig_and_changes_nothing),
		T(a_removed_state_directory_fails_with_enoent),
		T(dump_reads_a_store_in_use_and_leaves_a_torn_tail_alone),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
