/* tests/unit/test_l7.c - the layer-7 set (daemon/state/l7.c): domain names and their keys, the
 * lists in creation order through adds and removes, the by-name and default lookups, the
 * counts of rules and bindings, and the store's schemas for the two kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "state/l7.h"
#include "store.h"

static json_t *domain(const char *listener, const char *name, int deflt)
{
	return json_pack("{s:s, s:s, s:b, s:n, s:n, s:[], s:i}", "ListenerId", listener,
		"Domain", name, "IsDefaultServer", deflt, "CertificateId", "ClientCertificateId",
		"PolyClientCertificateIds", "CreateTime", 1);
}

/* A rule with bindings to rs-0 .. rs-(nbind-1). */
static json_t *rule(const char *id, const char *listener, const char *dom, const char *path,
	int nbind)
{
	json_t *set = json_array();
	for (int i = 0; i < nbind; i++) {
		char rs[16];
		snprintf(rs, sizeof(rs), "rs-%d", i);
		json_array_append_new(set, json_pack("{s:s, s:i, s:i}", "RealServerId", rs,
			"RealServerPort", 80, "RealServerWeight", 1));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:{}, s:s, s:s, s:s, s:s, s:n, "
		"s:o, s:[], s:i}", "RuleId", id, "ListenerId", listener, "DomainId", dom, "Path", path,
		"RealServerType", "IP", "Scheduler", "rr", "HealthCheck", 0, "CheckParams",
		"ForwardProtocol", "default", "ForwardHost", "default",
		"ServerNameIndicationSwitch", "OFF", "ServerNameIndication", "", "ForcedRedirect",
		"RealServerSet", set, "Headers", "CreateTime", 1);
}

static void put_domain(struct l7_set *s, const char *id, json_t *f)
{
	assert_int_equal(l7_reserve(s, 1, 0), 0);
	l7_put_domain(s, id, f);
	json_decref(f);
}

static void put_rule(struct l7_set *s, const char *id, json_t *f)
{
	assert_int_equal(l7_reserve(s, 0, 1), 0);
	assert_int_equal(l7_reserve_bindings(s,
		json_array_size(json_object_get(f, "RealServerSet"))), 0);
	l7_put_rule(s, id, f);
	json_decref(f);
}

static void test_domain_names_and_keys(void **state)
{
	static const char *const good[][2] = {
		{ "www.Example.COM", "www.example.com" }, { "a-b.c", "a-b.c" }, { "abc", "abc" },
		{ "10.0.0.1", "10.0.0.1" },
	};
	static const char *const bad[] = {
		"", "ab", "*.example.com", "a~b.com", "a_b.com", "example.com.", ".example.com",
		"a..b", "-a.com", "a-.com", "example.com:80", "a b.com",
	};
	char key[L7_DOMAIN_MAX], name[100];
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(l7_domain_key(good[i][0], key), 0);
		assert_string_equal(key, good[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (l7_domain_key(bad[i], key) == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
	memset(name, 'a', 80);
	name[80] = '\0';
	assert_int_equal(l7_domain_key(name, key), 0);
	name[80] = 'a';
	name[81] = '\0';
	assert_int_equal(l7_domain_key(name, key), -1);
}

/* 50 domains on one listener, every other one removed: order, by-name any case, by id. */
static void test_domains_in_creation_order(void **state)
{
	struct l7_set *s = l7_set_new();
	char id[32], name[32];
	(void)state;
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "dom-%04d", i);
		snprintf(name, sizeof(name), "Host%d.Example", i);
		put_domain(s, id, domain("listener-a", name, 0));
	}
	put_domain(s, "dom-b", domain("listener-b", "host1.example", 0));
	for (int i = 0; i < 50; i += 2) {
		snprintf(id, sizeof(id), "dom-%04d", i);
		l7_remove_domain(s, id);
	}
	assert_int_equal(l7_domain_count(s, "listener-a"), 25);
	assert_int_equal(l7_domain_count(s, "listener-b"), 1);
	assert_int_equal(l7_domain_count(s, "listener-x"), 0);
	for (size_t i = 0; i < 25; i++) {
		snprintf(id, sizeof(id), "dom-%04zu", 2 * i + 1);
		assert_string_equal(l7_domain_at(s, "listener-a", i)->id, id);
	}
	assert_string_equal(l7_domain_at(s, "listener-a", 24)->id, "dom-0049");
	assert_string_equal(l7_domain_at(s, "listener-a", 3)->id, "dom-0007");  /* backwards */
	assert_null(l7_domain_at(s, "listener-a", 25));
	assert_string_equal(l7_domain_find(s, "listener-a", "HOST7.example")->id, "dom-0007");
	assert_null(l7_domain_find(s, "listener-a", "host8.example"));
	assert_string_equal(l7_domain_find(s, "listener-b", "host1.EXAMPLE")->id, "dom-b");
	assert_string_equal(l7_domain_by_id(s, "dom-0009")->key, "host9.example");
	assert_string_equal(l7_domain_by_id(s, "dom-0009")->listener, "listener-a");
	/* A rename moves the by-name index. */
	put_domain(s, "dom-0009", domain("listener-a", "Renamed.Example", 0));
	assert_null(l7_domain_find(s, "listener-a", "host9.example"));
	assert_string_equal(l7_domain_find(s, "listener-a", "renamed.example")->id, "dom-0009");
	assert_string_equal(l7_domain_at(s, "listener-a", 4)->id, "dom-0009");
	l7_remove_listener(s, "listener-a");
	assert_int_equal(l7_domain_count(s, "listener-a"), 0);
	assert_null(l7_domain_by_id(s, "dom-0009"));
	assert_int_equal(l7_domain_count(s, "listener-b"), 1);
	l7_set_free(s);
}

static void test_the_default_domain_follows_puts(void **state)
{
	struct l7_set *s = l7_set_new();
	(void)state;
	put_domain(s, "dom-1", domain("listener-a", "one.example", 1));
	put_domain(s, "dom-2", domain("listener-a", "two.example", 0));
	assert_string_equal(l7_default_domain(s, "listener-a")->id, "dom-1");
	put_domain(s, "dom-2", domain("listener-a", "two.example", 1));     /* as sm: new first */
	put_domain(s, "dom-1", domain("listener-a", "one.example", 0));
	assert_string_equal(l7_default_domain(s, "listener-a")->id, "dom-2");
	l7_remove_domain(s, "dom-2");
	assert_null(l7_default_domain(s, "listener-a"));
	l7_set_free(s);
}

/* Rules per domain in order; rule and binding counts per listener and per real server. */
static void test_rules_and_counts(void **state)
{
	struct l7_set *s = l7_set_new();
	(void)state;
	put_domain(s, "dom-1", domain("listener-a", "one.example", 0));
	put_domain(s, "dom-2", domain("listener-a", "two.example", 0));
	put_domain(s, "dom-3", domain("listener-b", "one.example", 0));
	put_rule(s, "rule-1", rule("rule-1", "listener-a", "dom-1", "/", 2));
	put_rule(s, "rule-2", rule("rule-2", "listener-a", "dom-1", "/a", 0));
	put_rule(s, "rule-3", rule("rule-3", "listener-a", "dom-2", "/", 1));
	put_rule(s, "rule-4", rule("rule-4", "listener-b", "dom-3", "/", 3));
	put_rule(s, "rule-x", rule("rule-x", "listener-a", "dom-gone", "/", 3));   /* ignored */
	assert_null(l7_rule_find(s, "rule-x"));
	assert_int_equal(l7_rule_count(s, "dom-1"), 2);
	assert_string_equal(l7_rule_at(s, "dom-1", 0)->id, "rule-1");
	assert_string_equal(l7_rule_at(s, "dom-1", 1)->id, "rule-2");
	assert_string_equal(l7_rule_find(s, "rule-3")->domain, "dom-2");
	assert_string_equal(l7_rule_find(s, "rule-3")->listener, "listener-a");
	assert_int_equal(l7_listener_rule_count(s, "listener-a"), 3);
	assert_int_equal(l7_listener_binding_count(s, "listener-a"), 3);
	assert_int_equal(l7_listener_binding_count(s, "listener-b"), 3);
	assert_int_equal(l7_rs_binding_count(s, "rs-0"), 3);
	assert_int_equal(l7_rs_binding_count(s, "rs-1"), 2);
	assert_int_equal(l7_rs_binding_count(s, "rs-2"), 1);
	/* Rebinding replaces the counts. */
	put_rule(s, "rule-1", rule("rule-1", "listener-a", "dom-1", "/", 0));
	assert_int_equal(l7_listener_binding_count(s, "listener-a"), 1);
	assert_int_equal(l7_rs_binding_count(s, "rs-0"), 2);
	assert_int_equal(l7_rs_binding_count(s, "rs-1"), 1);
	assert_int_equal(l7_rule_count(s, "dom-1"), 2);
	/* A rule's removal, then its domain's (with its rules). */
	l7_remove_rule(s, "rule-4");
	assert_int_equal(l7_rs_binding_count(s, "rs-2"), 0);
	assert_int_equal(l7_listener_binding_count(s, "listener-b"), 0);
	assert_int_equal(l7_listener_rule_count(s, "listener-b"), 0);
	l7_remove_domain(s, "dom-2");
	assert_null(l7_rule_find(s, "rule-3"));
	assert_int_equal(l7_rs_binding_count(s, "rs-0"), 0);
	assert_int_equal(l7_listener_rule_count(s, "listener-a"), 2);
	assert_int_equal(l7_listener_binding_count(s, "listener-a"), 0);
	put_rule(s, "rule-5", rule("rule-5", "listener-a", "dom-1", "/b", 1));
	l7_set_free(s);         /* with rules and bindings left: no leak under ASan */
}

static void test_the_schemas(void **state)
{
	char err[256];
	json_t *d = domain("listener-a", "one.example", 0), *r;
	(void)state;
	assert_int_equal(st_check(L7_DOMAIN_KIND, "dom-1", d, err, sizeof(err)), 0);
	assert_int_equal(st_check(L7_DOMAIN_KIND, "rule-1", d, err, sizeof(err)), -1);
	json_object_set_new(d, "Domain", json_string("*.example"));
	assert_int_equal(st_check(L7_DOMAIN_KIND, "dom-1", d, err, sizeof(err)), -1);
	json_object_set_new(d, "Domain", json_string("one.example"));
	json_object_del(d, "IsDefaultServer");
	assert_int_equal(st_check(L7_DOMAIN_KIND, "dom-1", d, err, sizeof(err)), -1);
	json_decref(d);
	r = rule("rule-1", "listener-a", "dom-1", "/", 2);
	assert_int_equal(st_check(L7_RULE_KIND, "rule-1", r, err, sizeof(err)), 0);
	assert_int_equal(st_check(L7_RULE_KIND, "rule-2", r, err, sizeof(err)), -1);
	json_object_set_new(r, "Scheduler", json_string("fast"));
	assert_int_equal(st_check(L7_RULE_KIND, "rule-1", r, err, sizeof(err)), -1);
	json_object_set_new(r, "Scheduler", json_string("lrtt"));
	assert_int_equal(st_check(L7_RULE_KIND, "rule-1", r, err, sizeof(err)), 0);
	json_object_set_new(json_array_get(json_object_get(r, "RealServerSet"), 1),
		"RealServerWeight", json_integer(0));
	assert_int_equal(st_check(L7_RULE_KIND, "rule-1", r, err, sizeof(err)), -1);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_names_and_keys),
		cmocka_unit_test(test_domains_in_creation_order),
		cmocka_unit_test(test_the_default_domain_follows_puts),
		cmocka_unit_test(test_rules_and_counts),
		cmocka_unit_test(test_the_schemas),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
