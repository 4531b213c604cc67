/* bench/store.c - the state store's durable write and restore, measured on one filesystem.
 *
 *   build/bench_store [--dir DIR] [--smoke]
 *
 * DIR (default: a new directory bench-store-XXXXXX in the current one; removed at the end) must
 * be on the filesystem of gaapd's state directory: /tmp is often tmpfs, where fsync costs
 * nothing. Prints Markdown. Measures, one change at a time, each made durable before the next:
 *   a. the v1 file store's write (the whole state rewritten: temp file, fsync, rename, fsync dir)
 *      with 400 listeners (63 KB), as daemon/store_file.c did before the journal (issue 12);
 *   b. the floors of a journal: O_APPEND write + fdatasync, and pwrite into a preallocated file +
 *      fdatasync, of one entry's bytes;
 *   c. jr_commit() of one listener put, and st_put() on the journal store (gaapd's path);
 *   d. 10,000 creates one at a time: the mean per call of the first and of the last 1,000;
 *   e. restore of 100,000 records (half listeners, half another kind): st_open_journal() +
 *      st_load() decoding every listener, from the journal alone and from a snapshot;
 *   f. 16 writers at once: changes per second with jr_commit() against jr_append() + jr_sync()
 *      (group commit).
 * --smoke: each part with small counts (CTest bench_store_smoke: that it runs, never a time).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "store.h"

static int smoke;
static char dir[512];

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)((double)(n - 1) * p / 100.0)];
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, err ? err : strerror(errno));
	exit(1);
}

static void row(const char *what, double *v, size_t n)
{
	printf("| %s | %zu | %.3f | %.3f |\n", what, n, pct(v, n, 50), pct(v, n, 99));
}

static void rm_rf(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		die("rm -rf", NULL);
}

/* dir/name, removed if there. */
static void sub(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
	rm_rf(out);
}

static struct st_listener listener(unsigned i)
{
	struct st_listener r = { .protocol = "HTTP", .proxy_id = "link-cuxw2rm0",
		.port = 10000 + i % 50000, .create_time = 1795833763 + i };
	snprintf(r.id, sizeof(r.id), "listener-%08x", i);
	snprintf(r.name, sizeof(r.name), "listener-%u", i);
	return r;
}

/* One listener as the v1 file had it: a line of about 210 bytes. */
static int listener_line(char *out, size_t size, unsigned i)
{
	struct st_listener r = listener(i);
	return snprintf(out, size, "{\"ListenerId\":\"%s\",\"ListenerName\":\"%s\",\"Protocol\":"
		"\"HTTP\",\"ProxyId\":\"%s\",\"GroupId\":\"\",\"Port\":%u,\"CreateTime\":%lld}", r.id,
		r.name, r.proxy_id, r.port, (long long)r.create_time);
}

static json_t *listener_fields(unsigned i)
{
	char line[400];
	listener_line(line, sizeof(line), i);
	return json_loads(line, 0, NULL);
}

/* The ways to make one change durable, measured interleaved (a round does one change with each)
 * so that the disk's moods, on a machine shared with others, fall on all of them alike. */
struct writer {
	const char *what;
	char path[600];
	int fd, dfd;
	char *text;
	size_t len, off;
	struct jr *j;
	struct st *st;
	double *t;
};

/* a. temp file, fsync, close, rename, fsync the directory: the whole state (400 listeners). */
static void rewrite_init(struct writer *w)
{
	char *p = w->text = malloc(100000);
	if (mkdir(w->path, 0750) != 0 || (w->dfd = open(w->path, O_RDONLY | O_DIRECTORY)) < 0)
		die(w->path, NULL);
	p = stpcpy(p, "{\"version\":1,\"listeners\":[\n");
	for (unsigned i = 0; i < 400; i++) {
		if (i > 0)
			p = stpcpy(p, ",\n");
		p += listener_line(p, 400, i);
	}
	p = stpcpy(p, "\n]}\n");
	w->len = (size_t)(p - w->text);
}

static void rewrite_step(struct writer *w, size_t i)
{
	int fd = openat(w->dfd, "listeners.json.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0640);
	(void)i;
	if (fd < 0 || write(fd, w->text, w->len) != (ssize_t)w->len || fsync(fd) != 0 ||
	    close(fd) != 0 || renameat(w->dfd, "listeners.json.tmp", w->dfd, "listeners.json") != 0 ||
	    fsync(w->dfd) != 0)
		die("rewrite", NULL);
}

/* b. one entry's bytes (260): appended to an O_APPEND file, or written with pwrite at the
 * tail of a preallocated one; then fdatasync. */
static void floor_init(struct writer *w, int prealloc)
{
	w->text = calloc(1, 260);
	memset(w->text, 'x', 260);
	w->len = 260;
	if ((w->fd = open(w->path, O_RDWR | O_CREAT | (prealloc ? 0 : O_APPEND), 0600)) < 0 ||
	    (prealloc && posix_fallocate(w->fd, 0, JR_SEGMENT_SIZE) != 0) || fsync(w->fd) != 0)
		die(w->path, NULL);
}

static void append_init(struct writer *w)
{
	floor_init(w, 0);
}

static void prealloc_init(struct writer *w)
{
	floor_init(w, 1);
}

static void append_step(struct writer *w, size_t i)
{
	(void)i;
	if (write(w->fd, w->text, w->len) != (ssize_t)w->len || fdatasync(w->fd) != 0)
		die("append", NULL);
}

static void prealloc_step(struct writer *w, size_t i)
{
	(void)i;
	if (pwrite(w->fd, w->text, w->len, (off_t)w->off) != (ssize_t)w->len || fdatasync(w->fd) != 0)
		die("pwrite", NULL);
	w->off += w->len;
}

/* c. jr_commit() of one listener put; st_put() of one new listener on the journal store. */
static void jr_init(struct writer *w)
{
	char err[512];
	if ((w->j = jr_open(w->path, NULL, err, sizeof(err))) == NULL)
		die("jr_open", err);
}

static void jr_step(struct writer *w, size_t i)
{
	char err[512], id[32];
	json_t *f = listener_fields((unsigned)i);
	snprintf(id, sizeof(id), "listener-%08zx", i);
	struct jr_op op = { JR_PUT, "listener", id, f };
	if (jr_commit(w->j, &op, 1, err, sizeof(err)) != 0)
		die("jr_commit", err);
	json_decref(f);
}

static void st_init(struct writer *w)
{
	char err[512];
	if ((w->st = st_open_journal(w->path, 0, err, sizeof(err))) == NULL)
		die("st_open_journal", err);
}

static void st_step(struct writer *w, size_t i)
{
	char err[512];
	struct st_listener r = listener((unsigned)i);
	if (st_put(w->st, &r, err, sizeof(err)) != 0)
		die("st_put", err);
}

static const struct {
	const char *what;
	void (*init)(struct writer *);
	void (*step)(struct writer *, size_t);
} writers[] = {
	{ "a. v1 file store: rewrite the state (400 listeners, 63,919 bytes), fsync, rename, "
	  "fsync dir", rewrite_init, rewrite_step },
	{ "b. floor: write 260 bytes to an O_APPEND file, fdatasync", append_init, append_step },
	{ "b. floor: pwrite 260 bytes into a preallocated file, fdatasync", prealloc_init,
	  prealloc_step },
	{ "c. jr_commit(): one listener put", jr_init, jr_step },
	{ "c. st_put() on the journal store: one new listener (gaapd's path)", st_init, st_step },
};
#define NWRITERS (sizeof(writers) / sizeof(writers[0]))

static void bench_writes(size_t rounds)
{
	struct writer w[NWRITERS];
	memset(w, 0, sizeof(w));
	for (size_t k = 0; k < NWRITERS; k++) {
		char name[16];
		snprintf(name, sizeof(name), "w%zu", k);
		sub(w[k].path, sizeof(w[k].path), name);
		w[k].t = calloc(rounds, sizeof(double));
		writers[k].init(&w[k]);
	}
	for (size_t i = 0; i < rounds; i++)
		for (size_t k = 0; k < NWRITERS; k++) {
			double t0 = now_ms();
			writers[k].step(&w[k], i);
			w[k].t[i] = now_ms() - t0;
		}
	for (size_t k = 0; k < NWRITERS; k++) {
		row(writers[k].what, w[k].t, rounds);
		if (w[k].fd > 0)
			close(w[k].fd);
		if (w[k].dfd > 0)
			close(w[k].dfd);
		jr_close(w[k].j);
		st_close(w[k].st);
		free(w[k].text);
		free(w[k].t);
		rm_rf(w[k].path);
	}
}


static double mean(const double *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s / (double)n;
}

/* The first and the last window of t: means, p50s, and the ratio of the means, as a row. */
static void window_row(const char *what, double *t, size_t n, size_t window)
{
	double first = mean(t, window), last = mean(t + n - window, window);
	double p1 = pct(t, window, 50), p2 = pct(t + n - window, window, 50);
	printf("| %s | %.3f / %.3f | %.3f / %.3f | %.2f× |\n", what, first, last, p1, p2,
		last / first);
}

/* d.: st_put() of new listeners one at a time, as CreateHTTPListener does. Each is followed by
 * the pwrite floor's write on a file of its own: the disk's drift over the run, as a control. */
static void bench_st_put(size_t creates, size_t window)
{
	struct writer w[2];
	double *t = calloc(creates, sizeof(*t)), *f = calloc(creates, sizeof(*f)), total = now_ms();
	memset(w, 0, sizeof(w));
	sub(w[0].path, sizeof(w[0].path), "st");
	sub(w[1].path, sizeof(w[1].path), "control");
	st_init(&w[0]);
	prealloc_init(&w[1]);
	for (size_t i = 0; i < creates; i++) {
		double t0 = now_ms();
		st_step(&w[0], i);
		double t1 = now_ms();
		prealloc_step(&w[1], i);
		t[i] = t1 - t0;
		f[i] = now_ms() - t1;
	}
	total = now_ms() - total;
	printf("\n| d. %zu creates one at a time (%.0f ms in all, with the control) | mean ms, "
		"first / last %zu | p50 ms, first / last %zu | last ÷ first (means) |\n"
		"|---|---:|---:|---:|\n", creates, total, window, window);
	window_row("st_put() on the journal store", t, creates, window);
	window_row("control: the pwrite floor, interleaved", f, creates, window);
	double r1 = mean(t, window) / mean(f, window);
	double r2 = mean(t + creates - window, window) / mean(f + creates - window, window);
	printf("| st_put() ÷ control: gaapd's path against the disk alone | %.2f / %.2f | | %.2f× |\n",
		r1, r2, r2 / r1);
	st_close(w[0].st);
	close(w[1].fd);
	free(w[1].text);
	rm_rf(w[0].path);
	rm_rf(w[1].path);
	free(t);
	free(f);
}

static int count_listener(const struct st_listener *r, void *arg)
{
	(void)r;
	(*(size_t *)arg)++;
	return 0;
}

/* The store of n records (every other one a listener, the rest of a kind without a schema, as
 * large), appended as n changes and synced once: fast to make, the same files as n commits. */
static void build(const char *d, size_t n)
{
	char err[512], id[32];
	uint64_t seq = 0;
	struct jr *j = jr_open(d, NULL, err, sizeof(err));
	if (j == NULL)
		die("jr_open", err);
	for (size_t i = 0; i < n; i++) {
		json_t *f = listener_fields((unsigned)i);
		int rule = i % 2;
		snprintf(id, sizeof(id), "%s-%08zx", rule ? "rule" : "listener", i);
		if (!rule)
			json_object_set_new(f, "ListenerId", json_string(id));
		struct jr_op op = { JR_PUT, rule ? "bench" : "listener", id, f };
		if (jr_append(j, &op, 1, &seq, err, sizeof(err)) != 0)
			die("jr_append", err);
		json_decref(f);
	}
	if (jr_sync(j, seq, err, sizeof(err)) != 0)
		die("jr_sync", err);
	jr_close(j);
}

/* gaapd's restore up to its listeners: open the store, decode every listener. */
static double restore(const char *d, size_t want)
{
	char err[512];
	size_t n = 0;
	double t0 = now_ms();
	struct st *s = st_open_journal(d, 0, err, sizeof(err));
	if (s == NULL || st_load(s, count_listener, &n, err, sizeof(err)) != 0)
		die("restore", err);
	double t = now_ms() - t0;
	st_close(s);
	if (n != want)
		die("restore", "listeners missing");
	return t;
}

/* e. from the journal alone (n entries); from a snapshot of them; from that snapshot plus a
 * journal half as large as it (half the records replaced once: the most an open finds, as a
 * compaction is due then). The restores run as gaapd's, compaction thread included. */
static void bench_restore(size_t n)
{
	char d[600], err[512];
	double t0, journal, compact, snap, worst;
	sub(d, sizeof(d), "restore");
	build(d, n);
	journal = restore(d, n / 2);
	rm_rf(d);
	build(d, n);
	struct jr *j = jr_open(d, NULL, err, sizeof(err));
	if (j == NULL)
		die("jr_open", err);
	t0 = now_ms();
	if (jr_compact(j, err, sizeof(err)) != 0)
		die("jr_compact", err);
	compact = now_ms() - t0;
	jr_close(j);
	snap = restore(d, n / 2);
	build(d, n / 2);                /* the first half's ids again: replaces */
	worst = restore(d, n / 2);
	printf("\n| e. restore of %zu records (%zu listeners, %zu of another kind): open the store, "
		"decode every listener | ms |\n|---|---:|\n", n, n / 2, n - n / 2);
	printf("| from the journal alone (%zu entries, no snapshot) | %.0f |\n", n, journal);
	printf("| jr_compact() of them (snapshot written and synced, old segments deleted) | %.0f |\n",
		compact);
	printf("| from the snapshot | %.0f |\n", snap);
	printf("| from the snapshot + %zu entries replacing half the records (the most before a "
		"compaction is due) | %.0f |\n", n / 2, worst);
	rm_rf(d);
}

/* f. concurrent writers: each change made durable before its writer goes on, either one
 * jr_commit() at a time (each its own fdatasync, under the journal's lock) or jr_append() then
 * jr_sync() (group commit: a sync covers every change appended before it started). */
struct gc_writer {
	struct jr *j;
	int group;
	size_t n, base;
};

static void *gc_loop(void *arg)
{
	struct gc_writer *w = arg;
	char err[512], id[32];
	uint64_t seq = 0;
	for (size_t i = 0; i < w->n; i++) {
		json_t *f = listener_fields((unsigned)(w->base + i));
		snprintf(id, sizeof(id), "listener-%08zx", w->base + i);
		struct jr_op op = { JR_PUT, "listener", id, f };
		if (w->group ? jr_append(w->j, &op, 1, &seq, err, sizeof(err)) != 0 ||
		    jr_sync(w->j, seq, err, sizeof(err)) != 0 : jr_commit(w->j, &op, 1, err,
		    sizeof(err)) != 0)
			die("gc", err);
		json_decref(f);
	}
	return NULL;
}

static double gc_run(size_t threads, size_t per, int group)
{
	char d[600], err[512];
	pthread_t t[64];
	struct gc_writer w[64];
	sub(d, sizeof(d), "gc");
	struct jr *j = jr_open(d, NULL, err, sizeof(err));
	if (j == NULL)
		die("jr_open", err);
	double t0 = now_ms();
	for (size_t k = 0; k < threads; k++) {
		w[k] = (struct gc_writer){ .j = j, .group = group, .n = per, .base = k * per };
		if (pthread_create(&t[k], NULL, gc_loop, &w[k]) != 0)
			die("pthread_create", NULL);
	}
	for (size_t k = 0; k < threads; k++)
		pthread_join(t[k], NULL);
	double ms = now_ms() - t0;
	jr_close(j);
	rm_rf(d);
	return (double)(threads * per) / ms * 1000.0;
}

static void bench_group(size_t threads, size_t per)
{
	double one = gc_run(1, per * 4, 0), serial = gc_run(threads, per, 0),
		group = gc_run(threads, per, 1);
	printf("\n| f. durable changes per second | changes/s |\n|---|---:|\n");
	printf("| 1 writer, jr_commit() | %.0f |\n", one);
	printf("| %zu writers, jr_commit() (one fdatasync each, in turn) | %.0f |\n", threads,
		serial);
	printf("| %zu writers, jr_append() + jr_sync() (group commit) | %.0f (%.1f×) |\n", threads,
		group, group / serial);
}

int main(int argc, char **argv)
{
	const char *where = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			smoke = 1;
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			where = argv[++i];
		else
			die("usage", "bench_store [--dir DIR] [--smoke]");
	}
	snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX", where ? where : ".");
	if (mkdtemp(dir) == NULL)
		die(dir, NULL);
	size_t rounds = smoke ? 20 : 2000;
	printf("Directory: %s\n\n| durable write of one change | n | p50 ms | p99 ms |\n"
		"|---|---:|---:|---:|\n", dir);
	fflush(stdout);
	bench_writes(rounds);
	bench_st_put(smoke ? 200 : 10000, smoke ? 20 : 1000);
	bench_restore(smoke ? 1000 : 100000);
	bench_group(16, smoke ? 5 : 200);
	rm_rf(dir);
	return 0;
}
