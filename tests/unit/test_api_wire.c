/* tests/unit/test_api_wire.c - the pure parts of the wire protocol: decoding a query or form body,
 * the flattened params of GET/v1 requests as JSON (spec 1.1), and the message language (X-TC-Language
 * / Language) with the UTF-8 hygiene every error message goes through; then ctl_api_handle() over
 * canned v1 requests for what needs many of them: the replay tables, bounded per SecretId.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"
#include "flat.h"
#include "cfg.h"
#include "creds.h"
#include "ctl.h"
#include "errors.h"
#include "log.h"
#include "req.h"
#include "sign.h"

static void parse(struct ctl_form *f, const char *text)
{
	assert_int_equal(ctl_form_parse(text, strlen(text), f), 0);
}

/* --- ctl_form_parse --- */

static void form_decodes_plus_and_percent_as_python_and_node_send_them(void **state)
{
	struct ctl_form f;
	(void)state;
	parse(&f, "a=x+y&b=x%20y&c=%E7%9B%91%e5%90%AC&d=%3D%26%2B");
	assert_int_equal(f.n, 4);
	assert_string_equal(ctl_form_get(&f, "a"), "x y");
	assert_string_equal(ctl_form_get(&f, "b"), "x y");
	assert_string_equal(ctl_form_get(&f, "c"), "\xe7\x9b\x91\xe5\x90\xac");
	assert_string_equal(ctl_form_get(&f, "d"), "=&+");
	ctl_form_free(&f);
}

static void form_keeps_order_and_duplicates_and_skips_empty_pairs(void **state)
{
	struct ctl_form f;
	(void)state;
	parse(&f, "&b=2&&a=1&flag&b=3&e=&");
	assert_int_equal(f.n, 5);
	assert_string_equal(f.keys[0], "b");
	assert_string_equal(f.values[0], "2");
	assert_string_equal(f.keys[1], "a");
	assert_string_equal(f.keys[2], "flag");
	assert_string_equal(f.values[2], "");
	assert_string_equal(f.values[3], "3");
	assert_string_equal(f.values[4], "");
	assert_string_equal(ctl_form_get(&f, "b"), "2");
	assert_int_equal(ctl_form_count(&f, "b"), 2);
	assert_int_equal(ctl_form_count(&f, "z"), 0);
	assert_null(ctl_form_get(&f, "z"));
	ctl_form_free(&f);
	parse(&f, "");
	assert_int_equal(f.n, 0);
	ctl_form_free(&f);
}

static void form_decodes_a_key_with_an_escaped_equals_sign(void **state)
{
	struct ctl_form f;
	(void)state;
	parse(&f, "a%3Db=c=d");
	assert_string_equal(f.keys[0], "a=b");
	assert_string_equal(f.values[0], "c=d");
	ctl_form_free(&f);
}

static void form_refuses_bad_escapes_nul_bytes_and_empty_names(void **state)
{
	static const char *const bad[] = { "a=%zz", "a=%4", "a=%", "a=%00", "%00=a", "=v", "a=1&=2" };
	struct ctl_form f;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ctl_form_parse(bad[i], strlen(bad[i]), &f), -1);
		assert_int_equal(f.n, 0);
		assert_null(f.buf);
	}
	assert_int_equal(ctl_form_parse("a=b\0c", 5, &f), -1);
	/* only len bytes are read: what follows is not part of the form */
	assert_int_equal(ctl_form_parse("a=1&b=%zz", 3, &f), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(ctl_form_get(&f, "a"), "1");
	ctl_form_free(&f);
}

/* --- ctl_form_to_json --- */

/* The JSON the form text becomes, compact with sorted keys; NULL when it is refused. */
static char *flat(const char *text, const char *const *skip)
{
	struct ctl_form f;
	char err[256] = "";
	char *out = NULL;
	parse(&f, text);
	json_t *j = ctl_form_to_json(&f, skip, err, sizeof(err));
	if (j != NULL)
		out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	else
		assert_true(strlen(err) > 0);
	json_decref(j);
	ctl_form_free(&f);
	return out;
}

static void assert_flat(const char *text, const char *expect)
{
	char *got = flat(text, NULL);
	assert_non_null(got);
	assert_string_equal(got, expect);
	free(got);
}

static void assert_flat_refused(const char *text)
{
	char *got = flat(text, NULL);
	if (got != NULL)
		fail_msg("%s was accepted as %s", text, got);
}

static void flattened_arrays_and_objects_become_json(void **state)
{
	(void)state;
	assert_flat("ListenerIds.0=a&ListenerIds.1=b&Force=1",
		"{\"Force\":\"1\",\"ListenerIds\":[\"a\",\"b\"]}");
	assert_flat("CheckParams.DelayLoop=30&CheckParams.StatusCode.0=200&CheckParams.StatusCode.1=300",
		"{\"CheckParams\":{\"DelayLoop\":\"30\",\"StatusCode\":[\"200\",\"300\"]}}");
	assert_flat("RealServerBindSet.0.RealServerId=rs-1&RealServerBindSet.0.RealServerPort=80"
		"&RealServerBindSet.1.RealServerId=rs-2",
		"{\"RealServerBindSet\":[{\"RealServerId\":\"rs-1\",\"RealServerPort\":\"80\"},"
		"{\"RealServerId\":\"rs-2\"}]}");
	assert_flat("Filters.0.Name=n&Filters.0.Values.0=v0&Filters.0.Values.1=v1",
		"{\"Filters\":[{\"Name\":\"n\",\"Values\":[\"v0\",\"v1\"]}]}");
	assert_flat("ListenerName=x+y&Port=80", "{\"ListenerName\":\"x y\",\"Port\":\"80\"}");
	assert_flat("", "{}");
}

static void array_indexes_may_come_in_any_order(void **state)
{
	/* v1 signers sort keys by byte value, so Ids.10 comes before Ids.2 */
	struct ctl_form f;
	char text[512] = "";
	(void)state;
	for (int i = 11; i >= 0; i--)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%sIds.%d=v%d",
			i == 11 ? "" : "&", i, i);
	parse(&f, text);
	json_t *j = ctl_form_to_json(&f, NULL, text, sizeof(text));
	assert_non_null(j);
	json_t *ids = json_object_get(j, "Ids");
	assert_true(json_is_array(ids));
	assert_int_equal(json_array_size(ids), 12);
	for (size_t i = 0; i < 12; i++) {
		char want[8];
		snprintf(want, sizeof(want), "v%zu", i);
		assert_string_equal(json_string_value(json_array_get(ids, i)), want);
	}
	json_decref(j);
	ctl_form_free(&f);
}

static void top_level_names_are_never_arrays(void **state)
{
	(void)state;
	assert_flat("0=a&1=b", "{\"0\":\"a\",\"1\":\"b\"}");
}

static void common_params_are_skipped(void **state)
{
	static const char *const skip[] = { "Action", "Nonce", NULL };
	char *got;
	(void)state;
	got = flat("Action=CreateHTTPListener&Nonce=1&Port=80", skip);
	assert_non_null(got);
	assert_string_equal(got, "{\"Port\":\"80\"}");
	free(got);
}

static void flattened_clashes_gaps_and_bad_paths_are_refused(void **state)
{
	static const char *const bad[] = {
		"Ids.1=a",                          /* no element 0 */
		"Ids.0=a&Ids.2=b",                  /* a gap */
		"Ids.0=a&Ids.x=b",                  /* an index and a name at one level */
		"A=1&A.B=2", "A.B=2&A=1",           /* a value and a container */
		"A.B=1&A.B.C=2",
		"Port=1&Port=2", "Ids.0=a&Ids.0=b", /* given twice */
		"A..B=1", "A.=1", ".A=1",           /* empty segments */
		"Ids.01=a", "Ids.00=a&Ids.0=b",     /* an index spelled another way */
		"Ids.0123456789=a",
		"A.B.C.D.E.F.G.H.I=1",              /* too deep */
		"Name=%FF", "Name=%C3",             /* not UTF-8 */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_flat_refused(bad[i]);
}

static void the_refusal_names_the_parameter(void **state)
{
	struct ctl_form f;
	char err[256] = "";
	(void)state;
	parse(&f, "Port=80&ListenerIds.0=a&ListenerIds.3=b");
	assert_null(ctl_form_to_json(&f, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "`ListenerIds`"));
	ctl_form_free(&f);
	parse(&f, "Port=80&Port.0=1");
	assert_null(ctl_form_to_json(&f, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "`Port.0`"));
	ctl_form_free(&f);
}

/* --- languages and messages --- */

static void language_values(void **state)
{
	enum ctl_lang l = CTL_LANG_ZH_CN;
	(void)state;
	assert_int_equal(ctl_lang_parse(NULL, &l), 0);
	assert_int_equal(l, CTL_LANG_EN_US);
	assert_int_equal(ctl_lang_parse("zh-CN", &l), 0);
	assert_int_equal(l, CTL_LANG_ZH_CN);
	assert_int_equal(ctl_lang_parse("", &l), 0);        /* the Go SDK sends it empty */
	assert_int_equal(l, CTL_LANG_EN_US);
	assert_int_equal(ctl_lang_parse("en-US", &l), 0);
	assert_int_equal(l, CTL_LANG_EN_US);
	assert_int_equal(ctl_lang_parse("zh-cn", &l), 0);
	assert_int_equal(l, CTL_LANG_ZH_CN);
	assert_int_equal(ctl_lang_parse("fr-FR", &l), -1);
	assert_int_equal(ctl_lang_parse("zh", &l), -1);
	assert_int_equal(ctl_lang_parse("zh-CN ", &l), -1);
}

static void every_code_has_messages_in_both_languages(void **state)
{
	(void)state;
	for (int e = CTL_E_OK + 1; e < CTL_E__COUNT; e++) {
		assert_true(strlen(ctl_err_code((enum ctl_err)e)) > 0);
		assert_true(strlen(ctl_err_message_in((enum ctl_err)e, CTL_LANG_EN_US)) > 0);
		assert_true(strlen(ctl_err_message_in((enum ctl_err)e, CTL_LANG_ZH_CN)) > 0);
		assert_string_equal(ctl_err_message((enum ctl_err)e),
			ctl_err_message_in((enum ctl_err)e, CTL_LANG_EN_US));
	}
	assert_string_equal(ctl_err_code(CTL_E__COUNT), "InternalError");
}

static void message_text_per_language(void **state)
{
	char out[512];
	(void)state;
	ctl_err_text(CTL_E_INVALID_ACTION, CTL_LANG_EN_US, "", out, sizeof(out));
	assert_string_equal(out, "The request `Action` is invalid or not found.");
	ctl_err_text(CTL_E_INVALID_ACTION, CTL_LANG_ZH_CN, NULL, out, sizeof(out));
	assert_string_equal(out, "接口不存在。");
	ctl_err_text(CTL_E_INVALID_PARAMETER, CTL_LANG_EN_US, "Parameter `Port` type error.", out,
		sizeof(out));
	assert_string_equal(out, "Parameter `Port` type error.");
	ctl_err_text(CTL_E_INVALID_PARAMETER, CTL_LANG_ZH_CN, "Parameter `Port` type error.", out,
		sizeof(out));
	assert_string_equal(out, "参数错误（包括参数格式、类型等错误）。(Parameter `Port` type error.)");
}

static void messages_are_always_valid_utf8(void **state)
{
	char s[64], out[16];
	(void)state;
	snprintf(s, sizeof(s), "a\xff" "b\xc3(\xed\xa0\x80" "c");  /* stray, bad continuation, surrogate */
	ctl_utf8_clean(s);
	assert_string_equal(s, "a?b?(???c");
	snprintf(s, sizeof(s), "ok \xe7\x9b\x91\xe7\x9b");         /* the last character cut short */
	ctl_utf8_clean(s);
	assert_string_equal(s, "ok \xe7\x9b\x91");
	/* a buffer too small cuts a character: what remains is still UTF-8 */
	ctl_err_text(CTL_E_INVALID_PARAMETER, CTL_LANG_EN_US, "abcdefghijklm\xe7\x9b\x91", out, sizeof(out));
	assert_string_equal(out, "abcdefghijklm");
}

/* --- ctl_api_handle() with v1 requests --- */

#define NOW 1700000000
#define KEY "unittestsecretkey0123456789abcdef"
#define KEY2 "unittestsecretkey2123456789abcdef"
#define REPLAY_LIMIT 100

struct api_fixture {
	struct cfg *cfg;
	struct ctl_creds *creds;
	struct ctl_deps deps;
	struct ctl_api *api;
};

static int api_setup(void **state)
{
	struct api_fixture *f = calloc(1, sizeof(*f));
	char err[256];
	assert_non_null(f);
	assert_int_equal(cfg_load_string("control:\n  listen: 127.0.0.1:0\n  rate_limit: 1000000\n"
		"  v1_replay_limit: 100\n", "t.yaml", "/tmp", &f->cfg, err, sizeof(err)), 0);
	assert_int_equal(ctl_creds_parse("[default]\nsecret_id = AKIDUNIT\nsecret_key = " KEY "\n"
		"[other]\nsecret_id = AKIDTWO\nsecret_key = " KEY2 "\n",
		"credentials", &f->creds, err, sizeof(err)), 0);
	f->deps = (struct ctl_deps){ .cfg = f->cfg, .creds = f->creds };
	assert_non_null(f->api = ctl_api_new(&f->deps));
	log_set_level(LOG_LEVEL_WARN);     /* one info line per call otherwise */
	*state = f;
	return 0;
}

static int api_teardown(void **state)
{
	struct api_fixture *f = *state;
	ctl_api_destroy(f->api);
	ctl_creds_destroy(f->creds);
	cfg_destroy(f->cfg);
	free(f);
	return 0;
}

static void url_encode(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(out);
	for (; *s != '\0' && n + 4 < outlen; s++)
		n += (size_t)snprintf(out + n, outlen - n, strchr("+/=", *s) ? "%%%02X" : "%c",
			(unsigned char)*s);
}

static char last_message[512];       /* of the last v1_call_as() */

/* The error code gaapd answers to a signed v1 GET of CreateUnicorn by secret_id (InvalidAction
 * once the signature and the replay check pass) at server time now. */
static const char *v1_call_as(struct ctl_api *api, const char *secret_id, const char *key,
	unsigned nonce, long ts, long now)
{
	static char code[64];
	const char *keys[] = { "Action", "Version", "Nonce", "Timestamp", "SecretId" };
	char n[16], t[24], sig[CTL_V1_SIG_MAX], target[512];
	const char *values[] = { "CreateUnicorn", "2018-05-29", n, t, secret_id };
	struct ctl_req r;
	snprintf(n, sizeof(n), "%u", nonce);
	snprintf(t, sizeof(t), "%ld", ts);
	assert_int_equal(ctl_v1_sign("GET", "h", keys, values, 5, NULL, key, sig, sizeof(sig)), 0);
	snprintf(target, sizeof(target), "/?Action=CreateUnicorn&Version=2018-05-29&Nonce=%s"
		"&Timestamp=%s&SecretId=%s&Signature=", n, t, secret_id);
	url_encode(target, sizeof(target), sig);
	memset(&r, 0, sizeof(r));
	snprintf(r.method, sizeof(r.method), "GET");
	ctl_req_set_target(&r, strdup(target));
	assert_int_equal(ctl_req_add_header(&r, "Host", 4, "h", 1), 0);
	char *answer = ctl_api_handle(api, &r, now);
	json_t *doc = json_loads(answer, 0, NULL);
	json_t *error = json_object_get(json_object_get(doc, "Response"), "Error");
	snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(error, "Code")));
	snprintf(last_message, sizeof(last_message), "%s",
		json_string_value(json_object_get(error, "Message")));
	json_decref(doc);
	free(answer);
	ctl_req_reset(&r);
	return code;
}

static const char *v1_call(struct ctl_api *api, unsigned nonce, long ts)
{
	return v1_call_as(api, "AKIDUNIT", KEY, nonce, ts, NOW);
}

static void v1_replays_are_refused(void **state)
{
	struct api_fixture *f = *state;
	assert_string_equal(v1_call(f->api, 7, NOW), "InvalidAction");
	assert_string_equal(v1_call(f->api, 7, NOW), "AuthFailure.SignatureFailure");
	assert_string_equal(v1_call(f->api, 8, NOW), "InvalidAction");
	assert_string_equal(v1_call(f->api, 7, NOW - 1), "InvalidAction");
	assert_string_equal(v1_call(f->api, 7, NOW - 301), "AuthFailure.SignatureExpire");
}

/* Issue 17: one key stamping requests 5 minutes ahead filled a global table and locked every
 * other key's v1 calls out. Now it fills its own table and is told when it clears. */
static void v1_a_full_key_is_refused_with_when_it_clears_and_blocks_no_other(void **state)
{
	struct api_fixture *f = *state;
	unsigned nonce = 1;
	for (int i = 0; i < REPLAY_LIMIT; i++)
		assert_string_equal(v1_call(f->api, nonce++, NOW + 300), "InvalidAction");
	assert_string_equal(v1_call(f->api, nonce++, NOW), "RequestLimitExceeded");
	assert_non_null(strstr(last_message, "already has 100 "));
	assert_non_null(strstr(last_message, "accepted in 601 s. TC3-HMAC-SHA256 calls are not "
		"limited this way."));     /* whole: it fits call->message */
	assert_string_equal(v1_call(f->api, 1, NOW + 300), "AuthFailure.SignatureFailure");
	for (int i = 0; i < REPLAY_LIMIT; i++)
		assert_string_equal(v1_call_as(f->api, "AKIDTWO", KEY2, nonce++, NOW, NOW),
			"InvalidAction");
	/* the oldest leave the window and make room */
	assert_string_equal(v1_call_as(f->api, "AKIDUNIT", KEY, nonce++, NOW + 600, NOW + 600),
		"RequestLimitExceeded");
	assert_string_equal(v1_call_as(f->api, "AKIDUNIT", KEY, nonce++, NOW + 601, NOW + 601),
		"InvalidAction");
}

/* A reload keeps a remaining key's table (a replay is still refused), drops a removed key's. */
static void v1_tables_follow_a_credentials_reload(void **state)
{
	struct api_fixture *f = *state;
	struct ctl_creds *next = NULL;
	char err[256];
	assert_string_equal(v1_call(f->api, 7, NOW), "InvalidAction");
	assert_string_equal(v1_call_as(f->api, "AKIDTWO", KEY2, 7, NOW, NOW), "InvalidAction");
	assert_int_equal(ctl_creds_parse("[other]\nsecret_id = AKIDTWO\nsecret_key = " KEY2 "\n",
		"credentials", &next, err, sizeof(err)), 0);
	f->deps.creds = next;
	ctl_api_reconfigure(f->api);
	ctl_creds_destroy(f->creds);
	f->creds = next;
	assert_string_equal(v1_call_as(f->api, "AKIDTWO", KEY2, 7, NOW, NOW),
		"AuthFailure.SignatureFailure");
	assert_string_equal(v1_call(f->api, 7, NOW), "AuthFailure.SecretIdNotFound");
	assert_string_equal(v1_call_as(f->api, "AKIDTWO", KEY2, 8, NOW, NOW), "InvalidAction");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(form_decodes_plus_and_percent_as_python_and_node_send_them),
		cmocka_unit_test(form_keeps_order_and_duplicates_and_skips_empty_pairs),
		cmocka_unit_test(form_decodes_a_key_with_an_escaped_equals_sign),
		cmocka_unit_test(form_refuses_bad_escapes_nul_bytes_and_empty_names),
		cmocka_unit_test(flattened_arrays_and_objects_become_json),
		cmocka_unit_test(array_indexes_may_come_in_any_order),
		cmocka_unit_test(top_level_names_are_never_arrays),
		cmocka_unit_test(common_params_are_skipped),
		cmocka_unit_test(flattened_clashes_gaps_and_bad_paths_are_refused),
		cmocka_unit_test(the_refusal_names_the_parameter),
		cmocka_unit_test(language_values),
		cmocka_unit_test(every_code_has_messages_in_both_languages),
		cmocka_unit_test(message_text_per_language),
		cmocka_unit_test(messages_are_always_valid_utf8),
		cmocka_unit_test_setup_teardown(v1_replays_are_refused, api_setup, api_teardown),
		cmocka_unit_test_setup_teardown(
			v1_a_full_key_is_refused_with_when_it_clears_and_blocks_no_other,
			api_setup, api_teardown),
		cmocka_unit_test_setup_teardown(v1_tables_follow_a_credentials_reload,
			api_setup, api_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
