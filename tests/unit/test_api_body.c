/* tests/unit/test_api_body.c - what the control server may buffer of a request body, decided from
 * the head before the body is read (ctl_api_body_allowance()), and the answer to a body over it
 * (ctl_api_refuse_body()): the one the whole request would have got.
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
#include "cfg.h"
#include "creds.h"
#include "ctl.h"
#include "log.h"
#include "req.h"

#define NOW 1700000000
#define KNOWN "TC3-HMAC-SHA256 Credential=AKIDUNIT/2023-11-14/gaap/tc3_request, " \
	"SignedHeaders=content-type;host, Signature=" \
	"0000000000000000000000000000000000000000000000000000000000000000"
#define UNKNOWN "TC3-HMAC-SHA256 Credential=AKIDNOBODY/2023-11-14/gaap/tc3_request, " \
	"SignedHeaders=content-type;host, Signature=" \
	"0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
	struct cfg *cfg;
	struct ctl_creds *creds;
	struct ctl_deps deps;
	struct ctl_api *api;
};

static struct fixture *fixture_new(const char *auth)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256], text[256];
	assert_non_null(f);
	snprintf(text, sizeof(text), "control:\n  listen: 127.0.0.1:0\n  auth: %s\n"
		"  max_request_size: 65536\n", auth);
	assert_int_equal(cfg_load_string(text, "t.yaml", "/tmp", &f->cfg, err, sizeof(err)), 0);
	assert_int_equal(ctl_creds_parse("[default]\nsecret_id = AKIDUNIT\nsecret_key = k\n",
		"credentials", &f->creds, err, sizeof(err)), 0);
	f->deps = (struct ctl_deps){ .cfg = f->cfg, .creds = f->creds };
	assert_non_null(f->api = ctl_api_new(&f->deps));
	log_set_level(LOG_LEVEL_WARN);
	return f;
}

static int setup_signature(void **state)
{
	*state = fixture_new("signature");
	return 0;
}

static int setup_none(void **state)
{
	*state = fixture_new("none");
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ctl_api_destroy(f->api);
	ctl_creds_destroy(f->creds);
	cfg_destroy(f->cfg);
	free(f);
	return 0;
}

/* A POST head: Content-Type, an optional Authorization, X-TC-Action and X-TC-Timestamp. */
static void head(struct ctl_req *r, const char *type, const char *authorization)
{
	char ts[24];
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "POST");
	ctl_req_set_target(r, strdup("/"));
	assert_int_equal(ctl_req_add_header(r, "Host", 4, "h", 1), 0);
	assert_int_equal(ctl_req_add_header(r, "Content-Type", 12, type, strlen(type)), 0);
	if (authorization != NULL) {
		snprintf(ts, sizeof(ts), "%d", NOW);
		assert_int_equal(ctl_req_add_header(r, "Authorization", 13, authorization,
			strlen(authorization)), 0);
		assert_int_equal(ctl_req_add_header(r, "X-TC-Action", 11, "DescribeProxies", 15), 0);
		assert_int_equal(ctl_req_add_header(r, "X-TC-Timestamp", 14, ts, strlen(ts)), 0);
	}
}

/* The error code and message of ctl_api_refuse_body() for r. */
static void refusal(struct fixture *f, struct ctl_req *r, char *code, char *message)
{
	char *answer = ctl_api_refuse_body(f->api, r, NOW);
	json_t *doc = json_loads(answer, 0, NULL);
	json_t *error = json_object_get(json_object_get(doc, "Response"), "Error");
	assert_non_null(error);
	snprintf(code, 64, "%s", json_string_value(json_object_get(error, "Code")));
	snprintf(message, 256, "%s", json_string_value(json_object_get(error, "Message")));
	json_decref(doc);
	free(answer);
}

static void a_known_secret_id_may_send_up_to_max_request_size(void **state)
{
	struct fixture *f = *state;
	struct ctl_req r;
	head(&r, "application/json", KNOWN);
	assert_int_equal(ctl_api_body_allowance(f->api, &r), 65536);
	ctl_req_reset(&r);
}

static void without_known_credentials_a_body_is_held_to_the_v1_limit(void **state)
{
	struct fixture *f = *state;
	const char *authorizations[] = { NULL, UNKNOWN, "SKIP", "TC3-HMAC-SHA256 Credential=AKIDUNIT" };
	struct ctl_req r;
	for (size_t i = 0; i < sizeof(authorizations) / sizeof(authorizations[0]); i++) {
		head(&r, "application/json", authorizations[i]);
		assert_int_equal(ctl_api_body_allowance(f->api, &r), CTL_API_V1_MAX_BYTES);
		ctl_req_reset(&r);
	}
	head(&r, "application/x-www-form-urlencoded", NULL);   /* v1: its SecretId is in the form */
	assert_int_equal(ctl_api_body_allowance(f->api, &r), CTL_API_V1_MAX_BYTES);
	ctl_req_reset(&r);
}

static void under_auth_none_every_body_may_reach_max_request_size(void **state)
{
	struct fixture *f = *state;
	struct ctl_req r;
	head(&r, "application/json", NULL);
	assert_int_equal(ctl_api_body_allowance(f->api, &r), 65536);
	ctl_req_reset(&r);
}

static void a_v1_form_over_the_limit_gets_tencents_answer(void **state)
{
	struct fixture *f = *state;
	char code[64], message[256];
	struct ctl_req r;
	head(&r, "application/x-www-form-urlencoded", NULL);
	refusal(f, &r, code, message);
	assert_string_equal(code, "AuthFailure.SignatureFailure");
	assert_non_null(strstr(message, "exceeding request size limit"));
	ctl_req_reset(&r);
}

static void a_tc3_call_is_refused_as_its_authentication_would_be(void **state)
{
	struct fixture *f = *state;
	char code[64], message[256];
	struct ctl_req r;
	head(&r, "application/json", UNKNOWN);
	refusal(f, &r, code, message);
	assert_string_equal(code, "AuthFailure.SecretIdNotFound");
	ctl_req_reset(&r);
	head(&r, "application/json", "SKIP");
	refusal(f, &r, code, message);
	assert_string_equal(code, "AuthFailure.InvalidAuthorization");
	ctl_req_reset(&r);
	head(&r, "application/json", NULL);
	refusal(f, &r, code, message);
	assert_string_equal(code, "MissingParameter");
	ctl_req_reset(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_known_secret_id_may_send_up_to_max_request_size,
			setup_signature, teardown),
		cmocka_unit_test_setup_teardown(without_known_credentials_a_body_is_held_to_the_v1_limit,
			setup_signature, teardown),
		cmocka_unit_test_setup_teardown(under_auth_none_every_body_may_reach_max_request_size,
			setup_none, teardown),
		cmocka_unit_test_setup_teardown(a_v1_form_over_the_limit_gets_tencents_answer,
			setup_signature, teardown),
		cmocka_unit_test_setup_teardown(a_tc3_call_is_refused_as_its_authentication_would_be,
			setup_signature, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
