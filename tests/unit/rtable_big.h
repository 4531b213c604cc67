/* tests/unit/rtable_big.h - one listener's 1,000 domains x 10 rules, the same for
 *   test_px_rtable (every rule found by its own path) and bench/rtable.c (lookup cost against
 *   one route): d<i>.example.com, rules with shared prefixes (/a, /a/, /a/b; /api, /api/v1,
 *   /api/v10), three paths of the domain's own, no "/" rule (so that misses are misses).
 *   Rule j of domain i has id and path rt_big_path(i, j) and target (void *)(i * 10 + j + 1).
 * Ownership: the table is the caller's (px_rt_destroy()). Threads: one at a time (static input).
 */
#ifndef GAAPD_TESTS_RTABLE_BIG_H
#define GAAPD_TESTS_RTABLE_BIG_H

#include <stdint.h>
#include <stdio.h>

#include "proxy/rtable.h"

#define RT_BIG_NDOM 1000
#define RT_BIG_NRULE 10

static void rt_big_path(char *out, size_t size, unsigned i, unsigned j)
{
	static const char *fixed[] = { "/0", "/a", "/a/", "/a/b", "/api", "/api/v1", "/api/v10" };
	if (j == 7)
		snprintf(out, size, "/d%u", i);
	else if (j == 8)
		snprintf(out, size, "/x/%u/y", i);
	else if (j == 9)
		snprintf(out, size, "/x/%u/y/%u", i, i);
	else
		snprintf(out, size, "%s", fixed[j]);
}

/* The table, or NULL with px_rt_create()'s reason in err. */
static struct px_rt *rt_big_create(char *err, size_t errlen)
{
	static char names[RT_BIG_NDOM][32], paths[RT_BIG_NDOM][RT_BIG_NRULE][32];
	static struct px_rt_domain_in d[RT_BIG_NDOM];
	static struct px_rt_rule_in r[RT_BIG_NDOM * RT_BIG_NRULE];
	for (unsigned i = 0; i < RT_BIG_NDOM; i++) {
		snprintf(names[i], sizeof names[i], "d%u.Example.com", i);
		d[i] = (struct px_rt_domain_in){ names[i], 0 };
		for (unsigned j = 0; j < RT_BIG_NRULE; j++) {
			unsigned k = i * RT_BIG_NRULE + j;
			rt_big_path(paths[i][j], sizeof paths[i][j], i, j);
			r[k] = (struct px_rt_rule_in){ paths[i][j], i, paths[i][j],
				(void *)(uintptr_t)(k + 1) };
		}
	}
	return px_rt_create(d, RT_BIG_NDOM, r, RT_BIG_NDOM * RT_BIG_NRULE, err, errlen);
}

#endif
