/* tests/unit/test_px_rtable.c - the route table (daemon/proxy/rtable.c): spec l7-and-https.md
 * 9.2 (Host -> domain) and 9.3 (path -> rule) case by case, the path normalization, the build's
 * refusals, and 1,000 domains x 10 rules where every rule is found by its own path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/rtable.h"
#include "rtable_big.h"

/* A lookup as text: the rule's path, or "404 domain", "404 rule", "400", "414". host NULL: no
 * Host. */
static const char *route(const struct px_rt *t, const char *host, const char *path)
{
	static char out[PX_RT_PATH_MAX];
	char buf[PX_RT_PATH_MAX];
	struct px_rt_match m;
	switch (px_rt_lookup(t, host, host ? strlen(host) : 0, path, strlen(path), buf, sizeof buf,
		&m)) {
	case PX_RT_FOUND:
		assert_ptr_equal(m.rule->domain, m.domain);
		assert_ptr_equal(m.target, m.rule->target);    /* from the tree's node */
		snprintf(out, sizeof out, "%s", m.rule->path);
		return out;
	case PX_RT_NO_DOMAIN:
		assert_null(m.domain);
		return "404 domain";
	case PX_RT_NO_RULE:
		assert_non_null(m.domain);
		return "404 rule";
	case PX_RT_BAD_PATH:
		return "400";
	case PX_RT_TOO_LONG:
		return "414";
	}
	return "?";
}

/* The domain a Host selects, by name, or "404". */
static const char *domain_of(const struct px_rt *t, const char *host)
{
	const struct px_rt_domain *d = px_rt_domain(t, host, host ? strlen(host) : 0);
	return d != NULL ? d->name : "404";
}

/* One domain, example.com, with the given rule paths. */
static struct px_rt *one_domain(const char **paths, size_t n)
{
	struct px_rt_domain_in d = { "example.com", 0 };
	struct px_rt_rule_in r[8];
	char err[256] = "";
	struct px_rt *t;
	for (size_t i = 0; i < n; i++)
		r[i] = (struct px_rt_rule_in){ paths[i], 0, paths[i], NULL };
	t = px_rt_create(&d, 1, r, n, err, sizeof err);
	if (t == NULL)
		fail_msg("%s", err);
	return t;
}

/* 9.3.2's table, verbatim: rules /, /api, /api/. */
static void test_spec_path_table(void **state)
{
	static const char *rules[] = { "/api/", "/", "/api" };
	static const char *cases[][2] = {
		{ "/api", "/api" },
		{ "/api/", "/api/" }, { "/api/v1", "/api/" }, { "/a%70i/v1", "/api/" },
		{ "/apix", "/api" }, { "/api.json", "/api" },
		{ "/API", "/" }, { "/other", "/" },
		{ "/api?x=1", "/api" },
	};
	struct px_rt *t = one_domain(rules, 3);
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_string_equal(route(t, "example.com", cases[i][0]), cases[i][1]);
	px_rt_destroy(t);
	t = one_domain(rules, 1);   /* "Without a / rule, /other matches nothing." */
	assert_string_equal(route(t, "example.com", "/other"), "404 rule");
	assert_string_equal(route(t, "example.com", "/api/x"), "/api/");
	assert_string_equal(route(t, "example.com", "/api"), "404 rule");
	px_rt_destroy(t);
}

/* Bytes past 0x7f sort and match as unsigned bytes; a rule's '%' is a plain byte, matched by
 * a decoded "%25"; matching is case-sensitive. */
static void test_rule_bytes(void **state)
{
	static const char *rules[] = { "/z", "/\xc3\xa9", "/a", "/\xc3\xa8x", "/%25", "/~" };
	static const char *cases[][2] = {
		{ "/%C3%A9t", "/\xc3\xa9" }, { "/\xc3\xa9", "/\xc3\xa9" },
		{ "/\xc3\xa8xy", "/\xc3\xa8x" },
		{ "/\xc3\xa8", "404 rule" }, { "/\xc3", "404 rule" }, { "/%2525", "/%25" },
		{ "/%25", "404 rule" }, { "/Z", "404 rule" }, { "/zz", "/z" }, { "/%7E", "/~" },
	};
	struct px_rt *t = one_domain(rules, 6);
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_string_equal(route(t, "example.com", cases[i][0]), cases[i][1]);
	px_rt_destroy(t);
}

static struct px_rt *hosts_table(int with_default)
{
	struct px_rt_domain_in d[] = {
		{ "example.com", 0 }, { "www.Example.ORG", 0 }, { "10.0.0.1", 0 },
		{ "fallback.test", with_default },
	};
	struct px_rt_rule_in r[] = {
		{ "rule-a", 0, "/", (void *)"a" }, { "rule-b", 1, "/", (void *)"b" },
		{ "rule-c", 2, "/", (void *)"c" }, { "rule-d", 3, "/", (void *)"d" },
	};
	char err[256];
	struct px_rt *t = px_rt_create(d, 4, r, 4, err, sizeof err);
	if (t == NULL)
		fail_msg("%s", err);
	return t;
}

/* 9.2: port and one trailing dot removed, any case, IPv6 literals never match, no Host and no
 * match -> the default domain, else 404. "" stands for the default domain below. */
static void test_spec_host(void **state)
{
	static const char *cases[][2] = {
		{ "example.com", "example.com" }, { "example.com:8080", "example.com" },
		{ "example.com.", "example.com" }, { "EXAMPLE.Com.:80", "example.com" },
		{ "www.example.org", "www.example.org" }, { "WWW.EXAMPLE.ORG", "www.example.org" },
		{ "10.0.0.1:80", "10.0.0.1" }, { "fallback.test", "fallback.test" },
		/* no match: the default domain */
		{ "", "" }, { "[::1]:80", "" }, { "[::1]", "" }, { "example.com..", "" },
		{ "xample.com", "" }, { "example.co", "" }, { "a.example.com", "" }, { ".", "" },
		{ ":80", "" }, { "unknown.test", "" },
	};
	struct px_rt *with = hosts_table(1), *without = hosts_table(0);
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *want = cases[i][1][0] != '\0' ? cases[i][1] : NULL;
		assert_string_equal(domain_of(with, cases[i][0]), want ? want : "fallback.test");
		assert_string_equal(domain_of(without, cases[i][0]), want ? want : "404");
	}
	assert_string_equal(domain_of(with, NULL), "fallback.test");        /* HTTP/1.0, no Host */
	assert_string_equal(domain_of(without, NULL), "404");
	assert_string_equal(route(with, "Example.com:80", "/x"), "/");
	assert_string_equal(route(without, "unknown.test", "/x"), "404 domain");
	assert_string_equal(route(without, NULL, "/x"), "404 domain");
	px_rt_destroy(with);
	px_rt_destroy(without);
}

/* The match carries the rule as built: id, target, its domain. */
static void test_match_fields(void **state)
{
	struct px_rt *t = hosts_table(1);
	char buf[64];
	struct px_rt_match m;
	(void)state;
	assert_int_equal(px_rt_lookup(t, "WWW.example.org", 15, "/a/../b", 7, buf, sizeof buf, &m),
		PX_RT_FOUND);
	assert_string_equal(m.rule->id, "rule-b");
	assert_string_equal((const char *)m.rule->target, "b");
	assert_string_equal(m.domain->name, "www.example.org");
	assert_int_equal(m.domain->is_default, 0);
	assert_int_equal(m.path_len, 2);
	assert_memory_equal(buf, "/b", 2);
	px_rt_destroy(t);
}

static const char *norm(const char *path, size_t size)
{
	static char out[64];
	char buf[64];
	size_t n = 0;
	assert_true(size <= sizeof buf);
	switch (px_rt_normalize(path, strlen(path), buf, size, &n)) {
	case PX_RT_FOUND:
		snprintf(out, sizeof out, "%.*s", (int)n, buf);
		return out;
	case PX_RT_BAD_PATH:
		return "400";
	case PX_RT_TOO_LONG:
		return "414";
	default:
		return "?";
	}
}

/* 9.3.1: escapes decoded (%2F too, as nginx does: a decoded '/' or '.' is one), "." and ".."
 * resolved, "//" merged; 400 for a bad escape, %00 and ".." above the root. */
static void test_normalize(void **state)
{
	static const char *cases[][2] = {
		{ "", "/" }, { "/", "/" }, { "/a", "/a" },
		{ "//a///b//", "/a/b/" }, { "/a/./b", "/a/b" }, { "/./", "/" }, { "/.", "/" },
		{ "/a/.", "/a/" }, { "/a/..", "/" }, { "/a/../b", "/b" }, { "/a/b/../../c", "/c" },
		{ "/a//../b", "/b" }, { "/...", "/..." }, { "/.a/a./..b/b..", "/.a/a./..b/b.." },
		{ "/%41%62", "/Ab" }, { "/a%2Fb", "/a/b" }, { "/a%2fb%2F%2E%2E/c", "/a/c" },
		{ "/a/%2e%2e", "/" }, { "/%2F%2Fa", "/a" }, { "/%3F", "/?" }, { "/%23", "/#" },
		{ "/%2525", "/%25" }, { "/%ff", "/\xff" },
		{ "/a?b/../..", "/a" }, { "/a?%zz", "/a" }, { "/?", "/" },
		/* 400 */
		{ "/%", "400" }, { "/%4", "400" }, { "/%zz", "400" }, { "/%4g", "400" },
		{ "/%00", "400" }, { "/a%00b", "400" }, { "/..", "400" }, { "/../a", "400" },
		{ "/a/../..", "400" }, { "/a/../../b", "400" }, { "/%2e%2e", "400" },
		{ "/a%2F..%2F..", "400" }, { "a", "400" }, { "*", "400" }, { "%2Fa", "400" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = norm(cases[i][0], 64);
		if (strcmp(got, cases[i][1]) != 0)
			fail_msg("%s: %s, not %s", cases[i][0], got, cases[i][1]);
	}
	/* A literal NUL (llhttp refuses it; the table does too). */
	char buf[8];
	size_t n;
	assert_int_equal(px_rt_normalize("/a\0b", 4, buf, sizeof buf, &n), PX_RT_BAD_PATH);
	/* 414 once the path up to '?' outgrows the buffer, whatever it normalizes to */
	assert_string_equal(norm("/abc", 4), "/abc");
	assert_string_equal(norm("/abc?a-long-query", 4), "/abc");
	assert_string_equal(norm("/abcd", 4), "414");
	assert_string_equal(norm("/a/..", 4), "414");
	assert_string_equal(norm("", 1), "/");
	assert_string_equal(norm("", 0), "414");
}

/* The path is checked first (nginx parses the request line before choosing a server): a bad
 * path is 400 whatever the Host; a long one 414. */
static void test_path_errors_before_host(void **state)
{
	struct px_rt *t = hosts_table(0);
	char path[PX_RT_PATH_MAX + 2];
	(void)state;
	assert_string_equal(route(t, "unknown.test", "/.."), "400");
	assert_string_equal(route(t, "example.com", "/%zz"), "400");
	memset(path, 'a', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	assert_string_equal(route(t, "example.com", path), "414");
	path[PX_RT_PATH_MAX] = '\0';
	assert_string_equal(route(t, "example.com", path), "/");
	px_rt_destroy(t);
}

/* A table without domains (the caller keeps its origins then, 9.2.5) or with a domain without
 * rules. */
static void test_empty(void **state)
{
	struct px_rt_domain_in d = { "example.com", 1 };
	char err[128];
	struct px_rt *t = px_rt_create(NULL, 0, NULL, 0, err, sizeof err);
	(void)state;
	assert_non_null(t);
	assert_string_equal(route(t, "example.com", "/"), "404 domain");
	px_rt_destroy(t);
	assert_non_null(t = px_rt_create(&d, 1, NULL, 0, err, sizeof err));
	assert_string_equal(route(t, "other.test", "/"), "404 rule");
	px_rt_destroy(t);
	px_rt_destroy(NULL);
}

/* NULL and a reason, for each kind of bad input. */
static void refused(const struct px_rt_domain_in *d, size_t nd, const struct px_rt_rule_in *r,
	size_t nr, const char *reason)
{
	char err[256] = "";
	struct px_rt *t = px_rt_create(d, nd, r, nr, err, sizeof err);
	if (t != NULL || strstr(err, reason) == NULL)
		fail_msg("built: %p, err: %s (expected %s)", (void *)t, err, reason);
}

/* Names of every length from 1 to 40 bytes (the Host is hashed and compared a word at a time,
 * the tail in overlapping loads): each found in any case; one byte more or less, or another
 * last byte, finds nothing (no name here starts another). */
static void test_name_lengths(void **state)
{
	enum { N = 40 };
	static char names[N][N + 1];
	struct px_rt_domain_in d[N];
	char err[256] = "", host[N + 2];
	struct px_rt *t;
	(void)state;
	for (size_t i = 0; i < N; i++) {
		for (size_t k = 0; k <= i; k++)
			names[i][k] = (char)('a' + (i + k) % 26);
		names[i][i + 1] = '\0';
		d[i] = (struct px_rt_domain_in){ names[i], 0 };
	}
	t = px_rt_create(d, N, NULL, 0, err, sizeof err);
	assert_non_null(t);
	for (size_t i = 0; i < N; i++) {
		size_t len = i + 1;
		const struct px_rt_domain *x;
		for (size_t k = 0; k < len; k++)
			host[k] = (char)(names[i][k] - (k % 3 == 0 ? 32 : 0));     /* mixed case */
		x = px_rt_domain(t, host, len);
		assert_non_null(x);
		assert_string_equal(x->name, names[i]);
		assert_null(px_rt_domain(t, host, len - 1));   /* no name is another's prefix */
		host[len] = 'q';
		assert_null(px_rt_domain(t, host, len + 1));
		host[len - 1] = '0';
		assert_null(px_rt_domain(t, host, len));
	}
	px_rt_destroy(t);
}

static void test_build_refusals(void **state)
{
	char long_path[PX_RT_RULE_PATH_MAX + 2];
	struct px_rt_domain_in two_defaults[] = { { "a.test", 1 }, { "b.test", 1 } };
	struct px_rt_domain_in twice[] = { { "a.test", 0 }, { "A.Test", 0 } };
	struct px_rt_domain_in twice_later[] = { { "b.test", 0 }, { "c.test", 0 },
		{ "a-long-name.example.org", 0 }, { "A-LONG-NAME.example.org", 0 } };
	struct px_rt_domain_in ok[] = { { "a.test", 0 }, { "b.test", 0 } };
	struct px_rt_rule_in dup[] = { { "r1", 0, "/api", NULL }, { "r2", 1, "/api", NULL },
		{ "r3", 0, "/api", NULL } };
	struct px_rt_rule_in bad[] = { { "r1", 0, "api", NULL }, { "r2", 2, "/", NULL },
		{ "r3", 0, NULL, NULL }, { "r4", 0, long_path, NULL } };
	static const char *names[] = { "*.a.test", "a.test.", "a.test:80", "_a.test", "", "a b",
		"[::1]", "~a" };
	char err[256];
	struct px_rt *t;
	(void)state;
	refused(two_defaults, 2, NULL, 0, "second default");
	refused(twice, 2, NULL, 0, "twice");
	refused(twice_later, 4, NULL, 0, "twice");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct px_rt_domain_in d = { names[i], 0 };
		refused(&d, 1, NULL, 0, "not an exact host name");
	}
	refused(&(struct px_rt_domain_in){ NULL, 0 }, 1, NULL, 0, "not an exact host name");
	refused(ok, 2, dup, 3, "both /api on a.test");
	memset(long_path, 'x', sizeof long_path - 1);
	long_path[0] = '/';
	long_path[sizeof long_path - 1] = '\0';
	refused(ok, 2, &bad[0], 1, "must start with '/'");
	refused(ok, 2, &bad[1], 1, "no domain 2");
	refused(ok, 2, &bad[2], 1, "must start with '/'");
	refused(ok, 2, &bad[3], 1, "path over 1024 bytes");
	/* the same path on two domains; a refused build's partial copies leak nothing (ASan) */
	assert_non_null(t = px_rt_create(ok, 2, dup, 2, err, sizeof err));
	px_rt_destroy(t);
	long_path[PX_RT_RULE_PATH_MAX] = '\0';
	assert_non_null(t = px_rt_create(ok, 2, &bad[3], 1, err, sizeof err));
	assert_string_equal(route(t, "a.test", long_path), long_path);
	px_rt_destroy(t);
}

/* 1,000 domains x 10 rules (rtable_big.h): every rule found by its own path (and by a longer
 * path that no other rule prefixes), and misses are misses. */
static void test_large(void **state)
{
	char err[256], host[40], path[64], rule[32];
	struct px_rt *t = rt_big_create(err, sizeof err);
	(void)state;
	if (t == NULL)
		fail_msg("%s", err);
	for (unsigned i = 0; i < RT_BIG_NDOM; i++) {
		snprintf(host, sizeof host, "D%u.EXAMPLE.COM:443", i);
		for (unsigned j = 0; j < RT_BIG_NRULE; j++) {
			char buf[64];
			struct px_rt_match m;
			rt_big_path(rule, sizeof rule, i, j);
			uintptr_t k = i * RT_BIG_NRULE + j + 1;
			assert_int_equal(px_rt_lookup(t, host, strlen(host), rule, strlen(rule), buf,
				sizeof buf, &m), PX_RT_FOUND);
			assert_ptr_equal(m.rule->target, (void *)k);
			assert_string_equal(m.rule->path, rule);
		}
		rt_big_path(rule, sizeof rule, i, 9);
		snprintf(path, sizeof path, "%s/z?q", rule);
		assert_string_equal(route(t, host, path), rule);
		rt_big_path(rule, sizeof rule, i, 8);
		snprintf(path, sizeof path, "%s/", rule);
		assert_string_equal(route(t, host, path), rule);
		snprintf(path, sizeof path, "/d%u", (i + 1) % RT_BIG_NDOM);   /* another domain's */
		assert_string_equal(route(t, host, path), "404 rule");
	}
	assert_string_equal(route(t, "d7.example.com", "/api/v100"), "/api/v10");
	assert_string_equal(route(t, "d7.example.com", "/api/v2"), "/api");
	assert_string_equal(route(t, "d7.example.com", "/a/c"), "/a/");
	assert_string_equal(route(t, "d7.example.com", "/"), "404 rule");
	assert_string_equal(route(t, "d7.example.com", "/b"), "404 rule");
	assert_string_equal(route(t, "d7.example.com", "/A"), "404 rule");
	assert_string_equal(route(t, "d7.example.com", "/x/8/y"), "404 rule");
	assert_string_equal(route(t, "d1000.example.com", "/0"), "404 domain");
	assert_string_equal(route(t, "d7.example.co", "/0"), "404 domain");
	px_rt_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_path_table),
		cmocka_unit_test(test_rule_bytes),
		cmocka_unit_test(test_spec_host),
		cmocka_unit_test(test_match_fields),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_path_errors_before_host),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_build_refusals),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
