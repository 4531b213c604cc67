/* tests/unit/test_px_feed.c - px_feed() and the head collectors on canned bytes split at every
 * offset (and at every byte) give the same parse as the bytes in one piece. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/msg.h"

/* What a parse produced, as text: heads, body bytes, chunk sizes, message ends, the error. */
struct result {
	char text[8192];
	size_t len;
};

static void say(struct result *r, const char *s, size_t n)
{
	assert_true(r->len + n < sizeof r->text);
	memcpy(r->text + r->len, s, n);
	r->len += n;
	r->text[r->len] = '\0';
}

static int t_headers(llhttp_t *p)
{
	struct px_msg *m = (struct px_msg *)p;
	m->got_head = 1;
	if (p->type == HTTP_RESPONSE && p->status_code < 200)
		return 1;
	return HPE_PAUSED;
}

static int t_body(llhttp_t *p, const char *at, size_t len)
{
	say(p->data, at, len);
	return 0;
}

static int t_chunk(llhttp_t *p)
{
	char s[40];
	snprintf(s, sizeof s, "[chunk %llu]", (unsigned long long)p->content_length);
	say(p->data, s, strlen(s));
	return 0;
}

static int t_done(llhttp_t *p)
{
	struct px_msg *m = (struct px_msg *)p;
	m->done = 1;
	m->keep = llhttp_should_keep_alive(p);
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_url = px_msg_on_target,
	.on_status = px_msg_on_target,
	.on_header_field = px_msg_on_field,
	.on_header_value = px_msg_on_value,
	.on_header_value_complete = px_msg_on_value_complete,
	.on_headers_complete = t_headers,
	.on_body = t_body,
	.on_chunk_header = t_chunk,
	.on_message_complete = t_done,
};

static void say_head(struct result *r, struct px_msg *m)
{
	char s[64];
	const struct px_head *h = &m->head;
	snprintf(s, sizeof s, "<%d %d %u.%u ", m->p.method, m->p.status_code, m->p.http_major,
		m->p.http_minor);
	say(r, s, strlen(s));
	say(r, h->buf, h->tlen);
	for (size_t i = 0; i < h->nhdrs; i++) {
		say(r, "|", 1);
		say(r, h->buf + h->hdrs[i].name, h->hdrs[i].nlen);
		say(r, "=", 1);
		say(r, h->buf + h->hdrs[i].value, h->hdrs[i].vlen);
	}
	if (px_msg_check(m) != NULL) {    /* what the proxy refuses although llhttp took it */
		say(r, "!", 1);
		say(r, px_msg_check(m), strlen(px_msg_check(m)));
	}
	say(r, ">", 1);
}

/* Parses data cut at the given offsets (each piece its own evbuffer chain, so its own execute
 * call), the way the proxy does: drain what was used, note pauses, resume. */
static void run(llhttp_type_t type, const char *data, const size_t *cuts, size_t ncuts,
	struct result *r)
{
	struct evbuffer *in = evbuffer_new();
	struct px_msg m;
	size_t at = 0;
	r->len = 0;
	r->text[0] = '\0';
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : strlen(data);
		if (end > at)
			evbuffer_add_reference(in, data + at, end - at, NULL, NULL);
		at = end;
	}
	px_msg_init(&m, type, &settings, 4096, r);
	for (int resumed = 0;;) {
		size_t used;
		enum llhttp_errno err;
		if (evbuffer_get_length(in) == 0 && !resumed)
			break;
		err = px_feed(&m, in, &used);
		resumed = 0;
		evbuffer_drain(in, used);
		if (err == HPE_OK)
			continue;
		if (err != HPE_PAUSED) {
			char s[80];
			snprintf(s, sizeof s, "{error %s fold=%u large=%u}", llhttp_errno_name(err),
				m.obs_fold, m.too_large);
			say(r, s, strlen(s));
			break;
		}
		if (!m.done) {
			say_head(r, &m);
		} else {
			if (m.p.type == HTTP_RESPONSE && m.p.status_code < 200)
				say_head(r, &m);      /* a head that completed a bodiless message */
			say(r, m.keep ? "{end keep}" : "{end close}", m.keep ? 10 : 11);
			px_msg_next(&m);
		}
		llhttp_resume(&m.p);
		resumed = 1;
	}
	px_msg_free(&m);
	evbuffer_free(in);
}

/* Every single cut, every cut into single bytes, and (for short inputs) every pair of cuts. */
static void check_splits(llhttp_type_t type, const char *data, const char *want)
{
	struct result *whole = calloc(1, sizeof *whole), *r = calloc(1, sizeof *r);
	size_t n = strlen(data);
	size_t *bytes = calloc(n + 1, sizeof *bytes);
	assert_non_null(whole);
	assert_non_null(r);
	assert_non_null(bytes);
	run(type, data, NULL, 0, whole);
	if (want != NULL)
		assert_string_equal(whole->text, want);
	for (size_t i = 0; i <= n; i++) {
		run(type, data, &i, 1, r);
		assert_string_equal(r->text, whole->text);
		bytes[i] = i;
	}
	run(type, data, bytes, n, r);
	assert_string_equal(r->text, whole->text);
	for (size_t i = 0; n <= 160 && i <= n; i++) {
		for (size_t j = i; j <= n; j++) {
			size_t cuts[2] = { i, j };
			run(type, data, cuts, 2, r);
			assert_string_equal(r->text, whole->text);
		}
	}
	free(bytes);
	free(whole);
	free(r);
}

static void test_pipelined_requests(void **state)
{
	(void)state;
	check_splits(HTTP_REQUEST,
		"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Long-Header: some value here\r\n\r\n"
		"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer-X: t\r\n\r\n"
		"GET /last HTTP/1.0\r\n\r\n", NULL);
}

static void test_simple_request_result(void **state)
{
	(void)state;
	check_splits(HTTP_REQUEST, "GET /x HTTP/1.1\r\nHost: h\r\nEmpty:\r\n\r\n",
		"<1 0 1.1 /x|Host=h|Empty=>{end keep}");
}

static void test_obs_fold_refused(void **state)
{
	struct result r;
	(void)state;
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\nX: a\r\n  b\r\nHost: h\r\n\r\n",
		"{error HPE_USER fold=1 large=0}");
	/* a fold right after the colon is leading whitespace to llhttp (the value arrives as "b"):
	 * the scan of the head's bytes finds it, at any split */
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h\r\nX:\r\n\tb\r\n\r\n",
		"<1 0 1.1 /|Host=h|X=b!obs-fold>{end keep}");
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n b\r\n\r\n",
		"<1 0 1.1 /|Host=h|X=b!obs-fold>{end keep}");
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
		"{error HPE_USER fold=1 large=0}");
	run(HTTP_REQUEST, "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", NULL, 0, &r);
	assert_non_null(strstr(r.text, "fold=1"));
}

static void test_smuggling_refused(void **state)
{
	(void)state;
	check_splits(HTTP_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 3\r\n"
		"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"{error HPE_UNEXPECTED_CONTENT_LENGTH fold=0 large=0}");
}

/* What strict llhttp 8.1 still takes, found at any split by px_msg_check(). */
static void test_checks_after_llhttp(void **state)
{
	(void)state;
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h\r\n\n",
		"<1 0 1.1 /|Host=h!bare LF>{end keep}");
	check_splits(HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, "
		"chunked\r\n\r\n0\r\n\r\n",
		"<3 0 1.1 /|Host=h|Transfer-Encoding=gzip, chunked!transfer-encoding other than "
		"chunked>[chunk 0]{end keep}");
	check_splits(HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n"
		"\r\n0\r\n\r\n", "<3 0 1.1 /|Host=h|Transfer-Encoding=Chunked>[chunk 0]{end keep}");
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\n: x\r\nHost: h\r\n\r\n",
		"<1 0 1.1 /|=x|Host=h!empty field name>{end keep}");
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\n\r\n", "<1 0 1.1 /!no Host>{end keep}");
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: \r\n\r\n",
		"<1 0 1.1 /|Host=!empty Host>{end keep}");
	check_splits(HTTP_REQUEST, "GET http://a/ HTTP/1.1\r\nHost:\r\n\r\n",
		"<1 0 1.1 http://a/|Host=>{end keep}");     /* the target's authority replaces it */
	check_splits(HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
		"<1 0 1.1 /|Host=a|host=b!several Host>{end keep}");
	check_splits(HTTP_REQUEST, "GET / HTTP/0.9\r\n\r\n", "<1 0 0.9 /!not HTTP/1.x>{end close}");
	check_splits(HTTP_REQUEST, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\n", "<3 0 1.0 /|Transfer-Encoding=chunked!transfer-encoding in HTTP/1.0>"
		"[chunk 0]{end close}");
	check_splits(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"<0 200 1.1 OK|Transfer-Encoding=gzip!transfer-encoding other than chunked>");
	check_splits(HTTP_RESPONSE, "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"<0 200 2.0 OK|Content-Length=0!not HTTP/1.x>{end close}");
	check_splits(HTTP_RESPONSE, "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
		"<0 99 1.1 Odd|Content-Length=0!status out of range>{end keep}");
}

/* OWS around "chunked" is no part of it (RFC 9110 5.5): a tab after it, which llhttp 8.1 takes
 * for another coding (an error for a request, read-until-close for a response), is chunked for
 * the check and for the parser alike, at any split. Every other spelling stays refused. */
static void test_chunked_between_tabs(void **state)
{
	static const char *const refused[] = {
		"chunked, chunked", "gzip, chunked", "chunked;x", "chunked;q=1", "x\tchunked",
		"chunked\tx", "\vchunked", "chunked\v", "\fchunked", "chunked\f", "chunked\r",
		"chunk ed", "\"chunked\"", "chunked,", ",chunked", "identity",
	};
	struct result r;
	(void)state;
	check_splits(HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\t\r\n"
		"\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n",
		"<3 0 1.1 /|Host=h|Transfer-Encoding=chunked>[chunk 3]abc[chunk 0]{end keep}"
		"<1 0 1.1 /next|Host=h>{end keep}");
	check_splits(HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \t Chunked"
		" \t \t\r\n\r\n0\r\n\r\n",
		"<3 0 1.1 /|Host=h|Transfer-Encoding=Chunked>[chunk 0]{end keep}");
	check_splits(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n"
		"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"<0 200 1.1 OK|Transfer-Encoding=chunked>[chunk 5]hello[chunk 0]{end keep}"
		"<0 200 1.1 OK|Content-Length=2>hi{end keep}");
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char req[128];
		snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: %s\r\n"
			"\r\n0\r\n\r\n", refused[i]);
		run(HTTP_REQUEST, req, NULL, 0, &r);
		if (strstr(r.text, "{error") == NULL && strstr(r.text, "!") == NULL)
			fail_msg("accepted: Transfer-Encoding: %s: %s", refused[i], r.text);
	}
}

static void test_header_limit(void **state)
{
	char big[5000];
	struct result r;
	(void)state;
	memset(big, 'a', sizeof big);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memcpy(big + sizeof big - 5, "\r\n\r\n", 5);
	run(HTTP_REQUEST, big, NULL, 0, &r);
	assert_string_equal(r.text, "{error HPE_USER fold=0 large=1}");
}

static void test_responses(void **state)
{
	(void)state;
	check_splits(HTTP_RESPONSE,
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n"
		"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_request_result),
		cmocka_unit_test(test_pipelined_requests),
		cmocka_unit_test(test_obs_fold_refused),
		cmocka_unit_test(test_smuggling_refused),
		cmocka_unit_test(test_checks_after_llhttp),
		cmocka_unit_test(test_chunked_between_tabs),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_responses),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
