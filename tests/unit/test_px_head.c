/* tests/unit/test_px_head.c - head collection and rebuild: hop-by-hop filtering, X-Forwarded-For,
 * Host kept, the target byte for byte, upgrade offers (WebSocket kept, others stripped),
 * response heads (the 101 of a tunnel), the close-reason table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/close.h"
#include "proxy/head.h"
#include "proxy/msg.h"
#include "proxy/rewrite.h"
#include "proxy/uri.h"

static int headers_done(llhttp_t *p)
{
	((struct px_msg *)p)->got_head = 1;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_url = px_msg_on_target,
	.on_status = px_msg_on_target,
	.on_header_field = px_msg_on_field,
	.on_header_value = px_msg_on_value,
	.on_header_value_complete = px_msg_on_value_complete,
	.on_headers_complete = headers_done,
};

static void parse(struct px_msg *m, llhttp_type_t type, const char *text)
{
	struct evbuffer *in = evbuffer_new();
	size_t used;
	assert_non_null(in);
	px_msg_init(m, type, &settings, 8192, NULL);
	assert_int_equal(evbuffer_add(in, text, strlen(text)), 0);
	assert_int_equal(px_feed(m, in, &used), HPE_PAUSED);
	assert_int_equal(used, strlen(text));
	assert_true(m->got_head);
	evbuffer_free(in);
}

/* The evbuffer's contents as a NUL-terminated string; frees the evbuffer. */
static char *text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = calloc(1, n + 1);
	assert_non_null(s);
	evbuffer_remove(b, s, n);
	evbuffer_free(b);
	return s;
}

static char *rebuild_request(const char *in, const struct px_fwd *f)
{
	struct px_msg m;
	struct evbuffer *out = evbuffer_new();
	parse(&m, HTTP_REQUEST, in);
	assert_int_equal(px_head_request(&m.head, f, out), 0);
	px_msg_free(&m);
	return text_of(out);
}

static void check_request(const char *in, const struct px_fwd *f, const char *want)
{
	char *got = rebuild_request(in, f);
	assert_string_equal(got, want);
	free(got);
}

static const struct px_fwd plain = { .method = "GET", .client_ip = "10.0.0.1" };

static void test_hop_by_hop_removed(void **state)
{
	(void)state;
	check_request("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Secret\r\n"
		"Keep-Alive: 5\r\nX-Secret: 1\r\nTE: trailers\r\nUpgrade: foo\r\n"
		"Proxy-Connection: x\r\nTrailer: y\r\nAccept: */*\r\n\r\n", &plain,
		"GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
}

static void test_connection_tokens(void **state)
{
	(void)state;
	/* tokens with odd spacing, two Connection headers, and a near miss that stays */
	check_request("GET / HTTP/1.1\r\nHost: h\r\nConnection: close ,  X-A\t,x-b\r\n"
		"Connection: X-C\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-AB: 4\r\n\r\n", &plain,
		"GET / HTTP/1.1\r\nHost: h\r\nX-AB: 4\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
}

static void test_forwarded_for_appended(void **state)
{
	(void)state;
	check_request("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\n"
		"X-Real-IP: 9.9.9.9\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n", &plain,
		"GET / HTTP/1.1\r\nHost: h\r\n"
		"X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
}

static void test_target_byte_for_byte(void **state)
{
	struct px_fwd f = { .method = "OPTIONS", .client_ip = "::1" };
	(void)state;
	check_request("GET /%7Efoo/./a;b?c=d&e=%2F&f=%zz&&g HTTP/1.1\r\nhOsT: Ex.COM\r\n\r\n", &plain,
		"GET /%7Efoo/./a;b?c=d&e=%2F&f=%zz&&g HTTP/1.1\r\nhOsT: Ex.COM\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
	check_request("GET http://example.com:8080/x?y HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
		&plain, "GET /x?y HTTP/1.1\r\nHost: example.com:8080\r\n"   /* origin-form: 3.2.2 */
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
	check_request("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &f, "OPTIONS * HTTP/1.1\r\nHost: h\r\n"
		"X-Forwarded-For: ::1\r\nX-Real-IP: ::1\r\n\r\n");
	/* RFC 9112 3.2.4: an absolute-form OPTIONS without a path asks about the server itself */
	check_request("OPTIONS http://h:81 HTTP/1.1\r\nHost: h:81\r\n\r\n", &f,
		"OPTIONS * HTTP/1.1\r\nHost: h:81\r\nX-Forwarded-For: ::1\r\nX-Real-IP: ::1\r\n\r\n");
	check_request("OPTIONS http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", &f,
		"OPTIONS / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: ::1\r\nX-Real-IP: ::1\r\n\r\n");
}

static void test_framing_and_version(void **state)
{
	struct px_fwd chunked = { .method = "POST", .client_ip = "10.0.0.1", .chunked = 1 };
	struct px_fwd close = { .method = "POST", .client_ip = "10.0.0.1", .close = 1 };
	(void)state;
	check_request("POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Empty:\r\n\r\n",
		&chunked, "POST /u HTTP/1.1\r\nHost: h\r\nX-Empty: \r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n"
		"Transfer-Encoding: chunked\r\n\r\n");
	check_request("POST /u HTTP/1.0\r\nContent-Length: 3\r\n\r\n", &close,
		"POST /u HTTP/1.1\r\nContent-Length: 3\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\nConnection: close\r\n\r\n");
}

/* A WebSocket upgrade reaches the origin with Upgrade and Connection as RFC 6455 4.1 wants them
 * (whatever else the client's Connection listed stays behind) and every Sec-WebSocket-* field;
 * a connection the proxy would close is not closed under the upgrade. */
static void test_websocket_upgrade_kept(void **state)
{
	struct px_fwd ws = { .method = "GET", .client_ip = "10.0.0.1", .websocket = 1 };
	struct px_fwd ws_close = { .method = "GET", .client_ip = "10.0.0.1", .websocket = 1,
		.close = 1 };
	static const char req[] = "GET /chat?room=1 HTTP/1.1\r\nHost: h\r\n"
		"Connection: keep-alive, Upgrade, X-Hop\r\nUpgrade: WebSocket\r\nX-Hop: 1\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
		"Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://h\r\n\r\n";
	static const char want[] = "GET /chat?room=1 HTTP/1.1\r\nHost: h\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
		"Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://h\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
	(void)state;
	check_request(req, &ws, want);
	check_request(req, &ws_close, want);
}

/* h2c (and any other protocol) is never offered to the origin: the request goes as HTTP/1.1
 * without Upgrade and HTTP2-Settings, even when the client forgot to list the latter in
 * Connection. */
static void test_other_upgrades_stripped(void **state)
{
	struct px_fwd post = { .method = "POST", .client_ip = "10.0.0.1" };
	(void)state;
	check_request("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nAccept: */*\r\n\r\n",
		&plain, "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
	check_request("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
		"http2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", &plain,
		"GET / HTTP/1.1\r\nHost: h\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
	check_request("POST /u HTTP/1.1\r\nHost: h\r\nUpgrade: foo/2, bar\r\n"
		"Connection: upgrade\r\nContent-Length: 2\r\n\r\n", &post,
		"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
}

/* Which heads ask for WebSocket: the token in any Upgrade header, any case, among others. */
static void test_websocket_token(void **state)
{
	static const struct { const char *head; int ws; } cases[] = {
		{ "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nupgrade: WebSocket\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nUpgrade: h2c,  websocket \r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nUpgrade: websocket/13\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nUpgrade: websockets\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nX-Upgrade: websocket\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: websocket\r\n\r\n", 0 },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 1 },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct px_msg m;
		parse(&m, strncmp(cases[i].head, "HTTP/", 5) == 0 ? HTTP_RESPONSE : HTTP_REQUEST,
			cases[i].head);
		print_message("%s", cases[i].head);
		assert_int_equal(px_head_websocket(&m.head), cases[i].ws);
		px_msg_free(&m);
	}
}

static char *rebuild_response(const char *in, enum px_frame frame, const char *conn)
{
	struct px_msg m;
	struct evbuffer *out = evbuffer_new();
	parse(&m, HTTP_RESPONSE, in);
	assert_int_equal(px_head_response(&m.head, llhttp_get_status_code(&m.p), frame, conn, out),
		0);
	px_msg_free(&m);
	return text_of(out);
}

static void test_response_head(void **state)
{
	char *s;
	(void)state;
	s = rebuild_response("HTTP/1.0 200 Fine Thanks\r\nConnection: close, X-H\r\nX-H: 1\r\n"
		"Content-Length: 3\r\nKeep-Alive: x\r\nX-A: b\r\n\r\n", PX_FRAME_LENGTH, NULL);
	assert_string_equal(s, "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 3\r\nX-A: b\r\n\r\n");
	free(s);
	s = rebuild_response("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n"
		"X-Forwarded-For: 1.2.3.4\r\n\r\n", PX_FRAME_CHUNKED, "close");
	assert_string_equal(s, "HTTP/1.1 404 Not Found\r\nX-Forwarded-For: 1.2.3.4\r\n"
		"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
	free(s);
	s = rebuild_response("HTTP/1.1 200 \r\nServer: o\r\n\r\n", PX_FRAME_CLOSE, "keep-alive");
	assert_string_equal(s, "HTTP/1.1 200 \r\nServer: o\r\nConnection: keep-alive\r\n\r\n");
	free(s);
	/* RFC 9110 8.6: no Content-Length in a 204 (or a 1xx); a 304 keeps the representation's */
	s = rebuild_response("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX: y\r\n\r\n",
		PX_FRAME_NONE, NULL);
	assert_string_equal(s, "HTTP/1.1 204 No Content\r\nX: y\r\n\r\n");
	free(s);
	s = rebuild_response("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
		PX_FRAME_NONE, NULL);
	assert_string_equal(s, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
	free(s);
}

/* The 101 that opens a tunnel: the origin's end-to-end fields, its own Upgrade and Connection
 * replaced by the two the client expects (RFC 6455 4.2.2), nothing about a length. */
static void test_switching_protocols_head(void **state)
{
	char *s;
	(void)state;
	s = rebuild_response("HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
		"Connection: upgrade, X-Hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		"Sec-WebSocket-Protocol: chat\r\n\r\n", PX_FRAME_TUNNEL, NULL);
	assert_string_equal(s, "HTTP/1.1 101 Switching Protocols\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		"Sec-WebSocket-Protocol: chat\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
	free(s);
}

/* Trailing whitespace is not part of a value; the header count and request line are limited. */
static void test_values_trimmed_and_line_limits(void **state)
{
	struct px_msg m;
	struct evbuffer *in = evbuffer_new();
	const char *big = "GET /0123456789012345678901234567890123456789 HTTP/1.1\r\n\r\n";
	size_t used, n = 0;
	const char *v;
	(void)state;
	parse(&m, HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a \t\r\nX:  b c\t \r\n\r\n");
	v = px_head_get(&m.head, "x", &n);
	assert_int_equal(n, 3);
	assert_memory_equal(v, "b c", 3);
	assert_non_null(v = px_head_get(&m.head, "host", &n));
	assert_int_equal(n, 1);
	px_msg_free(&m);
	px_msg_init(&m, HTTP_REQUEST, &settings, 8192, NULL);
	m.head.max_line = 32;
	evbuffer_add(in, big, strlen(big));
	assert_int_not_equal(px_feed(&m, in, &used), HPE_PAUSED);
	assert_true(m.too_long);
	px_msg_free(&m);
	evbuffer_drain(in, evbuffer_get_length(in));
	px_msg_init(&m, HTTP_REQUEST, &settings, 8192, NULL);
	m.head.max_lines = 2;
	evbuffer_add_printf(in, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	assert_int_not_equal(px_feed(&m, in, &used), HPE_PAUSED);
	assert_true(m.too_many);
	assert_false(m.too_long);
	px_msg_free(&m);
	evbuffer_free(in);
}

static void test_head_get_and_limits(void **state)
{
	struct px_msg m;
	struct px_head h = { .max = 16 };
	size_t n = 0;
	const char *v;
	(void)state;
	parse(&m, HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX-Long: hello world\r\n\r\n");
	v = px_head_get(&m.head, "x-long", &n);
	assert_non_null(v);
	assert_int_equal(n, 11);
	assert_memory_equal(v, "hello world", 11);
	assert_null(px_head_get(&m.head, "x-none", &n));
	px_msg_free(&m);
	assert_int_equal(px_head_add_target(&h, "/0123456789", 11), 0);
	assert_int_equal(px_head_add_field(&h, "X", 1, 1), 0);      /* 11 + 1 + 3 = 15 */
	assert_int_equal(px_head_add_value(&h, "ab", 2, 1), -1);    /* 17 > 16 */
	assert_int_equal(px_head_add_target(&h, "x", 1), -1);       /* the target comes first */
	px_head_free(&h);
}

static void test_close_table(void **state)
{
	struct evbuffer *b = evbuffer_new();
	char *s;
	(void)state;
	assert_int_equal(px_close_status(PX_CLOSE_ORIGIN_TIMEOUT), 504);
	assert_string_equal(px_close_text(PX_CLOSE_ORIGIN_TIMEOUT), "origin timeout");
	assert_int_equal(px_close_status(PX_CLOSE_BAD_REQUEST), 400);
	assert_int_equal(px_close_status(PX_CLOSE_HEADER_TIMEOUT), 408);
	assert_int_equal(px_close_status(PX_CLOSE_BODY_TOO_LARGE), 413);
	assert_int_equal(px_close_status(PX_CLOSE_HEADER_TOO_LARGE), 431);
	assert_int_equal(px_close_status(PX_CLOSE_URI_TOO_LONG), 414);
	assert_int_equal(px_close_status(PX_CLOSE_ORIGIN_STALE), 502);
	assert_int_equal(px_close_status(PX_CLOSE_NO_ORIGIN), 502);
	assert_int_equal(px_close_status(PX_CLOSE_RETIRED), 0);
	assert_int_equal(px_close_status(PX_CLOSE_ORIGIN_CONNECT), 502);
	assert_int_equal(px_close_status(PX_CLOSE_IDLE_TIMEOUT), 0);
	assert_string_equal(px_close_text(PX_CLOSE_COUNT), "unknown");
	assert_int_equal(px_close_reply(PX_CLOSE_DONE, b), -1);
	assert_int_equal(px_close_reply(PX_CLOSE_ORIGIN_TIMEOUT, b), 0);
	s = text_of(b);
	assert_string_equal(s, "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
		"Content-Length: 20\r\nConnection: close\r\n\r\n504 Gateway Timeout\n");
	free(s);
}

/* RFC 9112 3.2.2: the authority of an absolute-form target wins over Host; the origin gets the
 * origin-form target. */
static void test_absolute_form_target_becomes_origin_form_with_its_host(void **state)
{
	(void)state;
	check_request("GET http://a.example/x?q=1 HTTP/1.1\r\nHost: b.example\r\nX: y\r\n\r\n",
		&plain, "GET /x?q=1 HTTP/1.1\r\nHost: a.example\r\nX: y\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
	check_request("GET HTTPS://a.example:8443 HTTP/1.1\r\nHost: b\r\n\r\n", &plain,
		"GET / HTTP/1.1\r\nHost: a.example:8443\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
	check_request("GET http://[::1]?q HTTP/1.1\r\nHost: b\r\n\r\n", &plain,
		"GET /?q HTTP/1.1\r\nHost: [::1]\r\n"
		"X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\r\n");
}

static void test_target_forms(void **state)
{
	static const char *const origin_form[] = { "/", "/x?y", "*" };
	static const char *const refused[] = {
		"ftp://a.example/", "http:/a", "http://", "http:///x", "http://u@a.example/",
		"http://a b/", "http://a:/", "http://:80/", "a.example:80", "x",
	};
	struct px_target t;
	(void)state;
	for (size_t i = 0; i < sizeof origin_form / sizeof origin_form[0]; i++)
		assert_int_equal(px_target_parse(origin_form[i], strlen(origin_form[i]), &t), 0);
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (px_target_parse(refused[i], strlen(refused[i]), &t) != -1)
			fail_msg("accepted: \"%s\"", refused[i]);
	assert_int_equal(px_target_parse("http://a:1/p", 12, &t), 1);
	assert_int_equal(t.authority_len, 3);
	assert_memory_equal(t.authority, "a:1", 3);
	assert_int_equal(t.path_len, 2);
	assert_memory_equal(t.path, "/p", 2);
}

static void test_host_values(void **state)
{
	static const char *const ok[] = {
		"", "a.example", "a.example:8080", "A-b_c~d.EXAMPLE", "127.0.0.1", "127.0.0.1:1",
		"[::1]", "[::1]:443", "[2001:db8::7]:65535", "[v1.fe80::a+en1]", "xn--bcher-kva.example",
		"[::ffff:127.0.0.1]", "[1:2:3:4:5:6:7:8]", "[VF.a:b]",
		"a%20b", "!$&'()*+,;=", "a:0",
	};
	static const char *const bad[] = {
		"a b", "a.example ", "u@a.example", "a/b", "a:1:2", "::1", "a:", "a:x", "a:123456",
		"a:65536", "[::1", "[]", "[::1]x", "[::1]:", "[a b]", "a%2", "a%zz", "a\tb", "a\\b",
		"a?b", "a#b", "\"a\"", "[zz]", "[::g]", "[1:2:3]", "[1:2:3:4:5:6:7:8:9]", "[::1%25eth0]",
		"[127.0.0.1]", "[v.a]", "[v1.]", "[vx.a]", "[v1a]",
	};
	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!px_host_valid(ok[i], strlen(ok[i])))
			fail_msg("refused: \"%s\"", ok[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (px_host_valid(bad[i], strlen(bad[i])))
			fail_msg("accepted: \"%s\"", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hop_by_hop_removed),
		cmocka_unit_test(test_connection_tokens),
		cmocka_unit_test(test_forwarded_for_appended),
		cmocka_unit_test(test_target_byte_for_byte),
		cmocka_unit_test(test_framing_and_version),
		cmocka_unit_test(test_websocket_upgrade_kept),
		cmocka_unit_test(test_other_upgrades_stripped),
		cmocka_unit_test(test_websocket_token),
		cmocka_unit_test(test_response_head),
		cmocka_unit_test(test_switching_protocols_head),
		cmocka_unit_test(test_head_get_and_limits),
		cmocka_unit_test(test_values_trimmed_and_line_limits),
		cmocka_unit_test(test_close_table),
		cmocka_unit_test(test_host_values),
		cmocka_unit_test(test_absolute_form_target_becomes_origin_form_with_its_host),
		cmocka_unit_test(test_target_forms),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
