/* tests/unit/etcd_harness.c - real etcd members for tests (etcd_harness.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "etcd_harness.h"

#define EH_READY_MS 20000
#define EH_STOP_MS 5000

long long eh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void eh_nap(int ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 }, NULL);
}

/* Ports come from below the kernel's ephemeral range (as tests/e2e/harness.py's free_port()):
 * one the kernel handed out as free may become a connection's local port a moment later, and a
 * member restarted on its old port must still find it free. */
unsigned eh_free_port(void)
{
	static unsigned base = 10000, size = 1000, next;
	static int init;
	unsigned low = 0;
	if (!init) {
		FILE *fp = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
		if (fp != NULL && fscanf(fp, "%u", &low) == 1 && low > base + size)
			size = low - base;
		if (fp != NULL)
			fclose(fp);
		srand((unsigned)getpid() ^ (unsigned)time(NULL));
		next = (unsigned)rand() % size;
		init = 1;
	}
	for (unsigned i = 0; i < size; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		unsigned port = base + next;
		next = (next + 1) % size;
		a.sin_port = htons((uint16_t)port);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int r = fd >= 0 ? bind(fd, (struct sockaddr *)&a, sizeof a) : -1;
		if (fd >= 0)
			close(fd);
		if (r == 0)
			return port;
	}
	return 0;
}

/* GET /health on the member's client port, one short blocking exchange: 1 healthy, else 0. */
static int healthy(const struct eh_member *m)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)m->client_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 1, 0 };
	char buf[2048];
	size_t got = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		"Connection: close\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0
			|| write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
		close(fd);
		return 0;
	}
	while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	close(fd);
	return strstr(buf, "\"health\":\"true\"") != NULL;
}

static void spawn(struct eh_cluster *cl, struct eh_member *m)
{
	char data[200], log[200], peer[64];
	const char *bin = getenv("ETCD_BIN") != NULL ? getenv("ETCD_BIN") : "etcd";
	snprintf(data, sizeof data, "%s/%s.etcd", cl->dir, m->name);
	snprintf(log, sizeof log, "%s/%s.log", cl->dir, m->name);
	snprintf(peer, sizeof peer, "http://127.0.0.1:%u", m->peer_port);
	pid_t pid = fork();
	if (pid != 0) {
		m->pid = pid > 0 ? pid : 0;
		return;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);       /* never outlive the test */
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	/* Short heartbeats and elections: a cluster that lost its leader recovers in a second. */
	execlp(bin, bin, "--name", m->name, "--data-dir", data,
		"--listen-client-urls", m->url, "--advertise-client-urls", m->url,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", cl->initial, "--initial-cluster-state", "new",
		"--initial-cluster-token", cl->dir, "--heartbeat-interval", "50",
		"--election-timeout", "500", "--logger", "zap", "--log-outputs", "stderr",
		(char *)NULL);
	fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/* Wait until member i answers healthy, or it died, or the deadline passed. */
static int wait_ready(struct eh_cluster *cl, size_t i, long long deadline)
{
	struct eh_member *m = &cl->m[i];
	int st;
	while (eh_now_ms() < deadline) {
		if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
			fprintf(stderr, "etcd %s exited (status %d): see %s/%s.log\n", m->name, st,
				cl->dir, m->name);
			m->pid = 0;
			return -1;
		}
		if (healthy(m))
			return 0;
		eh_nap(50);
	}
	fprintf(stderr, "etcd %s: not healthy within %d ms: see %s/%s.log\n", m->name,
		EH_READY_MS, cl->dir, m->name);
	return -1;
}

int eh_start(struct eh_cluster *cl, size_t n)
{
	size_t len = 0;
	memset(cl, 0, sizeof *cl);
	snprintf(cl->dir, sizeof cl->dir, "/tmp/gaapd-etcd-XXXXXX");
	if (n == 0 || n > EH_MAX || mkdtemp(cl->dir) == NULL) {
		fprintf(stderr, "etcd harness: %zu members, or mkdtemp: %s\n", n, strerror(errno));
		return -1;
	}
	cl->n = n;
	for (size_t i = 0; i < n; i++) {
		struct eh_member *m = &cl->m[i];
		snprintf(m->name, sizeof m->name, "m%zu", i);
		m->client_port = eh_free_port();
		m->peer_port = eh_free_port();
		snprintf(m->url, sizeof m->url, "http://127.0.0.1:%u", m->client_port);
		len += (size_t)snprintf(cl->initial + len, sizeof cl->initial - len,
			"%s%s=http://127.0.0.1:%u", i > 0 ? "," : "", m->name, m->peer_port);
	}
	for (size_t i = 0; i < n; i++)
		spawn(cl, &cl->m[i]);
	long long deadline = eh_now_ms() + EH_READY_MS;
	for (size_t i = 0; i < n; i++)
		if (cl->m[i].pid == 0 || wait_ready(cl, i, deadline) != 0) {
			eh_stop(cl);
			return -1;
		}
	return 0;
}

void eh_stop_member(struct eh_cluster *cl, size_t i)
{
	struct eh_member *m = &cl->m[i];
	int st;
	if (m->pid == 0)
		return;
	kill(m->pid, SIGTERM);
	long long deadline = eh_now_ms() + EH_STOP_MS;
	while (waitpid(m->pid, &st, WNOHANG) == 0) {
		if (eh_now_ms() > deadline) {
			kill(m->pid, SIGKILL);
			waitpid(m->pid, &st, 0);
			break;
		}
		eh_nap(20);
	}
	m->pid = 0;
}

int eh_start_member(struct eh_cluster *cl, size_t i)
{
	spawn(cl, &cl->m[i]);
	if (cl->m[i].pid == 0)
		return -1;
	return wait_ready(cl, i, eh_now_ms() + EH_READY_MS);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void eh_stop(struct eh_cluster *cl)
{
	for (size_t i = 0; i < cl->n; i++)
		eh_stop_member(cl, i);
	if (cl->dir[0] != '\0')
		nftw(cl->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	cl->dir[0] = '\0';
}

struct eh_cluster eh_one;

int eh_setup_one(void **state)
{
	(void)state;
	return eh_start(&eh_one, 1);
}

int eh_teardown_one(void **state)
{
	(void)state;
	eh_stop(&eh_one);
	return 0;
}
