/* bench/rtable.c - the route table's lookup (daemon/proxy/rtable.c): one route against one
 *   listener with 1,000 domains x 10 rules, in the same run.
 *
 *   build/bench_rtable [--smoke] [--req-per-cpu-s N]
 *
 * Both tables see the same 4,096 request paths (a rule's path plus "/item/42?x=1", so the walk
 * goes as deep as the big table's trees); the one-route table's Host is always its one domain,
 * the big table's Hosts spread at random over its 1,000 domains, so that its lookups touch as
 * much of it as real traffic would. Every lookup is one px_rt_lookup(): Host (with a port) to
 * domain, normalization into a stack buffer, longest prefix. Rounds alternate between the two
 * tables and a third case, the big table with every request to one of its domains (which tells
 * the cache misses of 1,000 domains from the deeper walk). Printed: the median round's ns per
 * lookup, the ratio, and the difference as a share of one proxied request at N requests per
 * CPU-second (default 67,100: gaapd's workload a., bench/README.md). Markdown.
 * --smoke: small counts (CTest bench_rtable_smoke: that it runs and routes, never a time).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/rtable.h"
#include "rtable_big.h"   /* tests/unit: the table test_px_rtable checks */

#define NREQ 4096
#define NROUNDS 9

struct req {
	char host[32], path[64];
	size_t host_len, path_len;
};

static struct req one_reqs[NREQ], big_reqs[NREQ], hot_reqs[NREQ];

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "bench_rtable: %s: %s\n", what, err);
	exit(1);
}

/* The one route: d0.example.com, rule "/". */
static struct px_rt *one_route(void)
{
	struct px_rt_domain_in d = { "d0.example.com", 0 };
	struct px_rt_rule_in r = { "rule-0", 0, "/", NULL };
	char err[256];
	struct px_rt *t = px_rt_create(&d, 1, &r, 1, err, sizeof err);
	if (t == NULL)
		die("px_rt_create", err);
	return t;
}

/* The same paths for one and big; the Host of the one route, or of a random domain of the big
 * table. hot: the big table with domain 0's Host and paths (its cache stays warm). */
static void requests(void)
{
	uint64_t x = 88172645463325252ULL;  /* xorshift64: the same requests every run */
	for (size_t k = 0; k < NREQ; k++) {
		unsigned i, j;
		char rule[32];
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = (unsigned)(x % RT_BIG_NDOM);
		j = (unsigned)((x >> 32) % RT_BIG_NRULE);
		rt_big_path(rule, sizeof rule, i, j);
		snprintf(big_reqs[k].path, sizeof big_reqs[k].path, "%s/item/42?x=1", rule);
		snprintf(big_reqs[k].host, sizeof big_reqs[k].host, "d%u.example.com:8080", i);
		memcpy(one_reqs[k].path, big_reqs[k].path, sizeof one_reqs[k].path);
		snprintf(one_reqs[k].host, sizeof one_reqs[k].host, "d%u.example.com:8080", 0u);
		big_reqs[k].host_len = strlen(big_reqs[k].host);
		one_reqs[k].host_len = strlen(one_reqs[k].host);
		big_reqs[k].path_len = one_reqs[k].path_len = strlen(big_reqs[k].path);
		rt_big_path(rule, sizeof rule, 0, j);
		snprintf(hot_reqs[k].path, sizeof hot_reqs[k].path, "%s/item/42?x=1", rule);
		hot_reqs[k].path_len = strlen(hot_reqs[k].path);
		memcpy(hot_reqs[k].host, one_reqs[k].host, sizeof hot_reqs[k].host);
		hot_reqs[k].host_len = one_reqs[k].host_len;
	}
}

/* n lookups; ns per lookup. Every one must find a rule. */
static double run(const struct px_rt *t, const struct req *reqs, size_t n)
{
	char buf[PX_RT_PATH_MAX];
	struct px_rt_match m;
	size_t found = 0;
	double t0 = now_ns();
	for (size_t k = 0; k < n; k++) {
		const struct req *q = &reqs[k % NREQ];
		found += px_rt_lookup(t, q->host, q->host_len, q->path, q->path_len, buf,
			sizeof buf, &m) == PX_RT_FOUND;
	}
	if (found != n)
		die("lookup", "a request found no rule");
	return (now_ns() - t0) / (double)n;
}

/* A table row of the rounds' ns per lookup; the median. */
static double row(const char *what, double *v, size_t n)
{
	qsort(v, NROUNDS, sizeof(*v), cmp_double);
	printf("| %s | %zu | %.1f [%.1f-%.1f] |\n", what, n, v[NROUNDS / 2], v[0], v[NROUNDS - 1]);
	return v[NROUNDS / 2];
}

int main(int argc, char **argv)
{
	int smoke = 0;
	char err[256];
	double per_cpu_s = 67100, one[NROUNDS], big[NROUNDS], hot[NROUNDS], t0, m1, mb;
	size_t n;
	struct px_rt *t1, *tb;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--smoke") == 0)
			smoke = 1;
		else if (strcmp(argv[i], "--req-per-cpu-s") == 0 && i + 1 < argc)
			per_cpu_s = atof(argv[++i]);
		else
			die("usage", "bench_rtable [--smoke] [--req-per-cpu-s N]");
	n = smoke ? 20000 : 4000000;
	requests();
	t0 = now_ns();
	if ((tb = rt_big_create(err, sizeof err)) == NULL)
		die("px_rt_create", err);
	printf("build of %u domains x %u rules: %.2f ms\n\n", RT_BIG_NDOM, RT_BIG_NRULE,
		(now_ns() - t0) / 1e6);
	t1 = one_route();
	for (int r = 0; r < NROUNDS; r++) {
		one[r] = run(t1, one_reqs, n);
		big[r] = run(tb, big_reqs, n);
		hot[r] = run(tb, hot_reqs, n);
	}
	printf("| table | lookups per round | ns per lookup, median [min-max] of %d rounds |\n",
		NROUNDS);
	printf("|---|---:|---:|\n");
	m1 = row("1 domain x 1 rule", one, n);
	mb = row("1000 domains x 10 rules", big, n);
	row("the same, one domain's Host and paths", hot, n);
	printf("\nratio big / one: %.2fx; difference %.1f ns = %.2f %% of one request at %.0f req "
		"per CPU-s\n", mb / m1, mb - m1, (mb - m1) * per_cpu_s / 1e7, per_cpu_s);
	px_rt_destroy(t1);
	px_rt_destroy(tb);
	return 0;
}
