/* tests/unit/test_sign.c - request model and signatures against the spec's vectors (spec 1.2, 1.3):
 * the official doc vectors A and B, vector C recorded from the Node SDK (raw .http bytes plus the
 * expected values in .json), Authorization parsing, and the legacy v1 doc vector.
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

#include "req.h"
#include "sign.h"

#define VECTOR_HTTP SPEC_DIR "/vectors/node-sdk-create-http-listener.http"
#define VECTOR_JSON SPEC_DIR "/vectors/node-sdk-create-http-listener.json"

/* The doc vectors' body: the \u escapes are literal bytes. */
#define DOC_BODY "{\"Limit\": 1, \"Filters\": [{\"Values\": [\"\\u672a\\u547d\\u540d\"], \"Name\": \"instance-name\"}]}"
#define DOC_BODY_SHA256 "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define UNSIGNED_SHA256 "438d4109ef0d676b8c2c7ed13cdfcb418e494d53b843d4634ce3b1085f07bb96"

static void add(struct ctl_req *r, const char *name, const char *value)
{
	assert_int_equal(ctl_req_add_header(r, name, strlen(name), value, strlen(value)), 0);
}

static void set_body(struct ctl_req *r, const char *body, size_t len)
{
	free(r->body);
	r->body = malloc(len + 1);
	assert_non_null(r->body);
	memcpy(r->body, body, len);
	r->body[len] = '\0';
	r->body_len = len;
}

static void req_init(struct ctl_req *r, const char *method, const char *target, const char *body)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", method);
	ctl_req_set_target(r, strdup(target));
	if (body != NULL)
		set_body(r, body, strlen(body));
}

static void doc_request(struct ctl_req *r)
{
	req_init(r, "POST", "/", DOC_BODY);
	add(r, "Content-Type", "application/json; charset=utf-8");
	add(r, "Host", "cvm.tencentcloudapi.com");
	add(r, "X-TC-Action", "DescribeInstances");
	add(r, "X-TC-Timestamp", "1551113065");
}

/* The doc's request and its canonical form over the doc's signed headers (the caller frees it). */
static char *doc_canonical(struct ctl_req *r)
{
	char *canonical;
	doc_request(r);
	canonical = ctl_tc3_canonical(r, "content-type;host;x-tc-action", 0);
	assert_non_null(canonical);
	return canonical;
}

static void assert_hash_of(const char *s, const char *expect)
{
	char h[65];
	ctl_sha256_hex(s, strlen(s), h);
	assert_string_equal(h, expect);
}

/* --- struct ctl_req --- */

static void header_lookup_is_case_insensitive_and_last_wins(void **state)
{
	struct ctl_req r;
	(void)state;
	req_init(&r, "POST", "/", NULL);
	add(&r, "Content-Type", "text/plain");
	add(&r, "content-type", "application/json");
	add(&r, "Host", "h");
	assert_string_equal(ctl_req_header(&r, "CONTENT-TYPE"), "application/json");
	assert_string_equal(ctl_req_header(&r, "host"), "h");
	assert_null(ctl_req_header(&r, "X-TC-Action"));
	assert_string_equal(r.headers[0].name, "Content-Type");    /* case kept as received */
	ctl_req_reset(&r);
	assert_null(r.headers);
	assert_int_equal(r.nheaders, 0);
	assert_null(r.target);
}

static void target_splits_at_first_question_mark(void **state)
{
	struct ctl_req r;
	(void)state;
	req_init(&r, "GET", "/p?a=1?b=2", NULL);
	assert_int_equal(r.path_len, 2);
	assert_memory_equal(r.path, "/p", 2);
	assert_string_equal(r.query, "a=1?b=2");
	ctl_req_set_target(&r, strdup("/"));
	assert_int_equal(r.path_len, 1);
	assert_string_equal(r.query, "");
	ctl_req_set_target(&r, strdup("/?"));
	assert_int_equal(r.path_len, 1);
	assert_string_equal(r.query, "");
	ctl_req_reset(&r);
	ctl_req_reset(&r);          /* a reset request resets again */
}

/* --- vectors A and B (Tencent's documentation) --- */

static void vector_a_official_doc(void **state)
{
	struct ctl_req r;
	char sig[65];
	char *canonical;
	(void)state;
	doc_request(&r);
	assert_hash_of(DOC_BODY, DOC_BODY_SHA256);
	canonical = ctl_tc3_canonical(&r, "content-type;host;x-tc-action", 0);
	assert_non_null(canonical);
	assert_string_equal(canonical, "POST\n/\n\n"
		"content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"
		"x-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n" DOC_BODY_SHA256);
	assert_hash_of(canonical, "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84");
	assert_int_equal(ctl_tc3_sign("********************************", "2019-02-25", "cvm",
		"1551113065", canonical, sig), 0);
	assert_string_equal(sig, "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f");
	free(canonical);
	ctl_req_reset(&r);
}

static void vector_b_older_doc(void **state)
{
	struct ctl_req r;
	char sig[65];
	char *canonical;
	(void)state;
	doc_request(&r);
	canonical = ctl_tc3_canonical(&r, "content-type;host", 0);
	assert_non_null(canonical);
	assert_hash_of(canonical, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031");
	assert_int_equal(ctl_tc3_sign("Gu5t9xGARNpq86cd98joQYCN3*******", "2019-02-25", "cvm",
		"1551113065", canonical, sig), 0);
	assert_string_equal(sig, "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c");
	free(canonical);
	ctl_req_reset(&r);
}

/* The signing key each thread keeps is only reused for the same secret, date and service. */
static void signing_key_is_reused_only_for_the_same_secret_date_and_service(void **state)
{
	const char *a = "********************************", *b = "Gu5t9xGARNpq86cd98joQYCN3*******";
	const char *want = "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f";
	char sig[65], other[65], long_key[200];
	struct ctl_req r;
	char *canonical;
	(void)state;
	canonical = doc_canonical(&r);
	assert_int_equal(ctl_tc3_sign(a, "2019-02-25", "cvm", "1551113065", canonical, sig), 0);
	assert_string_equal(sig, want);
	assert_int_equal(ctl_tc3_sign(b, "2019-02-25", "cvm", "1551113065", canonical, other), 0);
	assert_string_not_equal(other, want);
	assert_int_equal(ctl_tc3_sign(a, "2019-02-26", "cvm", "1551113065", canonical, other), 0);
	assert_string_not_equal(other, want);
	assert_int_equal(ctl_tc3_sign(a, "2019-02-25", "cvm2", "1551113065", canonical, other), 0);
	assert_string_not_equal(other, want);
	assert_int_equal(ctl_tc3_sign(a, "2019-02-25", "cvm", "1551113065", canonical, sig), 0);
	assert_string_equal(sig, want);
	memset(long_key, 'k', sizeof(long_key) - 1);   /* longer than what is kept: derived each time */
	long_key[sizeof(long_key) - 1] = '\0';
	assert_int_equal(ctl_tc3_sign(long_key, "2019-02-25", "cvm", "1551113065", canonical, sig), 0);
	assert_int_equal(ctl_tc3_sign(long_key, "2019-02-25", "cvm", "1551113065", canonical, other),
		0);
	assert_string_equal(sig, other);
	assert_string_not_equal(sig, want);
	free(canonical);
	ctl_req_reset(&r);
}

/* A signer (gaapctl) and the verifier agree through the Authorization header. */
static void doc_vector_round_trips_through_authorization(void **state)
{
	const char *key = "********************************";
	struct ctl_tc3_auth a;
	struct ctl_req r;
	char sig[65], value[512];
	char *canonical;
	(void)state;
	canonical = doc_canonical(&r);
	assert_int_equal(ctl_tc3_sign(key, "2019-02-25", "cvm", "1551113065", canonical, sig), 0);
	assert_int_equal(ctl_tc3_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "2019-02-25",
		"cvm", "content-type;host;x-tc-action", sig, value, sizeof(value)), 0);
	assert_int_equal(ctl_tc3_parse(value, &a), 0);
	assert_int_equal(ctl_tc3_check(&r, &a, key), CTL_E_OK);
	assert_int_equal(ctl_tc3_check(&r, &a, "wrong"), CTL_E_AUTH_SIGNATURE_FAILURE);
	assert_int_equal(ctl_tc3_authorization("id", "2019-02-25", "cvm", "host", sig, value, 40), -1);
	free(canonical);
	ctl_req_reset(&r);
}

/* --- vector C (the Node SDK against a loopback daemon) --- */

static char *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = malloc(1 << 16);
	assert_non_null(fp);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 16) - 1, fp);
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

/* "Name: value" */
static void parse_header_line(struct ctl_req *r, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	const char *v;
	assert_non_null(colon);
	v = colon + 1;
	while (*v == ' ')
		v++;
	assert_int_equal(ctl_req_add_header(r, s, (size_t)(colon - s), v, n - (size_t)(v - s)), 0);
}

/* The raw request: request line, CRLF-separated headers, blank line, body. */
static void load_http(struct ctl_req *r)
{
	size_t len;
	char *raw = read_all(VECTOR_HTTP, &len);
	char *end = strstr(raw, "\r\n\r\n");
	char *line, *sp1, *sp2;
	assert_non_null(end);
	memset(r, 0, sizeof(*r));
	line = strstr(raw, "\r\n");
	sp1 = strchr(raw, ' ');
	sp2 = strchr(sp1 + 1, ' ');
	assert_true(sp2 < line);
	snprintf(r->method, sizeof(r->method), "%.*s", (int)(sp1 - raw), raw);
	ctl_req_set_target(r, strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1)));
	for (char *s = line + 2; s < end + 2;) {
		char *e = strstr(s, "\r\n");
		parse_header_line(r, s, (size_t)(e - s));
		s = e + 2;
	}
	set_body(r, end + 4, len - (size_t)(end + 4 - raw));
	free(raw);
}

static const char *jstr(json_t *root, const char *path)
{
	json_t *v = root;
	char key[64];
	for (const char *p = path; v != NULL && *p != '\0';) {
		size_t n = strcspn(p, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		v = json_object_get(v, key);
		p += n + (p[n] == '.');
	}
	assert_non_null(v);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

struct vector_c {
	json_t *json;
	struct ctl_req r;
	struct ctl_tc3_auth a;
};

static int vector_c_setup(void **state)
{
	struct vector_c *c = calloc(1, sizeof(*c));
	json_error_t jerr;
	assert_non_null(c);
	c->json = json_load_file(VECTOR_JSON, 0, &jerr);
	assert_non_null(c->json);
	load_http(&c->r);
	assert_int_equal(ctl_tc3_parse(ctl_req_header(&c->r, "Authorization"), &c->a), 0);
	*state = c;
	return 0;
}

static int vector_c_teardown(void **state)
{
	struct vector_c *c = *state;
	json_decref(c->json);
	ctl_req_reset(&c->r);
	free(c);
	return 0;
}

static void vector_c_request_matches_json(void **state)
{
	struct vector_c *c = *state;
	char scope[256];
	assert_string_equal(c->r.method, jstr(c->json, "method"));
	assert_string_equal(ctl_req_header(&c->r, "Host"), jstr(c->json, "hostHeader"));
	assert_string_equal(c->r.body, jstr(c->json, "body"));
	assert_string_equal(c->a.secret_id, jstr(c->json, "secretId"));
	snprintf(scope, sizeof(scope), "%s/%s/tc3_request", c->a.date, c->a.service);
	assert_string_equal(scope, jstr(c->json, "credentialScope"));
	assert_string_equal(c->a.signed_headers, jstr(c->json, "signedHeaders"));
	assert_string_equal(c->a.signature, jstr(c->json, "signature"));
}

static void vector_c_canonical_and_signature(void **state)
{
	struct vector_c *c = *state;
	const char *ts = ctl_req_header(&c->r, "X-TC-Timestamp");
	const char *sts = jstr(c->json, "stringToSign");
	char sig[65];
	char *canonical = ctl_tc3_canonical(&c->r, c->a.signed_headers, 0);
	assert_non_null(canonical);
	assert_string_equal(canonical, jstr(c->json, "canonicalRequest"));
	assert_hash_of(canonical, strrchr(sts, '\n') + 1);
	assert_int_equal(ctl_tc3_sign(jstr(c->json, "secretKey"), c->a.date, c->a.service, ts,
		canonical, sig), 0);
	assert_string_equal(sig, jstr(c->json, "signature"));
	free(canonical);
}

/* What Go and Python sign on a non-default port: the host with its port. */
static void vector_c_host_with_port(void **state)
{
	struct vector_c *c = *state;
	const char *ts = ctl_req_header(&c->r, "X-TC-Timestamp");
	char sig[65];
	char *canonical = ctl_tc3_canonical(&c->r, c->a.signed_headers, 1);
	assert_non_null(canonical);
	assert_string_equal(canonical, jstr(c->json, "wrongIfHostKeepsPort.canonicalRequest"));
	assert_int_equal(ctl_tc3_sign(jstr(c->json, "secretKey"), c->a.date, c->a.service, ts,
		canonical, sig), 0);
	assert_string_equal(sig, jstr(c->json, "wrongIfHostKeepsPort.signature"));
	free(canonical);
}

static void vector_c_check_accepts_either_host_form(void **state)
{
	struct vector_c *c = *state;
	const char *key = jstr(c->json, "secretKey");
	struct ctl_tc3_auth with_port = c->a;
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_OK);
	snprintf(with_port.signature, sizeof(with_port.signature), "%s",
		jstr(c->json, "wrongIfHostKeepsPort.signature"));
	assert_int_equal(ctl_tc3_check(&c->r, &with_port, key), CTL_E_OK);
}

static void vector_c_check_rejects_wrong_key(void **state)
{
	struct vector_c *c = *state;
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, "localtestsecretkey0123456789abcdeF"),
		CTL_E_AUTH_SIGNATURE_FAILURE);
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, ""), CTL_E_AUTH_SIGNATURE_FAILURE);
}

static void vector_c_check_rejects_tampered_body(void **state)
{
	struct vector_c *c = *state;
	const char *key = jstr(c->json, "secretKey");
	char *port = strstr(c->r.body, "443");
	assert_non_null(port);
	port[0] = '8';
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	port[0] = '4';
	c->r.body_len--;            /* a truncated body too */
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	c->r.body_len++;
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_OK);
}

static void vector_c_check_rejects_tampered_signed_header(void **state)
{
	struct vector_c *c = *state;
	const char *key = jstr(c->json, "secretKey");
	add(&c->r, "Content-Type", "application/json; charset=utf-8");     /* the last one counts */
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	add(&c->r, "Content-Type", "application/json");
	add(&c->r, "Host", "127.0.0.2:43241");
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	add(&c->r, "Host", "127.0.0.1:43241");
	add(&c->r, "User-Agent", "curl/8.0");                             /* not signed: no effect */
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_OK);
}

static void vector_c_check_rejects_tampered_authorization(void **state)
{
	struct vector_c *c = *state;
	const char *key = jstr(c->json, "secretKey");
	struct ctl_tc3_auth a = c->a;
	snprintf(a.service, sizeof(a.service), "gaap");
	assert_int_equal(ctl_tc3_check(&c->r, &a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	a = c->a;
	a.signature[63] = a.signature[63] == '0' ? '1' : '0';
	assert_int_equal(ctl_tc3_check(&c->r, &a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	a = c->a;
	snprintf(a.signed_headers, sizeof(a.signed_headers), "host;content-type");  /* unsorted */
	assert_int_equal(ctl_tc3_check(&c->r, &a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
}

/* The scope date must be the UTC date of X-TC-Timestamp, even if the signature matches it. */
static void check_rejects_scope_date_not_timestamp_date(void **state)
{
	struct vector_c *c = *state;
	const char *key = jstr(c->json, "secretKey");
	const char *ts = ctl_req_header(&c->r, "X-TC-Timestamp");
	struct ctl_tc3_auth a = c->a;
	char *canonical = ctl_tc3_canonical(&c->r, a.signed_headers, 0);
	assert_non_null(canonical);
	snprintf(a.date, sizeof(a.date), "2026-11-29");
	assert_int_equal(ctl_tc3_sign(key, a.date, a.service, ts, canonical, a.signature), 0);
	assert_int_equal(ctl_tc3_check(&c->r, &a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	free(canonical);
	add(&c->r, "X-TC-Timestamp", "17958275270");                      /* another date */
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
	add(&c->r, "X-TC-Timestamp", "1795827527x");
	assert_int_equal(ctl_tc3_check(&c->r, &c->a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
}

/* content-type and host are mandatory in SignedHeaders, even with a matching signature. */
static void check_requires_content_type_and_host_signed(void **state)
{
	struct vector_c *c = *state;
	const char *key = jstr(c->json, "secretKey");
	const char *ts = ctl_req_header(&c->r, "X-TC-Timestamp");
	const char *lists[] = { "host", "content-type", "content-type;x-tc-action" };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct ctl_tc3_auth a = c->a;
		char *canonical = ctl_tc3_canonical(&c->r, lists[i], 0);
		assert_non_null(canonical);
		snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", lists[i]);
		assert_int_equal(ctl_tc3_sign(key, a.date, a.service, ts, canonical, a.signature), 0);
		assert_int_equal(ctl_tc3_check(&c->r, &a, key), CTL_E_AUTH_SIGNATURE_FAILURE);
		free(canonical);
	}
}

static void utc_date(void **state)
{
	char d[11];
	(void)state;
	ctl_utc_date(1795827527, d);
	assert_string_equal(d, "2026-11-28");
	ctl_utc_date(1551113065, d);
	assert_string_equal(d, "2019-02-25");
	ctl_utc_date(0, d);
	assert_string_equal(d, "1970-01-01");
}

/* --- canonical request details --- */

static char *canonical_of(const char *method, const char *target, const char *host, int keeps_port)
{
	struct ctl_req r;
	char *s;
	req_init(&r, method, target, NULL);
	add(&r, "Content-Type", "application/json");
	add(&r, "Host", host);
	s = ctl_tc3_canonical(&r, "content-type;host", keeps_port);
	ctl_req_reset(&r);
	assert_non_null(s);
	return s;
}

static void assert_canonical_host(const char *host, int keeps_port, const char *expect)
{
	char *s = canonical_of("POST", "/", host, keeps_port);
	char want[256];
	snprintf(want, sizeof(want), "POST\n/\n\ncontent-type:application/json\nhost:%s\n\n"
		"content-type;host\n" EMPTY_SHA256, expect);
	assert_string_equal(s, want);
	free(s);
}

static void canonical_host_port_forms(void **state)
{
	(void)state;
	assert_canonical_host("127.0.0.1:8080", 0, "127.0.0.1");
	assert_canonical_host("127.0.0.1:8080", 1, "127.0.0.1:8080");
	assert_canonical_host("[::1]:9680", 0, "[::1]");
	assert_canonical_host("[::1]:9680", 1, "[::1]:9680");
	assert_canonical_host("[::1]", 0, "[::1]");
	assert_canonical_host("::1", 0, "::1");                 /* bare v6: no port to strip */
	assert_canonical_host("localhost", 0, "localhost");
	assert_canonical_host(" GAAP.TencentCloudAPI.com:443 \t", 0, "gaap.tencentcloudapi.com");
	assert_canonical_host("host:abc", 0, "host:abc");       /* not a port */
}

static void canonical_query_only_for_get(void **state)
{
	char *s;
	(void)state;
	s = canonical_of("GET", "/?Limit=1&Name=a%20b", "h", 0);
	assert_string_equal(s, "GET\n/\nLimit=1&Name=a%20b\ncontent-type:application/json\nhost:h\n\n"
		"content-type;host\n" EMPTY_SHA256);
	free(s);
	s = canonical_of("POST", "/?Limit=1", "h", 0);
	assert_string_equal(s, "POST\n/\n\ncontent-type:application/json\nhost:h\n\n"
		"content-type;host\n" EMPTY_SHA256);
	free(s);
}

static void canonical_unsigned_payload(void **state)
{
	struct ctl_req r;
	char *s;
	(void)state;
	req_init(&r, "POST", "/", DOC_BODY);
	add(&r, "Content-Type", "application/json");
	add(&r, "Host", "h");
	add(&r, "X-TC-Content-SHA256", "UNSIGNED-PAYLOAD");
	s = ctl_tc3_canonical(&r, "content-type;host", 0);
	assert_non_null(s);
	assert_string_equal(s, "POST\n/\n\ncontent-type:application/json\nhost:h\n\n"
		"content-type;host\n" UNSIGNED_SHA256);
	free(s);
	add(&r, "X-TC-Content-SHA256", DOC_BODY_SHA256);       /* any other value: hash the body */
	s = ctl_tc3_canonical(&r, "content-type;host", 0);
	assert_non_null(s);
	assert_non_null(strstr(s, "\n" DOC_BODY_SHA256));
	free(s);
	ctl_req_reset(&r);
}

static void canonical_needs_every_signed_header(void **state)
{
	struct ctl_req r;
	(void)state;
	req_init(&r, "POST", "/", "{}");
	add(&r, "Content-Type", "application/json");
	add(&r, "Host", "h");
	assert_null(ctl_tc3_canonical(&r, "content-type;host;x-tc-action", 0));
	assert_null(ctl_tc3_canonical(&r, "content-type;;host", 0));
	assert_null(ctl_tc3_canonical(&r, "", 0));
	ctl_req_reset(&r);
}

/* --- Authorization parsing --- */

#define SIG64 "ead42be96ca854a084c9d6b6917f14a15591d2c9c21e33e6ce3d9a15df7e8f5d"

static void parse_accepts_sdk_forms(void **state)
{
	struct ctl_tc3_auth a;
	(void)state;
	assert_int_equal(ctl_tc3_parse("TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, "
		"SignedHeaders=content-type;host, Signature=" SIG64, &a), 0);
	assert_string_equal(a.secret_id, "AKIDx");
	assert_string_equal(a.date, "2026-11-28");
	assert_string_equal(a.service, "gaap");
	assert_string_equal(a.signed_headers, "content-type;host");
	assert_string_equal(a.signature, SIG64);
	/* no spaces after the commas; Node's "localhost:8080" service */
	assert_int_equal(ctl_tc3_parse("TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/localhost:8080/"
		"tc3_request,SignedHeaders=content-type;host;x-tc-action,Signature=" SIG64, &a), 0);
	assert_string_equal(a.service, "localhost:8080");
	assert_string_equal(a.signed_headers, "content-type;host;x-tc-action");
}

static void parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"SKIP",
		"TC3-HMAC-SHA256",
		"TC3-HMAC-SHA1 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
		"tc3-hmac-sha256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host",
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, Signature=" SIG64,
		"TC3-HMAC-SHA256 SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=",
		/* signature: short, long, upper case, not hex */
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature="
			"ead42be96ca854a084c9d6b6917f14a15591d2c9c21e33e6ce3d9a15df7e8f5",
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature="
			SIG64 "0",
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature="
			"EAD42BE96CA854A084C9D6B6917F14A15591D2C9C21E33E6CE3D9A15DF7E8F5D",
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature="
			"gad42be96ca854a084c9d6b6917f14a15591d2c9c21e33e6ce3d9a15df7e8f5d",
		/* scope */
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_requestx, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request/x, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28//tc3_request, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/26-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026/11/28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
		/* signed headers */
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=Host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host;, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=a;;b, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=a:b, Signature=" SIG64,
		/* order, junk, separators */
		"TC3-HMAC-SHA256 SignedHeaders=host, Credential=AKIDx/2026-11-28/gaap/tc3_request, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request SignedHeaders=host Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64 ", x",
		"TC3-HMAC-SHA256Credential=AKIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AK\tIDx/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
		"TC3-HMAC-SHA256 Credential=AK\xc3\xa9/2026-11-28/gaap/tc3_request, SignedHeaders=host, Signature=" SIG64,
	};
	struct ctl_tc3_auth a;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ctl_tc3_parse(bad[i], &a) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_string_equal(a.secret_id, "");      /* nothing half-parsed left behind */
	}
}

static void parse_rejects_overlong_fields(void **state)
{
	char id[CTL_SECRET_ID_MAX + 1], service[200], headers[600], value[2048];
	struct ctl_tc3_auth a;
	(void)state;
	memset(id, 'A', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	memset(service, 's', sizeof(service) - 1);
	service[sizeof(service) - 1] = '\0';
	memset(headers, 'h', sizeof(headers) - 1);
	headers[sizeof(headers) - 1] = '\0';
	snprintf(value, sizeof(value), "TC3-HMAC-SHA256 Credential=%s/2026-11-28/gaap/tc3_request, "
		"SignedHeaders=host, Signature=" SIG64, id);
	assert_int_equal(ctl_tc3_parse(value, &a), -1);
	id[CTL_SECRET_ID_MAX - 1] = '\0';                  /* the longest that fits */
	snprintf(value, sizeof(value), "TC3-HMAC-SHA256 Credential=%s/2026-11-28/gaap/tc3_request, "
		"SignedHeaders=host, Signature=" SIG64, id);
	assert_int_equal(ctl_tc3_parse(value, &a), 0);
	snprintf(value, sizeof(value), "TC3-HMAC-SHA256 Credential=x/2026-11-28/%s/tc3_request, "
		"SignedHeaders=host, Signature=" SIG64, service);
	assert_int_equal(ctl_tc3_parse(value, &a), -1);
	snprintf(value, sizeof(value), "TC3-HMAC-SHA256 Credential=x/2026-11-28/gaap/tc3_request, "
		"SignedHeaders=%s, Signature=" SIG64, headers);
	assert_int_equal(ctl_tc3_parse(value, &a), -1);
}

/* --- legacy v1 (spec 1.3) --- */

/* The doc vector's params, deliberately unsorted, with a Signature that must be left out. */
static const char *const v1_keys[] = {
	"Version", "Timestamp", "Signature", "SecretId", "Region", "Offset", "Nonce", "Limit",
	"InstanceIds.0", "Action", "SignatureMethod",
};
static const char *const v1_values[] = {
	"2017-03-12", "1465185768", "zmmjn35mikh6pM3V7sUEuX4wyYM=", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
	"ap-guangzhou", "0", "11886", "20", "ins-09dx96dg", "DescribeInstances", "HmacSHA256",
};
#define V1_KEY "Gu5t9xGARNpq86cd98joQYCN3*******"
#define V1_N_SHA1 10                /* without the trailing SignatureMethod */

static void v1_string_to_sign_doc_vector(void **state)
{
	char *s;
	(void)state;
	s = ctl_v1_string_to_sign("GET", "cvm.tencentcloudapi.com", v1_keys, v1_values, V1_N_SHA1);
	assert_non_null(s);
	assert_string_equal(s, "GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0="
		"ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId="
		"AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******&Timestamp=1465185768&Version=2017-03-12");
	free(s);
}

static void v1_hmac_sha1_doc_vector(void **state)
{
	char sig[CTL_V1_SIG_MAX];
	(void)state;
	assert_int_equal(ctl_v1_sign("GET", "cvm.tencentcloudapi.com", v1_keys, v1_values, V1_N_SHA1,
		"HmacSHA1", V1_KEY, sig, sizeof(sig)), 0);
	assert_string_equal(sig, "zmmjn35mikh6pM3V7sUEuX4wyYM=");
	/* an absent SignatureMethod means HmacSHA1 */
	assert_int_equal(ctl_v1_sign("GET", "cvm.tencentcloudapi.com", v1_keys, v1_values, V1_N_SHA1,
		NULL, V1_KEY, sig, sizeof(sig)), 0);
	assert_string_equal(sig, "zmmjn35mikh6pM3V7sUEuX4wyYM=");
}

static void v1_hmac_sha256_vector(void **state)
{
	const size_t n = sizeof(v1_keys) / sizeof(v1_keys[0]);
	char sig[CTL_V1_SIG_MAX];
	(void)state;
	assert_int_equal(ctl_v1_sign("GET", "cvm.tencentcloudapi.com", v1_keys, v1_values, n,
		"HmacSHA256", V1_KEY, sig, sizeof(sig)), 0);
	assert_string_equal(sig, "czb75sAwt2P15FCqA4ugj88/aUVor/dVp3fCS/7mQiY=");
	assert_int_equal(ctl_v1_sign("GET", "cvm.tencentcloudapi.com", v1_keys, v1_values, n,
		"HmacSHA256", V1_KEY, sig, CTL_V1_SIG_MAX - 1), -1);
}

static void v1_keys_sort_by_byte_value(void **state)
{
	const char *keys[] = { "InstanceIds.2", "b", "InstanceIds.12", "B", "a_b", "a.b" };
	const char *values[] = { "x y", "2", "z=1&", "1", "u", "d" };
	char *s;
	(void)state;
	s = ctl_v1_string_to_sign("POST", "127.0.0.1:9680", keys, values, 6);
	assert_non_null(s);
	assert_string_equal(s, "POST127.0.0.1:9680/?B=1&InstanceIds.12=z=1&&InstanceIds.2=x y&a.b=d&a_b=u&b=2");
	free(s);
	s = ctl_v1_string_to_sign("GET", "h", keys, values, 0);
	assert_non_null(s);
	assert_string_equal(s, "GETh/?");
	free(s);
}

/* The doc vector as a server receives it: URL-encoded on the wire, Signature last. */
#define V1_DOC_QUERY "Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886" \
	"&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3%2A%2A%2A%2A%2A%2A%2A" \
	"&Timestamp=1465185768&Version=2017-03-12"

static void v1_decoded_form_gives_the_doc_string_to_sign(void **state)
{
	struct ctl_form f;
	char *s;
	(void)state;
	assert_int_equal(ctl_form_parse(V1_DOC_QUERY, strlen(V1_DOC_QUERY), &f), 0);
	s = ctl_v1_string_to_sign("GET", "cvm.tencentcloudapi.com", f.keys, f.values, f.n);
	assert_non_null(s);
	assert_string_equal(s, "GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0="
		"ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId="
		"AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******&Timestamp=1465185768&Version=2017-03-12");
	free(s);
	ctl_form_free(&f);
}

static enum ctl_err v1_check_query(const char *method, const char *host, const char *query,
	const char *key)
{
	struct ctl_form f;
	enum ctl_err e;
	assert_int_equal(ctl_form_parse(query, strlen(query), &f), 0);
	e = ctl_v1_check(method, host, &f, key);
	ctl_form_free(&f);
	return e;
}

static void v1_check_accepts_the_doc_vectors(void **state)
{
	(void)state;
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com", V1_DOC_QUERY
		"&Signature=zmmjn35mikh6pM3V7sUEuX4wyYM%3D", V1_KEY), CTL_E_OK);
	/* Signature may come anywhere; SignatureMethod is signed like any other param */
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com",
		"Signature=czb75sAwt2P15FCqA4ugj88%2FaUVor%2FdVp3fCS%2F7mQiY%3D&" V1_DOC_QUERY
		"&SignatureMethod=HmacSHA256", V1_KEY), CTL_E_OK);
}

static void v1_check_refuses_anything_else(void **state)
{
	const char *sig = "&Signature=zmmjn35mikh6pM3V7sUEuX4wyYM%3D";
	char q[1024];
	(void)state;
	snprintf(q, sizeof(q), "%s%s", V1_DOC_QUERY, sig);
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com", q, "wrong"),
		CTL_E_AUTH_SIGNATURE_FAILURE);
	assert_int_equal(v1_check_query("POST", "cvm.tencentcloudapi.com", q, V1_KEY),
		CTL_E_AUTH_SIGNATURE_FAILURE);
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com:443", q, V1_KEY),
		CTL_E_AUTH_SIGNATURE_FAILURE);
	snprintf(q, sizeof(q), "%s&Limit2=1%s", V1_DOC_QUERY, sig);     /* an unsigned extra param */
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com", q, V1_KEY),
		CTL_E_AUTH_SIGNATURE_FAILURE);
	snprintf(q, sizeof(q), "%s&SignatureMethod=HmacSHA256%s", V1_DOC_QUERY, sig);
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com", q, V1_KEY),
		CTL_E_AUTH_SIGNATURE_FAILURE);
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com", V1_DOC_QUERY, V1_KEY),
		CTL_E_AUTH_SIGNATURE_FAILURE);
	snprintf(q, sizeof(q), "%s&Signature=zmmjn35mikh6pM3V7sUEuX4wyYM", V1_DOC_QUERY);
	assert_int_equal(v1_check_query("GET", "cvm.tencentcloudapi.com", q, V1_KEY),
		CTL_E_AUTH_SIGNATURE_FAILURE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_lookup_is_case_insensitive_and_last_wins),
		cmocka_unit_test(target_splits_at_first_question_mark),
		cmocka_unit_test(vector_a_official_doc),
		cmocka_unit_test(vector_b_older_doc),
		cmocka_unit_test(doc_vector_round_trips_through_authorization),
		cmocka_unit_test(signing_key_is_reused_only_for_the_same_secret_date_and_service),
		cmocka_unit_test_setup_teardown(vector_c_request_matches_json, vector_c_setup, vector_c_teardown),
		cmocka_unit_test_setup_teardown(vector_c_canonical_and_signature, vector_c_setup, vector_c_teardown),
		cmocka_unit_test_setup_teardown(vector_c_host_with_port, vector_c_setup, vector_c_teardown),
		cmocka_unit_test_setup_teardown(vector_c_check_accepts_either_host_form, vector_c_setup,
			vector_c_teardown),
		cmocka_unit_test_setup_teardown(vector_c_check_rejects_wrong_key, vector_c_setup, vector_c_teardown),
		cmocka_unit_test_setup_teardown(vector_c_check_rejects_tampered_body, vector_c_setup,
			vector_c_teardown),
		cmocka_unit_test_setup_teardown(vector_c_check_rejects_tampered_signed_header, vector_c_setup,
			vector_c_teardown),
		cmocka_unit_test_setup_teardown(vector_c_check_rejects_tampered_authorization, vector_c_setup,
			vector_c_teardown),
		cmocka_unit_test_setup_teardown(check_rejects_scope_date_not_timestamp_date, vector_c_setup,
			vector_c_teardown),
		cmocka_unit_test_setup_teardown(check_requires_content_type_and_host_signed, vector_c_setup,
			vector_c_teardown),
		cmocka_unit_test(utc_date),
		cmocka_unit_test(canonical_host_port_forms),
		cmocka_unit_test(canonical_query_only_for_get),
		cmocka_unit_test(canonical_unsigned_payload),
		cmocka_unit_test(canonical_needs_every_signed_header),
		cmocka_unit_test(parse_accepts_sdk_forms),
		cmocka_unit_test(parse_rejects),
		cmocka_unit_test(parse_rejects_overlong_fields),
		cmocka_unit_test(v1_string_to_sign_doc_vector),
		cmocka_unit_test(v1_hmac_sha1_doc_vector),
		cmocka_unit_test(v1_hmac_sha256_vector),
		cmocka_unit_test(v1_keys_sort_by_byte_value),
		cmocka_unit_test(v1_decoded_form_gives_the_doc_string_to_sign),
		cmocka_unit_test(v1_check_accepts_the_doc_vectors),
		cmocka_unit_test(v1_check_refuses_anything_else),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
