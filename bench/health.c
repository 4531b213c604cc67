/* bench/health.c - the active health checker (daemon/health) on its own: N real servers on
 *   127.0.0.1, each checked every delay_ms, and the checker thread's CPU per probe.
 *
 *   build/bench_health [--smoke] [--targets N] [--delay-ms MS] [--rounds R] [--round-s S]
 *                      [--no-floor] [--keepalive]
 *   build/bench_health [--keepalive] --serve N  (the origins alone: their ports on stdout, one a
 *                                      line, then serves until stdin closes; bench/health.py)
 *
 * The origins run in a child process (one epoll loop, N listening sockets; each connection's
 * request is read once, answered "200 OK", Content-Length: 0, Connection: close, and closed; with
 * --keepalive, answered without Connection: close and kept for the next request, as most servers
 * do), so their CPU is never the checker's. This process starts a real checker (hc_start()) and N targets (hc_target_get():
 * HEAD /, Host bench.example, 2xx/3xx healthy, ConnectTimeout = delay_ms), one per origin port,
 * as N rules checking N bindings would (DelayLoop = delay_ms / 1000).
 *
 * The checker's CPU: its thread is the one hc_start() adds to /proc/self/task (listed before and
 * after). Its CPU time is read with clock_gettime() on that thread's CPU clock, built from its
 * TID as glibc's pthread_getcpuclockid() builds it (the kernel's posix-cpu-timers ABI:
 * ((~tid) << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED): nanoseconds, user + system, of that one
 * thread. getrusage(RUSAGE_THREAD) and CLOCK_THREAD_CPUTIME_ID read the calling thread only,
 * and /proc/self/task/TID/stat counts 10 ms ticks; the ticks give the user/system split.
 * Kernel work that loopback does on the origin's side (its half of each connection, in its own
 * system calls and softirqs) is the origin's, reported apart.
 *
 * The peer, in the same rounds (unless --no-floor): a thread of this process making the same
 * probes to the same origins at the same rate with blocking system calls and nothing else
 * (socket, connect, one write, one read, close), its CPU read the same way: what any prober
 * pays the kernel, plus a sleep and a wake-up per probe, which an event loop does not pay. With
 * --keepalive the floor keeps a connection per origin too (one write, one read per probe; a new
 * connection only when one fails).
 *
 * After a warm-up of 2 x delay_ms (every target has made its first, jittered probe), R rounds
 * of S seconds each (default 5 x 2 s = 10 s): probes finished (summed over the targets'
 * hc_target_read()), the checker's CPU over the round, the wall time. Printed (Markdown): per
 * round and median [min-max], probes/s, CPU us per probe, the checker's share of one CPU, its
 * system share (ticks); the origins' CPU per probe; the floor's CPU per probe and checker ÷
 * floor; failures and targets down at the end.
 * --smoke: 50 targets, one round of 1 s (CTest bench_health_smoke): exits 1 only if no probe
 * finished or a probe failed, never for a time.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "health/hc.h"
#include "upstream/ups.h"

#define MAX_TARGETS 15000
#define MAX_ROUNDS 50

struct opts {
	unsigned targets, delay_ms, rounds, round_s;
	int smoke, floor;
};

/* --keepalive: the origins keep connections, the floor reuses them (the checker does anyway
 * when the origin lets it). Set before the origins fork. */
static int keepalive;

static void die(const char *what)
{
	fprintf(stderr, "bench_health: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- the origins (child process) ---- */

static int listen_one(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 1024) != 0)
		die("origin: listen");
	return fd;
}

static unsigned port_of(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	if (getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		die("origin: getsockname");
	return ntohs(sin.sin_port);
}

/* A connection's request, read once (a probe's fits in one segment), answered and closed (with
 * --keepalive: left in the set for the next one, closed at its EOF). A connection whose request
 * has not come yet stays in the set (EPOLLIN, tagged by fd + 1 << 32). */
static void answer(int ep, int fd)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	static const char kept[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char buf[2048];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && keepalive && write(fd, kept, sizeof kept - 1) == (ssize_t)(sizeof kept - 1))
		return;
	if (n > 0 && !keepalive && write(fd, ok, sizeof ok - 1) < 0)
		n = -1;
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

static void accept_all(int ep, int lfd)
{
	int fd;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)fd | 1ull << 32 };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			close(fd);
	}
}

/* Serves until ctl (the parent's pipe, or stdin) reads EOF. */
static void origin_loop(const int *lfds, unsigned n, int ctl)
{
	struct epoll_event evs[256], ev = { .events = EPOLLIN, .data.u64 = 1ull << 33 };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &ev) != 0)
		die("origin: epoll");
	for (unsigned i = 0; i < n; i++) {
		ev.data.u64 = (uint64_t)lfds[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfds[i], &ev) != 0)
			die("origin: epoll_ctl");
	}
	for (;;) {
		int k = epoll_wait(ep, evs, 256, -1);
		if (k < 0 && errno != EINTR)
			die("origin: epoll_wait");
		for (int i = 0; i < k; i++) {
			uint64_t u = evs[i].data.u64;
			if (u & 1ull << 33)
				return;             /* the parent is gone, or closed its end */
			if (u & 1ull << 32)
				answer(ep, (int)(uint32_t)u);
			else
				accept_all(ep, (int)u);
		}
	}
}

/* Forks the origins: their ports into ports[], their pid returned; *ctl: closing it stops them. */
static pid_t origins_start(unsigned n, unsigned *ports, int *ctl)
{
	int cp[2], pp[2];
	pid_t pid;
	if (pipe2(cp, O_CLOEXEC) != 0 || pipe2(pp, O_CLOEXEC) != 0)
		die("pipe");
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		int *lfds = calloc(n, sizeof *lfds);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(cp[1]);
		close(pp[0]);
		for (unsigned i = 0; i < n; i++) {
			lfds[i] = listen_one();
			ports[i] = port_of(lfds[i]);
		}
		if (write(pp[1], ports, n * sizeof *ports) != (ssize_t)(n * sizeof *ports))
			die("origin: pipe");
		close(pp[1]);
		origin_loop(lfds, n, cp[0]);
		_exit(0);
	}
	close(cp[0]);
	close(pp[1]);
	for (size_t got = 0; got < n * sizeof *ports;) {
		ssize_t r = read(pp[0], (char *)ports + got, n * sizeof *ports - got);
		if (r <= 0)
			die("origins did not start");
		got += (size_t)r;
	}
	close(pp[0]);
	*ctl = cp[1];
	return pid;
}

/* --serve N: the origins in this process, for scripts (bench/health.py). */
static int serve(unsigned n)
{
	int *lfds = calloc(n, sizeof *lfds);
	if (lfds == NULL)
		die("calloc");
	for (unsigned i = 0; i < n; i++) {
		lfds[i] = listen_one();
		printf("%u\n", port_of(lfds[i]));
	}
	fflush(stdout);
	origin_loop(lfds, n, 0);
	return 0;
}

/* ---- the checker's thread and its CPU ---- */

/* The TIDs of this process's threads, sorted; their count. */
static size_t tids(pid_t *out, size_t max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t n = 0;
	if (d == NULL)
		die("/proc/self/task");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && n < max)
			out[n++] = (pid_t)atoi(e->d_name);
	closedir(d);
	return n;
}

/* The one thread in after[] and not in before[]. */
static pid_t new_thread(const pid_t *before, size_t nb, const pid_t *after, size_t na)
{
	pid_t found = 0;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && before[j] != after[i])
			j++;
		if (j == nb) {
			if (found != 0) {
				fprintf(stderr, "bench_health: hc_start() added more than one thread\n");
				exit(1);
			}
			found = after[i];
		}
	}
	if (found == 0) {
		fprintf(stderr, "bench_health: no checker thread found\n");
		exit(1);
	}
	return found;
}

/* tid's CPU time (user + system), ns: its thread CPU clock (the header comment). */
static int64_t thread_cpu_ns(pid_t tid)
{
	clockid_t clk = (clockid_t)((~(unsigned)tid << 3) | 4u | 2u);
	struct timespec t;
	if (clock_gettime(clk, &t) != 0)
		die("clock_gettime(thread CPU clock)");
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* utime and stime, in clock ticks, of /proc/<path>/stat (a thread's, or a process's). */
static void stat_ticks(const char *path, uint64_t *ut, uint64_t *st)
{
	char buf[1024], *p;
	FILE *f = fopen(path, "r");
	size_t n;
	*ut = *st = 0;
	if (f == NULL)
		return;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return;
	/* after "pid (comm)": state is field 3, utime 14, stime 15 */
	if (sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %lu",
	    (unsigned long *)ut, (unsigned long *)st) != 2)
		*ut = *st = 0;
}

/* ---- the floor: the same probes, blocking system calls and nothing else ---- */

/* A thread of this process probes the same origins at the same rate, in the same rounds: a
 * blocking socket, connect(), the checker's request in one write(), one read() of the answer,
 * close(). What any prober must spend in the kernel and little more; the checker's figure over
 * it is what its event loop, timers, bufferevents and parser add. */
struct floor {
	const unsigned *ports;
	int *fds;                       /* --keepalive: each origin's kept connection, or -1 */
	unsigned n, delay_ms;
	atomic_int stop;
	atomic_uint_fast64_t probes, failures;
	atomic_int tid;
};

static int floor_connect(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* One request on fd and its answer, read once (it fits in one segment): 1 if it is a 200. */
static int floor_ask(int fd)
{
	static const char req[] = "HEAD / HTTP/1.1\r\nHost: bench.example\r\nConnection: close\r\n"
		"User-Agent: gaapd-health\r\n\r\n";
	static const char kreq[] = "HEAD / HTTP/1.1\r\nHost: bench.example\r\n"
		"Connection: keep-alive\r\nUser-Agent: gaapd-health\r\n\r\n";
	const char *r = keepalive ? kreq : req;
	size_t len = keepalive ? sizeof kreq - 1 : sizeof req - 1;
	char buf[512];
	return write(fd, r, len) == (ssize_t)len && read(fd, buf, sizeof buf) > 12 &&
		memcmp(buf, "HTTP/1.1 200", 12) == 0;
}

/* Origin i probed: on a new connection, closed after; with --keepalive on the kept one, and a new
 * one (once) when it fails. */
static int floor_probe(struct floor *f, unsigned i)
{
	int fd, ok;
	if (keepalive && f->fds[i] >= 0) {
		if (floor_ask(f->fds[i]))
			return 1;
		close(f->fds[i]);
		f->fds[i] = -1;
	}
	if ((fd = floor_connect(f->ports[i])) < 0)
		return 0;
	ok = floor_ask(fd);
	if (keepalive && ok)
		f->fds[i] = fd;
	else
		close(fd);
	return ok;
}

/* n probes per delay_ms, paced on the clock: whatever is due every millisecond. */
static void *floor_loop(void *arg)
{
	struct floor *f = arg;
	double t0 = now_s(), rate = (double)f->n * 1000.0 / f->delay_ms;
	uint64_t done = 0;
	atomic_store(&f->tid, (int)gettid());
	while (!atomic_load(&f->stop)) {
		uint64_t due = (uint64_t)((now_s() - t0) * rate);
		for (; done < due; done++) {
			if (!floor_probe(f, (unsigned)(done % f->n)))
				atomic_fetch_add(&f->failures, 1);
			atomic_fetch_add(&f->probes, 1);
		}
		usleep(1000);
	}
	for (unsigned i = 0; keepalive && i < f->n; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	return NULL;
}

/* ---- the bench ---- */

struct sample {
	double wall;
	int64_t cpu_ns;
	uint64_t ut, st;                /* the checker thread's ticks */
	uint64_t out, ost;              /* the origins' ticks */
	uint64_t probes, failures;
	unsigned down;
	int64_t floor_ns;               /* the floor thread's CPU */
	uint64_t floor_probes, floor_failures;
};

struct bench {
	struct opts o;
	pid_t tid, origin_pid;
	struct hc_target **t;
	char tstat[64], ostat[64];
	struct floor fl;
	pthread_t flth;
};

static void sample(const struct bench *b, struct sample *s)
{
	s->probes = s->failures = 0;
	s->down = 0;
	for (unsigned i = 0; i < b->o.targets; i++) {
		struct hc_snap sn;
		hc_target_read(b->t[i], &sn);
		s->probes += sn.probes;
		s->failures += sn.probe_failures;
		s->down += !sn.up;
	}
	s->cpu_ns = thread_cpu_ns(b->tid);
	s->floor_ns = b->o.floor ? thread_cpu_ns(atomic_load(&b->fl.tid)) : 0;
	s->floor_probes = atomic_load(&b->fl.probes);
	s->floor_failures = atomic_load(&b->fl.failures);
	s->wall = now_s();
	stat_ticks(b->tstat, &s->ut, &s->st);
	stat_ticks(b->ostat, &s->out, &s->ost);
}

static struct hc_params params(unsigned delay_ms)
{
	struct hc_params p;
	memset(&p, 0, sizeof p);
	p.delay_ms = delay_ms;
	p.timeout_ms = delay_ms;
	snprintf(p.method, sizeof p.method, "HEAD");
	snprintf(p.path, sizeof p.path, "/");
	snprintf(p.host, sizeof p.host, "bench.example");
	p.status_classes = 1u << 2 | 1u << 3;
	return p;
}

/* The checker, its thread found, and a target per origin port. */
static struct hc_checker *checker_start(struct bench *b, struct ups_reg *reg,
	const unsigned *ports)
{
	static pid_t before[64], after[64];
	struct hc_params p = params(b->o.delay_ms);
	size_t nb = tids(before, 64), na;
	char err[128];
	struct hc_checker *c = hc_start(reg, err, sizeof err);
	if (c == NULL) {
		fprintf(stderr, "bench_health: %s\n", err);
		exit(1);
	}
	na = tids(after, 64);
	b->tid = new_thread(before, nb, after, na);
	snprintf(b->tstat, sizeof b->tstat, "/proc/self/task/%d/stat", (int)b->tid);
	for (unsigned i = 0; i < b->o.targets; i++) {
		struct cfg_addr a;
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
		memset(&a, 0, sizeof a);
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)ports[i]);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.len = sizeof *sin;
		snprintf(a.text, sizeof a.text, "127.0.0.1:%u", ports[i]);
		if ((b->t[i] = hc_target_get(c, &a, &p)) == NULL)
			die("hc_target_get");
	}
	return c;
}

static void floor_start(struct bench *b, const unsigned *ports)
{
	b->fl.ports = ports;
	b->fl.n = b->o.targets;
	if (keepalive && (b->fl.fds = malloc(b->o.targets * sizeof *b->fl.fds)) == NULL)
		die("malloc");
	for (unsigned i = 0; keepalive && i < b->o.targets; i++)
		b->fl.fds[i] = -1;
	b->fl.delay_ms = b->o.delay_ms;
	if (!b->o.floor)
		return;
	errno = pthread_create(&b->flth, NULL, floor_loop, &b->fl);
	if (errno != 0)
		die("pthread_create");
	while (atomic_load(&b->fl.tid) == 0)
		usleep(1000);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* "median [min-max]" of v[0..n), each with dec decimals. */
static void stat3(char *out, size_t len, double *v, unsigned n, int dec)
{
	qsort(v, n, sizeof *v, cmp_double);
	snprintf(out, len, "%.*f [%.*f–%.*f]", dec, v[n / 2], dec, v[0], dec, v[n - 1]);
}

struct figs {
	double pps[MAX_ROUNDS], us[MAX_ROUNDS], share[MAX_ROUNDS], ous[MAX_ROUNDS];
	double sys[MAX_ROUNDS], fus[MAX_ROUNDS], ratio[MAX_ROUNDS];
};

/* One round's figures from the samples before and after it; printed as a table row. */
static void round_row(struct figs *f, unsigned r, const struct sample *s0,
	const struct sample *s1)
{
	double wall = s1->wall - s0->wall, probes = (double)(s1->probes - s0->probes);
	double cpu_us = (double)(s1->cpu_ns - s0->cpu_ns) / 1e3;
	double fprobes = (double)(s1->floor_probes - s0->floor_probes);
	double ticks = (double)(s1->ut - s0->ut + s1->st - s0->st);
	double oticks = (double)(s1->out - s0->out + s1->ost - s0->ost);
	double tick_us = 1e6 / (double)sysconf(_SC_CLK_TCK);
	f->pps[r] = probes / wall;
	f->us[r] = probes > 0 ? cpu_us / probes : 0;
	f->share[r] = cpu_us / (wall * 1e6) * 100;
	f->sys[r] = ticks > 0 ? (double)(s1->st - s0->st) / ticks * 100 : 0;
	/* the origins answer the floor's probes too */
	f->ous[r] = probes + fprobes > 0 ? oticks * tick_us / (probes + fprobes) : 0;
	f->fus[r] = fprobes > 0 ? (double)(s1->floor_ns - s0->floor_ns) / 1e3 / fprobes : 0;
	f->ratio[r] = f->fus[r] > 0 ? f->us[r] / f->fus[r] : 0;
	printf("| %u | %.2f | %.0f | %.0f | %.1f | %.2f | %.1f | %.0f %% | %.1f | %.0f | %.2f "
		"| %.2f |\n", r + 1, wall, probes, f->pps[r], cpu_us / 1e3, f->us[r], f->share[r],
		f->sys[r], f->ous[r], fprobes, f->fus[r], f->ratio[r]);
}

static void summary(struct figs *f, unsigned n, const struct sample *end, int floor)
{
	char pps[96], us[96], share[96], ous[96], fus[96], ratio[96];
	stat3(pps, sizeof pps, f->pps, n, 0);
	stat3(us, sizeof us, f->us, n, 2);
	stat3(share, sizeof share, f->share, n, 1);
	stat3(ous, sizeof ous, f->ous, n, 1);
	stat3(fus, sizeof fus, f->fus, n, 2);
	stat3(ratio, sizeof ratio, f->ratio, n, 2);
	printf("\nMedian [min–max] over %u rounds:\n\n", n);
	printf("- probes/s: %s\n", pps);
	printf("- checker CPU per probe: **%s µs**\n", us);
	printf("- checker CPU, %% of one core: %s\n", share);
	printf("- the origins' CPU per probe (their half of loopback): %s µs\n", ous);
	if (floor) {
		printf("- the floor's CPU per probe (blocking calls, same origins, same rounds): "
			"%s µs\n", fus);
		printf("- **checker ÷ floor: %s**\n", ratio);
	}
	printf("- at the end: %llu probes, %llu failed, %u of the targets down; the floor: %llu "
		"probes, %llu failed\n", (unsigned long long)end->probes,
		(unsigned long long)end->failures, end->down, (unsigned long long)end->floor_probes,
		(unsigned long long)end->floor_failures);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_health [--smoke] [--targets N] [--delay-ms MS] "
		"[--rounds R] [--round-s S] [--no-floor] [--keepalive]\n"
		"       bench_health [--keepalive] --serve N\n");
	exit(2);
}

static unsigned num(const char *s, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v = s != NULL ? strtoul(s, &end, 10) : 0;
	if (s == NULL || *end != '\0' || v < lo || v > hi)
		usage();
	return (unsigned)v;
}

static struct opts parse(int argc, char **argv)
{
	struct opts o = { 1000, 1000, 5, 2, 0, 1 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--keepalive") == 0) {
			keepalive = 1;
			continue;
		}
		if (strcmp(a, "--smoke") == 0 || strcmp(a, "--no-floor") == 0) {
			if (a[2] == 's')
				o.smoke = 1, o.targets = 50, o.rounds = 1, o.round_s = 1;
			else
				o.floor = 0;
			continue;
		}
		if (strcmp(a, "--serve") == 0)
			exit(serve(num(v, 1, MAX_TARGETS)));
		else if (strcmp(a, "--targets") == 0)
			o.targets = num(v, 1, MAX_TARGETS);
		else if (strcmp(a, "--delay-ms") == 0)
			o.delay_ms = num(v, 10, 60000);
		else if (strcmp(a, "--rounds") == 0)
			o.rounds = num(v, 1, MAX_ROUNDS);
		else if (strcmp(a, "--round-s") == 0)
			o.round_s = num(v, 1, 600);
		else
			usage();
		i++;
	}
	return o;
}

/* Enough descriptors for N listening sockets (the origins) and N probes in flight; with
 * --keepalive, the origins hold 3 N (listening, the checker's and the floor's connections; 2 N
 * with --no-floor). */
static void raise_nofile(unsigned n)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < (rlim_t)n + 100) {
		fprintf(stderr, "bench_health: %u targets need %u descriptors, the limit is %lu\n", n,
			n + 100, (unsigned long)r.rlim_cur);
		exit(1);
	}
}

/* The targets' last errors, the first 4 kinds and how many targets ended with each. */
static void why_failed(const struct bench *b)
{
	char kinds[4][64];
	unsigned counts[4] = { 0 }, nk = 0;
	for (unsigned i = 0; i < b->o.targets; i++) {
		struct hc_snap sn;
		unsigned k = 0;
		hc_target_read(b->t[i], &sn);
		if (sn.last_error[0] == '\0')
			continue;
		while (k < nk && strcmp(kinds[k], sn.last_error) != 0)
			k++;
		if (k == nk && nk < 4)
			snprintf(kinds[nk++], sizeof kinds[0], "%s", sn.last_error);
		if (k < nk)
			counts[k]++;
	}
	for (unsigned k = 0; k < nk; k++)
		printf("- last error \"%s\": %u targets\n", kinds[k], counts[k]);
}

static void run(struct bench *b, struct sample *end)
{
	struct figs f;
	struct sample s0, s1;
	/* every target's first probe is jittered over [0, delay_ms): two delays make them regular */
	usleep(2 * b->o.delay_ms * 1000);
	printf("| round | s | probes | probes/s | checker CPU ms | µs/probe | %% of a core "
		"| system | origins µs/probe | floor probes | floor µs/probe | checker ÷ floor |\n"
		"|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	sample(b, &s0);
	for (unsigned r = 0; r < b->o.rounds; r++) {
		usleep(b->o.round_s * 1000000);
		sample(b, &s1);
		round_row(&f, r, &s0, &s1);
		s0 = s1;
	}
	summary(&f, b->o.rounds, &s1, b->o.floor);
	*end = s1;
}

int main(int argc, char **argv)
{
	struct bench b = { .o = parse(argc, argv) };
	unsigned *ports;
	struct ups_reg *reg;
	struct hc_checker *c;
	struct sample end;
	int ctl, st;
	raise_nofile(keepalive ? (b.o.floor ? 3 : 2) * b.o.targets : b.o.targets);
	if (evthread_use_pthreads() != 0 || (reg = ups_reg_new()) == NULL ||
	    (ports = calloc(b.o.targets, sizeof *ports)) == NULL ||
	    (b.t = calloc(b.o.targets, sizeof *b.t)) == NULL)
		die("setup");
	b.origin_pid = origins_start(b.o.targets, ports, &ctl);
	snprintf(b.ostat, sizeof b.ostat, "/proc/%d/stat", (int)b.origin_pid);
	printf("## bench_health: %u targets, DelayLoop %u ms, HEAD /, %u x %u s, origins %s\n\n",
		b.o.targets, b.o.delay_ms, b.o.rounds, b.o.round_s,
		keepalive ? "keeping connections" : "closing after each answer");
	c = checker_start(&b, reg, ports);
	floor_start(&b, ports);
	run(&b, &end);
	atomic_store(&b.fl.stop, 1);
	if (b.o.floor)
		pthread_join(b.flth, NULL);
	why_failed(&b);
	for (unsigned i = 0; i < b.o.targets; i++)
		hc_target_put(b.t[i]);
	hc_stop(c);
	ups_reg_unref(reg);
	close(ctl);
	waitpid(b.origin_pid, &st, 0);
	free(ports);
	free(b.t);
	free(b.fl.fds);
	if (b.o.smoke && (end.probes == 0 || end.failures != 0 || end.down != 0 ||
	    end.floor_failures != 0)) {
		fprintf(stderr, "bench_health: smoke: no probe finished, or some failed\n");
		return 1;
	}
	return 0;
}
