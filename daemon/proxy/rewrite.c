/* daemon/proxy/rewrite.c - the heads gaapd sends: the request to an origin, the response to a
 *   client, chunk-size lines and the last chunk; which headers are hop-by-hop. */
#include "rewrite.h"

#include <string.h>
#include <strings.h>

#include "l7.h"
#include "uri.h"

/* Whether the comma-separated list v holds the token t (any case, optional whitespace). */
static int list_has(const char *v, size_t vlen, const char *t, size_t tlen)
{
	size_t i = 0;
	while (i < vlen) {
		size_t s, e;
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < vlen && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && e - s == tlen && strncasecmp(v + s, t, tlen) == 0)
			return 1;
	}
	return 0;
}

static const struct px_name hop_names[] = { PX_NAME("connection"), PX_NAME("keep-alive"),
	PX_NAME("proxy-connection"), PX_NAME("te"), PX_NAME("trailer"),
	PX_NAME("transfer-encoding"), PX_NAME("upgrade"), PX_NAME("http2-settings") };
#define PX_NHOP (sizeof hop_names / sizeof hop_names[0])

/* Whether header i is named in one of the Connection headers conn[0, nconn) lists. */
static int listed(const struct px_head *h, size_t i, const size_t *conn, size_t nconn)
{
	const struct px_hdr *x = &h->hdrs[i];
	for (size_t k = 0; k < nconn; k++)
		if (list_has(h->buf + h->hdrs[conn[k]].value, h->hdrs[conn[k]].vlen,
		    h->buf + x->name, x->nlen))
			return 1;
	return 0;
}

int px_head_hop(const struct px_head *h, size_t i)
{
	if (px_head_name_in(h, &h->hdrs[i], hop_names, PX_NHOP))
		return 1;
	for (size_t k = 0; k < h->nhdrs; k++)
		if (px_head_name_eq(h, &h->hdrs[k], "connection", 10) && listed(h, i, &k, 1))
			return 1;
	return 0;
}

int px_head_websocket(const struct px_head *h)
{
	for (size_t i = 0; i < h->nhdrs; i++)
		if (px_head_name_eq(h, &h->hdrs[i], "upgrade", 7) &&
		    list_has(h->buf + h->hdrs[i].value, h->hdrs[i].vlen, "websocket", 9))
			return 1;
	return 0;
}

/* The Connection headers of h, found once per rebuild so the hop check of each header does not
 * rescan the head (quadratic in the header count). Up to PX_CONN_MAX of them; a head with more
 * (never seen in practice) falls back to px_head_hop(). */
#define PX_CONN_MAX 8
struct hop_scan {
	size_t conn[PX_CONN_MAX];
	size_t nconn;
	int overflow;
};

static void hop_scan(const struct px_head *h, struct hop_scan *s)
{
	s->nconn = 0;
	s->overflow = 0;
	for (size_t i = 0; i < h->nhdrs; i++) {
		if (!px_head_name_eq(h, &h->hdrs[i], "connection", 10))
			continue;
		if (s->nconn == PX_CONN_MAX)
			s->overflow = 1;
		else
			s->conn[s->nconn++] = i;
	}
}

static int is_hop(const struct px_head *h, size_t i, const struct hop_scan *s)
{
	if (s->overflow)
		return px_head_hop(h, i);
	return px_head_name_in(h, &h->hdrs[i], hop_names, PX_NHOP) || (s->nconn != 0 &&
		listed(h, i, s->conn, s->nconn));
}

/* A head written into space reserved in the output and committed once: the buffer's callbacks,
 * and with them the bufferevent's write scheduling, run once per head instead of four times per
 * header line. The reservation is an upper bound computed by the caller. */
struct wr {
	struct evbuffer *out;
	struct evbuffer_iovec v;
	char *p;
};

static int wr_begin(struct wr *w, struct evbuffer *out, size_t max)
{
	w->out = out;
	if (evbuffer_reserve_space(out, (ev_ssize_t)max, &w->v, 1) != 1)
		return -1;
	w->p = w->v.iov_base;
	return 0;
}

static void put(struct wr *w, const char *s, size_t n)
{
	memcpy(w->p, s, n);
	w->p += n;
}

#define PUT_LIT(w, lit) put(w, lit, sizeof lit - 1)

static int wr_end(struct wr *w)
{
	w->v.iov_len = (size_t)(w->p - (char *)w->v.iov_base);
	return evbuffer_commit_space(w->out, &w->v, 1);
}

static void put_line(struct wr *w, const struct px_head *h, const struct px_hdr *x)
{
	put(w, h->buf + x->name, x->nlen);
	PUT_LIT(w, ": ");
	put(w, h->buf + x->value, x->vlen);
	PUT_LIT(w, "\r\n");
}

/* The bytes px_head lines cost at most once written: names, values, ": " and CRLF. */
static size_t lines_max(const struct px_head *h)
{
	return h->len + 4 * h->nhdrs;
}

static const struct px_name fwd_names[] = { PX_NAME("x-forwarded-for"), PX_NAME("x-real-ip") };

/* Whether line x of h is called like one of a rule's custom headers (any case). */
static int custom_named(const struct px_head *h, const struct px_hdr *x,
	const struct px_l7_header *c, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (c[k].nlen == x->nlen && strncasecmp(h->buf + x->name, c[k].name, x->nlen) == 0)
			return 1;
	return 0;
}

/* Copies the end-to-end headers; X-Forwarded-For and X-Real-IP only when keep_fwd,
 * Content-Length only when keep_length; never one named like a custom header of drop. */
/* keep_host 0: the Host line is written apart (an absolute-form target's authority). */
static void put_end_to_end(struct wr *w, const struct px_head *h, int keep_fwd, int keep_length,
	int keep_host, const struct px_l7_header *drop, size_t ndrop, int drop_dn)
{
	struct hop_scan s;
	hop_scan(h, &s);
	for (size_t i = 0; i < h->nhdrs; i++) {
		const struct px_hdr *x = &h->hdrs[i];
		if (is_hop(h, i, &s) || (!keep_fwd && px_head_name_in(h, x, fwd_names, 2)) ||
		    (!keep_length && px_head_name_eq(h, x, "content-length", 14)) ||
		    (!keep_host && px_head_name_eq(h, x, "host", 4)) ||
		    (ndrop != 0 && custom_named(h, x, drop, ndrop)) ||
		    (drop_dn && px_head_name_eq(h, x, "x-client-dn", 11)))
			continue;
		put_line(w, h, x);
	}
}

/* A rule's custom headers, last: they override whatever came before (5.1). */
static void put_custom(struct wr *w, const struct px_fwd *f)
{
	size_t iplen = strlen(f->client_ip);
	for (size_t k = 0; k < f->nheaders; k++) {
		const struct px_l7_header *x = &f->headers[k];
		put(w, x->name, x->nlen);
		PUT_LIT(w, ": ");
		if (x->remote_addr)
			put(w, f->client_ip, iplen);
		else
			put(w, x->value, x->vlen);
		PUT_LIT(w, "\r\n");
	}
}

static size_t custom_max(const struct px_fwd *f)
{
	size_t n = 0, iplen = strlen(f->client_ip);
	for (size_t k = 0; k < f->nheaders; k++)
		n += f->headers[k].nlen + (f->headers[k].remote_addr ? iplen
			: f->headers[k].vlen) + 4;
	return n + (f->host != NULL ? f->host_len + 8 : 0);
}

/* X-Forwarded-For: every value the client sent, in order, then the client's address; X-Real-IP
 * unless real_ip is 0 (a custom header of that name replaces it). */
static void put_forwarded_for(struct wr *w, const struct px_head *h, const char *ip, int real_ip)
{
	size_t iplen = strlen(ip);
	PUT_LIT(w, "X-Forwarded-For: ");
	for (size_t i = 0; i < h->nhdrs; i++) {
		const struct px_hdr *x = &h->hdrs[i];
		if (x->vlen == 0 || !px_head_name_eq(h, x, "x-forwarded-for", 15))
			continue;
		put(w, h->buf + x->value, x->vlen);
		PUT_LIT(w, ", ");
	}
	put(w, ip, iplen);
	PUT_LIT(w, "\r\n");
	if (!real_ip)
		return;
	PUT_LIT(w, "X-Real-IP: ");
	put(w, ip, iplen);
	PUT_LIT(w, "\r\n");
}

static int custom_real_ip(const struct px_fwd *f)
{
	for (size_t k = 0; k < f->nheaders; k++)
		if (f->headers[k].nlen == 9 && strcasecmp(f->headers[k].name, "x-real-ip") == 0)
			return 1;
	return 0;
}

int px_head_request(const struct px_head *h, const struct px_fwd *f, struct evbuffer *out)
{
	size_t mlen = strlen(f->method);
	/* the X-Forwarded-For values are written twice at most: as received (dropped) and joined */
	size_t dnlen = f->client_dn != NULL ? strlen(f->client_dn) : 0;
	size_t max = mlen + h->tlen + 2 * lines_max(h) + 2 * strlen(f->client_ip) + 128 +
		(f->host != NULL || f->nheaders != 0 ? custom_max(f) : 0) + dnlen;
	struct wr w;
	if (wr_begin(&w, out, max) != 0)
		return -1;
	struct px_target t;
	int absolute = px_target_parse(h->buf, h->tlen, &t) == 1;
	put(&w, f->method, mlen);
	PUT_LIT(&w, " ");
	if (absolute && t.path_len == 0 && strcmp(f->method, "OPTIONS") == 0)
		PUT_LIT(&w, "*");   /* RFC 9112 3.2.4: the last proxy asks for the server's options */
	else if (absolute && (t.path_len == 0 || t.path[0] == '?'))
		PUT_LIT(&w, "/");   /* http://a.example or http://a.example?q: the path is "/" */
	put(&w, absolute ? t.path : h->buf, absolute ? t.path_len : h->tlen);
	PUT_LIT(&w, " HTTP/1.1\r\n");
	if (f->host != NULL) {  /* a rule's ForwardHost replaces either */
		PUT_LIT(&w, "Host: ");
		put(&w, f->host, f->host_len);
		PUT_LIT(&w, "\r\n");
	} else if (absolute) {  /* RFC 9112 3.2.2: the target's authority replaces Host */
		PUT_LIT(&w, "Host: ");
		put(&w, t.authority, t.authority_len);
		PUT_LIT(&w, "\r\n");
	}
	put_end_to_end(&w, h, 0, 1, !absolute && f->host == NULL, f->headers, f->nheaders, f->tls);
	put_forwarded_for(&w, h, f->client_ip, f->nheaders == 0 || !custom_real_ip(f));
	put_custom(&w, f);
	if (dnlen != 0) {
		PUT_LIT(&w, "X-Client-DN: ");
		put(&w, f->client_dn, dnlen);
		PUT_LIT(&w, "\r\n");
	}
	if (f->chunked)
		PUT_LIT(&w, "Transfer-Encoding: chunked\r\n");
	if (f->websocket)
		PUT_LIT(&w, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
	else if (f->close)
		PUT_LIT(&w, "Connection: close\r\n");
	PUT_LIT(&w, "\r\n");
	return wr_end(&w) != 0 ? -1 : 0;
}

int px_head_response(const struct px_head *h, int status, enum px_frame frame,
	const char *connection, struct evbuffer *out)
{
	size_t clen = connection != NULL ? strlen(connection) : 0;
	char code[4];
	struct wr w;
	if (status < 0 || status > 999 ||
	    wr_begin(&w, out, h->tlen + lines_max(h) + clen + 96) != 0)
		return -1;
	code[0] = (char)('0' + status / 100);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	code[3] = ' ';
	PUT_LIT(&w, "HTTP/1.1 ");
	put(&w, code, 4);
	put(&w, h->buf, h->tlen);
	PUT_LIT(&w, "\r\n");
	/* RFC 9110 8.6: never a Content-Length in a 1xx or 204 */
	put_end_to_end(&w, h, 1, status >= 200 && status != 204, 1, NULL, 0, 0);
	if (frame == PX_FRAME_CHUNKED)
		PUT_LIT(&w, "Transfer-Encoding: chunked\r\n");
	else if (frame == PX_FRAME_TUNNEL)
		PUT_LIT(&w, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
	if (connection != NULL) {
		PUT_LIT(&w, "Connection: ");
		put(&w, connection, clen);
		PUT_LIT(&w, "\r\n");
	}
	PUT_LIT(&w, "\r\n");
	return wr_end(&w) != 0 ? -1 : 0;
}

/* Trailer fields a recipient could mistake for header fields that frame, route, authenticate or
 * describe the message (RFC 9110 6.5.1) are not forwarded. */
static int trailer_allowed(const struct px_head *t, size_t i, const struct hop_scan *s)
{
	static const struct px_name no[] = { PX_NAME("content-length"), PX_NAME("host"),
		PX_NAME("content-encoding"), PX_NAME("content-type"), PX_NAME("content-range"),
		PX_NAME("range"), PX_NAME("authorization"), PX_NAME("proxy-authorization"),
		PX_NAME("cookie"), PX_NAME("set-cookie"), PX_NAME("cache-control"),
		PX_NAME("expect"), PX_NAME("max-forwards"), PX_NAME("location"),
		PX_NAME("www-authenticate"), PX_NAME("proxy-authenticate"), PX_NAME("age"),
		PX_NAME("expires"), PX_NAME("date"), PX_NAME("vary"), PX_NAME("retry-after"),
		PX_NAME("x-forwarded-for"), PX_NAME("x-real-ip") };
	return t->hdrs[i].nlen != 0 && !is_hop(t, i, s) &&
		!px_head_name_in(t, &t->hdrs[i], no, sizeof no / sizeof no[0]);
}

int px_chunk_size(uint64_t n, struct evbuffer *out)
{
	char b[20];
	size_t i = sizeof b - 2;
	b[sizeof b - 2] = '\r';
	b[sizeof b - 1] = '\n';
	do {
		b[--i] = "0123456789abcdef"[n & 15];
		n >>= 4;
	} while (n != 0);
	return evbuffer_add(out, b + i, sizeof b - i);
}

int px_last_chunk(const struct px_head *t, struct evbuffer *out)
{
	struct hop_scan s;
	struct wr w;
	if (wr_begin(&w, out, lines_max(t) + 8) != 0)
		return -1;
	hop_scan(t, &s);
	PUT_LIT(&w, "0\r\n");
	for (size_t i = 0; i < t->nhdrs; i++)
		if (trailer_allowed(t, i, &s))
			put_line(&w, t, &t->hdrs[i]);
	PUT_LIT(&w, "\r\n");
	return wr_end(&w) != 0 ? -1 : 0;
}
