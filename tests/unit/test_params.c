/* tests/unit/test_params.c - parameter checking against an action's schema, numeric strings,
 * listener names, the id and RequestId formats, and the rules the actions share (paging, who may
 * manage a proxy group). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "actions.h"
#include "api.h"
#include "cfg.h"
#include "creds.h"
#include "ids.h"
#include "params.h"

static const struct ctl_param schema[] = {
	{ "ListenerName", CTL_P_STRING, 1 },
	{ "Port", CTL_P_UINT, 1 },
	{ "ProxyId", CTL_P_STRING, 0 },
	{ "ListenerIds", CTL_P_STRING_ARRAY, 0 },
};

/* Check the JSON text against the schema; the call keeps the params for inspection. */
static enum ctl_err check(struct ctl_call *call, const char *json)
{
	memset(call, 0, sizeof(*call));
	call->params = json_loads(json, 0, NULL);
	assert_non_null(call->params);
	return ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
}

static void accepts_numbers_and_decimal_strings_for_integers(void **state)
{
	struct ctl_call call;
	uint64_t port = 0;
	(void)state;
	assert_int_equal(check(&call, "{\"ListenerName\":\"a\",\"Port\":443}"), CTL_E_OK);
	assert_int_equal(ctl_param_uint(&call, "Port", &port), 0);
	assert_int_equal(port, 443);
	json_decref(call.params);
	assert_int_equal(check(&call, "{\"ListenerName\":\"a\",\"Port\":\"443\"}"), CTL_E_OK);
	assert_int_equal(ctl_param_uint(&call, "Port", &port), 0);
	assert_int_equal(port, 443);
	json_decref(call.params);
}

static void wrong_types_are_invalid_parameter(void **state)
{
	static const char *const bad[] = {
		"{\"ListenerName\":\"a\",\"Port\":\"44a\"}", "{\"ListenerName\":\"a\",\"Port\":-1}",
		"{\"ListenerName\":\"a\",\"Port\":\"-1\"}", "{\"ListenerName\":\"a\",\"Port\":1.5}",
		"{\"ListenerName\":\"a\",\"Port\":\"\"}", "{\"ListenerName\":\"a\",\"Port\":\" 1\"}",
		"{\"ListenerName\":\"a\",\"Port\":true}", "{\"ListenerName\":1,\"Port\":1}",
		"{\"ListenerName\":\"a\",\"Port\":\"99999999999999999999999\"}",
		"{\"ListenerName\":\"a\",\"Port\":1,\"ListenerIds\":[\"x\",2]}",
	};
	struct ctl_call call;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(&call, bad[i]), CTL_E_INVALID_PARAMETER);
		assert_non_null(strstr(call.message, "type error"));
		json_decref(call.params);
	}
}

static void missing_and_unknown_parameters_are_named(void **state)
{
	struct ctl_call call;
	(void)state;
	assert_int_equal(check(&call, "{\"ListenerName\":\"a\"}"), CTL_E_MISSING_PARAMETER);
	assert_non_null(strstr(call.message, "`Port`"));
	json_decref(call.params);
	assert_int_equal(check(&call, "{\"ListenerName\":\"a\",\"Port\":null}"), CTL_E_MISSING_PARAMETER);
	json_decref(call.params);
	assert_int_equal(check(&call, "{\"ListenerName\":\"a\",\"Port\":1,\"Color\":1}"),
		CTL_E_UNKNOWN_PARAMETER);
	assert_non_null(strstr(call.message, "`Color`"));
	json_decref(call.params);
}

static void optional_parameters_absent_or_null_read_as_absent(void **state)
{
	struct ctl_call call;
	(void)state;
	assert_int_equal(check(&call, "{\"ListenerName\":\"a\",\"Port\":1,\"ProxyId\":null}"), CTL_E_OK);
	assert_null(ctl_param_str(&call, "ProxyId"));
	json_decref(call.params);
}

static void parse_uint_bounds(void **state)
{
	uint64_t v;
	(void)state;
	assert_int_equal(ctl_parse_uint("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(ctl_parse_uint("18446744073709551616", &v), -1);
	assert_int_equal(ctl_parse_uint("", &v), -1);
	assert_int_equal(ctl_parse_uint("+1", &v), -1);
	assert_int_equal(ctl_parse_uint("0x10", &v), -1);
}

static void parse_int_bounds(void **state)
{
	int64_t v;
	(void)state;
	assert_int_equal(ctl_parse_int("-1", &v), 0);
	assert_true(v == -1);
	assert_int_equal(ctl_parse_int("9223372036854775807", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(ctl_parse_int("-9223372036854775808", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(ctl_parse_int("9223372036854775808", &v), -1);
	assert_int_equal(ctl_parse_int("-9223372036854775809", &v), -1);
	assert_int_equal(ctl_parse_int("-", &v), -1);
	assert_int_equal(ctl_parse_int("--1", &v), -1);
	assert_int_equal(ctl_parse_int("", &v), -1);
}

static const struct ctl_param describe_schema[] = {
	{ "ProjectId", CTL_P_INT, 0 },
	{ "Offset", CTL_P_UINT, 0 },
	{ "Limit", CTL_P_UINT, 0 },
	{ "ProxyIds", CTL_P_STRING_ARRAY, 0 },
};

static enum ctl_err check_describe(struct ctl_call *call, const char *json)
{
	memset(call, 0, sizeof(*call));
	call->params = json_loads(json, 0, NULL);
	assert_non_null(call->params);
	return ctl_params_check(call, describe_schema, sizeof(describe_schema) / sizeof(describe_schema[0]));
}

static void signed_integers_and_arrays(void **state)
{
	struct ctl_call call;
	int64_t project = 0;
	(void)state;
	assert_int_equal(check_describe(&call, "{\"ProjectId\":\"-1\",\"ProxyIds\":[\"a\"]}"), CTL_E_OK);
	assert_int_equal(ctl_param_int(&call, "ProjectId", &project), 0);
	assert_true(project == -1);
	assert_int_equal(json_array_size(ctl_param_array(&call, "ProxyIds")), 1);
	json_decref(call.params);
	assert_int_equal(check_describe(&call, "{\"ProjectId\":-7}"), CTL_E_OK);
	assert_int_equal(ctl_param_int(&call, "ProjectId", &project), 0);
	assert_true(project == -7);
	assert_null(ctl_param_array(&call, "ProxyIds"));
	json_decref(call.params);
	assert_int_equal(check_describe(&call, "{\"ProjectId\":\"x\"}"), CTL_E_INVALID_PARAMETER);
	json_decref(call.params);
	assert_int_equal(check_describe(&call, "{\"ProjectId\":0.5}"), CTL_E_INVALID_PARAMETER);
	json_decref(call.params);
	assert_int_equal(check_describe(&call, "{\"ProxyIds\":\"a\"}"), CTL_E_INVALID_PARAMETER);
	json_decref(call.params);
}

static void paging_defaults_and_limits(void **state)
{
	struct ctl_call call;
	size_t offset = 1, limit = 1;
	(void)state;
	assert_int_equal(check_describe(&call, "{}"), CTL_E_OK);
	assert_int_equal(ctl_page(&call, 100, &offset, &limit), CTL_E_OK);
	assert_int_equal(offset, 0);
	assert_int_equal(limit, 20);
	json_decref(call.params);
	assert_int_equal(check_describe(&call, "{\"Offset\":\"7\",\"Limit\":100}"), CTL_E_OK);
	assert_int_equal(ctl_page(&call, 100, &offset, &limit), CTL_E_OK);
	assert_int_equal(offset, 7);
	assert_int_equal(limit, 100);
	json_decref(call.params);
	static const char *const bad[] = { "{\"Limit\":0}", "{\"Limit\":101}" };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(check_describe(&call, bad[i]), CTL_E_OK);
		assert_int_equal(ctl_page(&call, 100, &offset, &limit), CTL_E_INVALID_PARAMETER_VALUE);
		assert_non_null(strstr(call.message, "Limit"));
		json_decref(call.params);
	}
}

/* A key limited to proxies manages a group it names, or one whose members it may all manage. */
static void who_may_manage_a_group(void **state)
{
	static const char yaml[] =
		"proxies:\n"
		"  - {id: link-a, origins: [127.0.0.1:1]}\n"
		"  - {id: link-b, origins: [127.0.0.1:1]}\n"
		"groups:\n"
		"  - {id: lg-ab, proxies: [link-a, link-b]}\n"
		"  - {id: lg-empty}\n";
	static const char creds[] =
		"[a]\nsecret_id = A\nsecret_key = k\nproxies = link-a\n"
		"[ab]\nsecret_id = AB\nsecret_key = k\nproxies = link-a,link-b\n"
		"[g]\nsecret_id = G\nsecret_key = k\nproxies = lg-ab\n";
	struct cfg *cfg = NULL;
	struct ctl_creds *c = NULL;
	char err[256];
	(void)state;
	assert_int_equal(cfg_load_string(yaml, "t.yaml", "/tmp", &cfg, err, sizeof(err)), 0);
	assert_int_equal(ctl_creds_parse(creds, "creds", &c, err, sizeof(err)), 0);
	struct ctl_deps deps = { .cfg = cfg };
	struct ctl_call call = { .deps = &deps };
	assert_true(ctl_may_manage_group(&call, "lg-ab"));         /* auth: none */
	call.cred = ctl_creds_find(c, "A");
	assert_false(ctl_may_manage_group(&call, "lg-ab"));
	assert_true(ctl_may_manage_proxy(&call, "link-a"));
	assert_false(ctl_may_manage_proxy(&call, "link-b"));
	call.cred = ctl_creds_find(c, "AB");
	assert_true(ctl_may_manage_group(&call, "lg-ab"));
	assert_false(ctl_may_manage_group(&call, "lg-empty"));
	call.cred = ctl_creds_find(c, "G");
	assert_true(ctl_may_manage_group(&call, "lg-ab"));
	assert_false(ctl_may_manage_proxy(&call, "link-a"));
	ctl_creds_destroy(c);
	cfg_destroy(cfg);
}

static void listener_names(void **state)
{
	(void)state;
	assert_true(ctl_listener_name_valid("listener-1"));
	assert_true(ctl_listener_name_valid("a.b_c-D9"));
	assert_true(ctl_listener_name_valid("\xe7\x9b\x91\xe5\x90\xac\xe5\x99\xa8"));  /* 监听器 */
	assert_true(ctl_listener_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));         /* 30 */
	assert_false(ctl_listener_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));       /* 31 */
	assert_false(ctl_listener_name_valid(""));
	assert_false(ctl_listener_name_valid("with space"));
	assert_false(ctl_listener_name_valid("tab\there"));
	assert_false(ctl_listener_name_valid("semi;colon"));
	assert_false(ctl_listener_name_valid("\xc0\xaf"));             /* overlong '/' */
	assert_false(ctl_listener_name_valid("\xed\xa0\x80"));         /* surrogate */
	assert_false(ctl_listener_name_valid("\xc2\x85"));             /* C1 NEL */
	assert_false(ctl_listener_name_valid("\xe7\x9b"));             /* truncated */
}

/* Letters and digits by Unicode general category (L*, N*), whatever the script; the invisible or
 * misleading characters the old byte rule took for letters are refused, alone or inside a name. */
static void listener_names_by_category(void **state)
{
	static const char *const refused[] = {
		"\xe2\x80\xa8",     /* U+2028 LINE SEPARATOR (Zl) */
		"\xe2\x80\xa9",     /* U+2029 PARAGRAPH SEPARATOR (Zp) */
		"\xe2\x80\xae",     /* U+202E RIGHT-TO-LEFT OVERRIDE (Cf) */
		"\xe2\x80\x8b",     /* U+200B ZERO WIDTH SPACE (Cf) */
		"\xef\xbb\xbf",     /* U+FEFF BOM (Cf) */
		"\xc2\xa0",         /* U+00A0 NO-BREAK SPACE (Zs) */
		"\xe3\x80\x80",     /* U+3000 IDEOGRAPHIC SPACE (Zs) */
		"\xc2\xad",         /* U+00AD SOFT HYPHEN (Cf) */
		"\xe2\x82\xac",     /* U+20AC EURO SIGN (Sc) */
		"\xef\xbc\x9b",     /* U+FF1B FULLWIDTH SEMICOLON (Po) */
		"\xcc\x81",         /* U+0301 COMBINING ACUTE ACCENT (Mn) */
		"\xee\x80\x80",     /* U+E000 private use (Co) */
		"\xf0\x9f\x98\x80", /* U+1F600 emoji (So) */
	};
	char name[32];
	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_false(ctl_listener_name_valid(refused[i]));
		snprintf(name, sizeof(name), "web%s1", refused[i]);
		assert_false(ctl_listener_name_valid(name));
	}
	assert_true(ctl_listener_name_valid("\xe7\x9b\x91\xe5\x90\xac\xe5\x99\xa8-1"));  /* 监听器-1 */
	assert_true(ctl_listener_name_valid("\xc3\x9cn\xc3\xaf" "code_2.0"));          /* Ünïcode_2.0 */
	assert_true(ctl_listener_name_valid("\xd9\xa1\xd9\xa2\xd9\xa3"));          /* ١٢٣ (Nd) */
	assert_true(ctl_listener_name_valid("\xd8\xae\xd8\xa7\xd8\xaf\xd9\x85"));  /* خادم (Lo) */
	assert_true(ctl_listener_name_valid("\xce\xb1\xce\xb2\xce\xb3"));          /* αβγ (Ll) */
	assert_true(ctl_listener_name_valid("\xe2\x85\xa0\xe2\x85\xa1"));          /* ⅠⅡ (Nl) */
	/* the message names what cannot be seen */
	char err[160];
	assert_int_equal(ctl_listener_name_check("web\xe2\x80\xae" "1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "U+202E (character 4)"));
	assert_int_equal(ctl_listener_name_check("", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has 0"));
	assert_int_equal(ctl_listener_name_check("web-1", err, sizeof(err)), 0);
	/* 30 characters of 3 bytes each: the limit counts characters, not bytes */
	assert_true(ctl_listener_name_valid("\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91"
		"\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91"
		"\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91"
		"\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91"
		"\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91\xe7\x9b\x91"
		"\xe7\x9b\x91\xe7\x9b\x91"));
}

static void request_ids_are_uuid_v4(void **state)
{
	char a[CTL_UUID_LEN + 1], b[CTL_UUID_LEN + 1];
	(void)state;
	assert_int_equal(ctl_uuid_v4(a), 0);
	assert_int_equal(ctl_uuid_v4(b), 0);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[8], '-');
	assert_int_equal(a[13], '-');
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_int_equal(strspn(a, "0123456789abcdef-"), 36);
	assert_string_not_equal(a, b);
}

static void listener_ids_look_like_the_official_examples(void **state)
{
	char id[32], small[12];
	(void)state;
	assert_int_equal(ctl_id_new("listener", id, sizeof(id)), 0);
	assert_int_equal(strlen(id), strlen("listener-o0f3at99"));
	assert_true(ctl_id_valid("listener", id));
	assert_int_equal(ctl_id_new("listener", small, sizeof(small)), -1);
	assert_true(ctl_id_valid("link", "link-cuxw2rm0"));
	assert_false(ctl_id_valid("link", "link-"));
	assert_false(ctl_id_valid("link", "link-ABC"));
	assert_false(ctl_id_valid("link", "lg-qz6ntod5"));
	assert_false(ctl_id_valid("link", "link-a b"));
	assert_false(ctl_id_valid("link", "link-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));       /* 33 */
}

/* Booleans, objects, lists of objects and of integers (l7-and-https.md §1.1): members typed,
 * named by their flattened path in errors, normalised in place. */
static const struct ctl_param nested_members[] = {
	{ "DelayLoop", CTL_P_UINT, 0 },
	{ "StatusCode", CTL_P_UINT_ARRAY, 0 },
};
static const struct ctl_param binding_members[] = {
	{ "RealServerId", CTL_P_STRING, 1 },
	{ "RealServerPort", CTL_P_UINT, 1 },
};
static const struct ctl_param nested_schema[] = {
	{ "IsDefaultServer", CTL_P_BOOL, 0 },
	{ "CheckParams", CTL_P_OBJECT, 0 },
	{ "RealServerBindSet", CTL_P_OBJECT_ARRAY, 0 },
};
static const struct ctl_object nested_objects[] = {
	{ "CheckParams", nested_members, 2 },
	{ "RealServerBindSet", binding_members, 2 },
};

static enum ctl_err check_nested(struct ctl_call *call, const char *json)
{
	json_decref(call->params);
	memset(call, 0, sizeof(*call));
	call->params = json_loads(json, 0, NULL);
	assert_non_null(call->params);
	return ctl_params_check_objects(call, nested_schema, 3, nested_objects, 2);
}

static void booleans_objects_and_lists_of_objects(void **state)
{
	static const char *const booleans[][2] = { { "true", "1" }, { "false", "0" },
		{ "\"true\"", "1" }, { "\"1\"", "1" }, { "\"false\"", "0" }, { "\"0\"", "0" } };
	struct ctl_call call = { 0 };
	char text[128];
	int b;
	(void)state;
	for (size_t i = 0; i < sizeof(booleans) / sizeof(booleans[0]); i++) {
		snprintf(text, sizeof(text), "{\"IsDefaultServer\":%s}", booleans[i][0]);
		assert_int_equal(check_nested(&call, text), CTL_E_OK);
		assert_int_equal(ctl_param_bool(&call, "IsDefaultServer", &b), 0);
		assert_int_equal(b, booleans[i][1][0] == '1');
	}
	static const char *const not_booleans[] = { "1", "\"yes\"", "\"TRUE\"", "\"\"", "[]" };
	for (size_t i = 0; i < sizeof(not_booleans) / sizeof(not_booleans[0]); i++) {
		snprintf(text, sizeof(text), "{\"IsDefaultServer\":%s}", not_booleans[i]);
		assert_int_equal(check_nested(&call, text), CTL_E_INVALID_PARAMETER);
	}
	/* GET/form values are strings: normalised to integers inside objects and lists */
	assert_int_equal(check_nested(&call, "{\"CheckParams\":{\"DelayLoop\":\"10\","
		"\"StatusCode\":[\"200\",300]},\"RealServerBindSet\":[{\"RealServerId\":\"rs-a\","
		"\"RealServerPort\":\"80\"}]}"), CTL_E_OK);
	const json_t *cp = ctl_param_object(&call, "CheckParams");
	assert_int_equal(json_integer_value(json_object_get(cp, "DelayLoop")), 10);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(cp, "StatusCode"), 0)), 200);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ctl_param_array(&call,
		"RealServerBindSet"), 0), "RealServerPort")), 80);
	assert_int_equal(check_nested(&call, "{\"CheckParams\":{\"Bogus\":1}}"),
		CTL_E_UNKNOWN_PARAMETER);
	assert_non_null(strstr(call.message, "CheckParams.Bogus"));
	assert_int_equal(check_nested(&call, "{\"CheckParams\":{\"StatusCode\":[\"2xx\"]}}"),
		CTL_E_INVALID_PARAMETER);
	assert_non_null(strstr(call.message, "CheckParams.StatusCode"));
	assert_int_equal(check_nested(&call, "{\"CheckParams\":[]}"), CTL_E_INVALID_PARAMETER);
	assert_int_equal(check_nested(&call, "{\"RealServerBindSet\":[{\"RealServerId\":\"a\","
		"\"RealServerPort\":1},{\"RealServerId\":\"b\"}]}"), CTL_E_MISSING_PARAMETER);
	assert_non_null(strstr(call.message, "RealServerBindSet.1.RealServerPort"));
	assert_int_equal(check_nested(&call, "{\"RealServerBindSet\":[1]}"), CTL_E_INVALID_PARAMETER);
	assert_non_null(strstr(call.message, "RealServerBindSet.0"));
	assert_int_equal(check_nested(&call, "{\"RealServerBindSet\":{}}"), CTL_E_INVALID_PARAMETER);
	/* an object parameter without its members' schema is a type error, not a pass */
	struct ctl_param lone = { "CheckParams", CTL_P_OBJECT, 0 };
	json_decref(call.params);
	call.params = json_loads("{\"CheckParams\":{}}", 0, NULL);
	assert_int_equal(ctl_params_check(&call, &lone, 1), CTL_E_INVALID_PARAMETER);
	json_decref(call.params);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_numbers_and_decimal_strings_for_integers),
		cmocka_unit_test(wrong_types_are_invalid_parameter),
		cmocka_unit_test(missing_and_unknown_parameters_are_named),
		cmocka_unit_test(optional_parameters_absent_or_null_read_as_absent),
		cmocka_unit_test(parse_uint_bounds),
		cmocka_unit_test(parse_int_bounds),
		cmocka_unit_test(signed_integers_and_arrays),
		cmocka_unit_test(booleans_objects_and_lists_of_objects),
		cmocka_unit_test(paging_defaults_and_limits),
		cmocka_unit_test(who_may_manage_a_group),
		cmocka_unit_test(listener_names),
		cmocka_unit_test(listener_names_by_category),
		cmocka_unit_test(request_ids_are_uuid_v4),
		cmocka_unit_test(listener_ids_look_like_the_official_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
