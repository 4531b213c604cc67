/* daemon/proxy/head.c - head collection, rebuild, feed() and the close-reason table. */
#include "head.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *text;
	int status;
	enum px_oerr oerr;
} close_reasons[] = {
#define PX_CLOSE(name, text, status, oerr) { text, status, PX_OERR_##oerr },
	PX_CLOSE_REASONS
#undef PX_CLOSE
};

const char *px_close_text(enum px_close r)
{
	return (unsigned)r < PX_CLOSE_COUNT ? close_reasons[r].text : "unknown";
}

int px_close_status(enum px_close r)
{
	return (unsigned)r < PX_CLOSE_COUNT ? close_reasons[r].status : 0;
}

enum px_oerr px_close_oerr(enum px_close r)
{
	return (unsigned)r < PX_CLOSE_COUNT ? close_reasons[r].oerr : PX_OERR_NONE;
}

static const char *status_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

int px_close_reply(enum px_close r, struct evbuffer *out)
{
	int status = px_close_status(r);
	char body[64];
	int n;
	if (status == 0)
		return -1;
	n = snprintf(body, sizeof body, "%d %s\n", status, status_phrase(status));
	if (n < 0 || (size_t)n >= sizeof body)
		return -1;
	return evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", status, status_phrase(status),
		n, body) < 0 ? -1 : 0;
}

/* Room for n more bytes in buf; the head limit is checked by the callers through size. */
static int head_reserve(struct px_head *h, size_t n)
{
	size_t cap = h->cap != 0 ? h->cap : 256;
	char *b;
	if (h->len + n <= h->cap)
		return 0;
	while (cap < h->len + n)
		cap *= 2;
	if ((b = realloc(h->buf, cap)) == NULL)
		return -1;
	h->buf = b;
	h->cap = cap;
	return 0;
}

static int head_append(struct px_head *h, const char *at, size_t len, size_t cost)
{
	if (h->size + len + cost > h->max || head_reserve(h, len) != 0)
		return -1;
	memcpy(h->buf + h->len, at, len);
	h->len += len;
	h->size += len + cost;
	return 0;
}

int px_head_add_target(struct px_head *h, const char *at, size_t len)
{
	if (h->nhdrs != 0 || h->len != h->tlen)     /* the start line comes first, in one piece */
		return -1;
	if (head_append(h, at, len, 0) != 0)
		return -1;
	h->tlen = h->len;
	return 0;
}

static int head_new_line(struct px_head *h)
{
	struct px_hdr *n;
	size_t cap = h->hcap != 0 ? h->hcap * 2 : 16;
	if (h->nhdrs < h->hcap)
		return 0;
	if ((n = realloc(h->hdrs, cap * sizeof *n)) == NULL)
		return -1;
	h->hdrs = n;
	h->hcap = cap;
	return 0;
}

int px_head_add_field(struct px_head *h, const char *at, size_t len, int starts)
{
	struct px_hdr *x;
	if (starts) {
		if (h->max_lines != 0 && h->nhdrs >= h->max_lines)
			return -2;
		if (head_new_line(h) != 0)
			return -1;
		x = &h->hdrs[h->nhdrs++];
		*x = (struct px_hdr){ .name = h->len, .value = h->len };
	} else if (h->nhdrs == 0) {
		return -1;
	}
	x = &h->hdrs[h->nhdrs - 1];
	if (head_append(h, at, len, starts ? 3 : 0) != 0)
		return -1;
	x->nlen += len;
	x->value = h->len;
	return 0;
}

int px_head_add_value(struct px_head *h, const char *at, size_t len, int starts)
{
	struct px_hdr *x;
	if (h->nhdrs == 0)
		return -1;
	x = &h->hdrs[h->nhdrs - 1];
	if (starts) {
		x->value = h->len;
		x->vlen = 0;
	}
	if (head_append(h, at, len, 0) != 0)
		return -1;
	x->vlen += len;
	return 0;
}

void px_head_clear(struct px_head *h)
{
	h->len = h->tlen = h->nhdrs = h->size = 0;
}

void px_head_free(struct px_head *h)
{
	free(h->buf);
	h->buf = NULL;
	free(h->hdrs);
	h->hdrs = NULL;
	h->len = h->cap = h->tlen = h->nhdrs = h->hcap = h->size = 0;
}

/* ASCII case-insensitive equality of n bytes against a lower-case name: header names are
 * tokens, and strncasecmp() pays for the locale on every call. */
static int ieq(const char *s, const char *lower, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'A' && ch <= 'Z' ? ch + 32 : ch) != (unsigned char)lower[i])
			return 0;
	}
	return 1;
}

/* A lower-case name and its length, so comparisons reject on length first. */
struct px_name {
	const char *s;
	size_t len;
};
#define PX_NAME(lit) { lit, sizeof lit - 1 }

static int name_eq(const struct px_head *h, const struct px_hdr *x, const char *name, size_t len)
{
	return len == x->nlen && ieq(h->buf + x->name, name, len);
}

static int name_in(const struct px_head *h, const struct px_hdr *x, const struct px_name *list,
	size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (name_eq(h, x, list[k].s, list[k].len))
			return 1;
	return 0;
}

size_t px_head_count(const struct px_head *h, const char *name)
{
	size_t n = 0, len = strlen(name);
	for (size_t i = 0; i < h->nhdrs; i++)
		n += name_eq(h, &h->hdrs[i], name, len);
	return n;
}

const char *px_head_get(const struct px_head *h, const char *name, size_t *vlen)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < h->nhdrs; i++) {
		if (name_eq(h, &h->hdrs[i], name, len)) {
			*vlen = h->hdrs[i].vlen;
			return h->buf + h->hdrs[i].value;
		}
	}
	return NULL;
}

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
	if (name_in(h, &h->hdrs[i], hop_names, PX_NHOP))
		return 1;
	for (size_t k = 0; k < h->nhdrs; k++)
		if (name_eq(h, &h->hdrs[k], "connection", 10) && listed(h, i, &k, 1))
			return 1;
	return 0;
}

int px_head_websocket(const struct px_head *h)
{
	for (size_t i = 0; i < h->nhdrs; i++)
		if (name_eq(h, &h->hdrs[i], "upgrade", 7) &&
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
		if (!name_eq(h, &h->hdrs[i], "connection", 10))
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
	return name_in(h, &h->hdrs[i], hop_names, PX_NHOP) || (s->nconn != 0 &&
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

/* Copies the end-to-end headers; X-Forwarded-For and X-Real-IP only when keep_fwd,
 * Content-Length only when keep_length. */
/* keep_host 0: the Host line is written apart (an absolute-form target's authority). */
static void put_end_to_end(struct wr *w, const struct px_head *h, int keep_fwd, int keep_length,
	int keep_host)
{
	struct hop_scan s;
	hop_scan(h, &s);
	for (size_t i = 0; i < h->nhdrs; i++) {
		const struct px_hdr *x = &h->hdrs[i];
		if (is_hop(h, i, &s) || (!keep_fwd && name_in(h, x, fwd_names, 2)) ||
		    (!keep_length && name_eq(h, x, "content-length", 14)) ||
		    (!keep_host && name_eq(h, x, "host", 4)))
			continue;
		put_line(w, h, x);
	}
}

/* X-Forwarded-For: every value the client sent, in order, then the client's address. */
static void put_forwarded_for(struct wr *w, const struct px_head *h, const char *ip)
{
	size_t iplen = strlen(ip);
	PUT_LIT(w, "X-Forwarded-For: ");
	for (size_t i = 0; i < h->nhdrs; i++) {
		const struct px_hdr *x = &h->hdrs[i];
		if (x->vlen == 0 || !name_eq(h, x, "x-forwarded-for", 15))
			continue;
		put(w, h->buf + x->value, x->vlen);
		PUT_LIT(w, ", ");
	}
	put(w, ip, iplen);
	PUT_LIT(w, "\r\nX-Real-IP: ");
	put(w, ip, iplen);
	PUT_LIT(w, "\r\n");
}

int px_head_request(const struct px_head *h, const struct px_fwd *f, struct evbuffer *out)
{
	size_t mlen = strlen(f->method);
	/* the X-Forwarded-For values are written twice at most: as received (dropped) and joined */
	size_t max = mlen + h->tlen + 2 * lines_max(h) + 2 * strlen(f->client_ip) + 128;
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
	if (absolute) {         /* RFC 9112 3.2.2: the target's authority replaces Host */
		PUT_LIT(&w, "Host: ");
		put(&w, t.authority, t.authority_len);
		PUT_LIT(&w, "\r\n");
	}
	put_end_to_end(&w, h, 0, 1, !absolute);
	put_forwarded_for(&w, h, f->client_ip);
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
	put_end_to_end(&w, h, 1, status >= 200 && status != 204, 1);
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
		!name_in(t, &t->hdrs[i], no, sizeof no / sizeof no[0]);
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

static int collect_fail(struct px_msg *m)
{
	m->too_large = 1;
	return -1;
}

/* The request line: method, target, version, two spaces and CRLF. */
static size_t line_len(const struct px_msg *m, size_t target)
{
	return strlen(llhttp_method_name((llhttp_method_t)m->p.method)) + target + 12;
}

int px_msg_on_target(llhttp_t *p, const char *at, size_t len)
{
	struct px_msg *m = (struct px_msg *)p;
	m->span = PX_SPAN_TARGET;
	if (m->head.max_line != 0 && p->type == HTTP_REQUEST &&
	    line_len(m, m->head.tlen + len) > m->head.max_line) {
		m->too_long = 1;
		return -1;
	}
	return px_head_add_target(&m->head, at, len) != 0 ? collect_fail(m) : 0;
}

/* Fields before the body make the head, those after a chunked body the trailers, under the
 * same limits. */
static struct px_head *fields(struct px_msg *m)
{
	if (!m->got_head)
		return &m->head;
	m->trailers.max = m->head.max;
	m->trailers.max_lines = m->head.max_lines;
	return &m->trailers;
}

int px_msg_on_field(llhttp_t *p, const char *at, size_t len)
{
	struct px_msg *m = (struct px_msg *)p;
	int starts = m->span != PX_SPAN_FIELD;
	int rc;
	m->span = PX_SPAN_FIELD;
	if ((rc = px_head_add_field(fields(m), at, len, starts)) == -2)
		m->too_many = 1;
	return rc != 0 ? collect_fail(m) : 0;
}

/* A value arrives in several spans only when an execute call ends inside it; any other second
 * span is an obs-fold, which even strict llhttp 8.1 accepts and which we refuse. */
int px_msg_on_value(llhttp_t *p, const char *at, size_t len)
{
	struct px_msg *m = (struct px_msg *)p;
	int starts = m->span != PX_SPAN_VALUE;
	if (!starts && !(m->value_at_end && at == m->exec_at)) {
		m->obs_fold = 1;
		return -1;
	}
	m->span = PX_SPAN_VALUE;
	m->value_at_end = at + len == m->exec_end;
	return px_head_add_value(fields(m), at, len, starts) != 0 ? collect_fail(m) : 0;
}

/* Trailing whitespace is not part of a field value (RFC 9110 5.5); llhttp keeps it. */
static void trim_value(struct px_head *h)
{
	struct px_hdr *x = &h->hdrs[h->nhdrs - 1];
	while (x->vlen > 0 && (h->buf[x->value + x->vlen - 1] == ' ' ||
	    h->buf[x->value + x->vlen - 1] == '\t'))
		x->vlen--;
}

int px_msg_on_value_complete(llhttp_t *p)
{
	struct px_msg *m = (struct px_msg *)p;
	struct px_head *h = fields(m);
	if (m->span == PX_SPAN_FIELD && px_head_add_value(h, "", 0, 1) != 0)
		return collect_fail(m);
	m->span = PX_SPAN_NONE;
	trim_value(h);
	return 0;
}

void px_msg_init(struct px_msg *m, llhttp_type_t type, const llhttp_settings_t *s, size_t max,
	void *data)
{
	memset(m, 0, sizeof *m);
	llhttp_init(&m->p, type, s);
	m->p.data = data;
	m->head.max = max;
}

void px_msg_next(struct px_msg *m)
{
	px_head_clear(&m->head);
	px_head_clear(&m->trailers);
	m->head_bytes = 0;
	m->chunk = 0;
	m->span = PX_SPAN_NONE;
	m->scan_prev = 0;
	m->value_at_end = m->got_head = m->done = m->keep = 0;
	m->bare_lf = m->obs_fold = m->too_large = m->too_long = m->too_many = 0;
}

void px_msg_free(struct px_msg *m)
{
	px_head_free(&m->head);
	px_head_free(&m->trailers);
}

/* One execute call, with its bounds where the obs-fold check can see them. */
static enum llhttp_errno execute(struct px_msg *m, const char *at, size_t len)
{
	m->exec_at = at;
	m->exec_end = at + len;
	return llhttp_execute(&m->p, at, len);
}

/* Head bytes llhttp consumed: an LF must follow a CR, and no line may start with whitespace
 * (obs-fold; even strict llhttp 8.1 takes a bare LF ending the head and a fold right after the
 * colon). */
static void scan_head(struct px_msg *m, const unsigned char *b, size_t n)
{
	const unsigned char *p = b, *end = b + n, *lf;
	if (n == 0)
		return;
	if (m->scan_prev == '\n' && (b[0] == ' ' || b[0] == '\t'))
		m->obs_fold = 1;        /* the line began in the previous piece */
	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if ((lf > b ? lf[-1] : m->scan_prev) != '\r')
			m->bare_lf = 1;
		if (lf + 1 < end && (lf[1] == ' ' || lf[1] == '\t'))
			m->obs_fold = 1;
		p = lf + 1;
	}
	m->scan_prev = end[-1];
}

/* One iovec; returns the parser's verdict, *k = bytes it consumed. */
static enum llhttp_errno feed_one(struct px_msg *m, const char *at, size_t len, size_t *k)
{
	int in_head = !m->got_head;
	enum llhttp_errno err = execute(m, at, len);
	*k = err == HPE_OK ? len : (size_t)(llhttp_get_error_pos(&m->p) - at);
	if (in_head)
		scan_head(m, (const unsigned char *)at, *k);
	return err;
}

enum llhttp_errno px_feed(struct px_msg *m, struct evbuffer *in, size_t *used)
{
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr at;
	size_t len = evbuffer_get_length(in), k;
	enum llhttp_errno err = HPE_OK;
	*used = 0;
	if (len == 0)
		return execute(m, "", 0);
	while (*used < len && err == HPE_OK) {
		evbuffer_ptr_set(in, &at, *used, EVBUFFER_PTR_SET);
		int n = evbuffer_peek(in, (ev_ssize_t)(len - *used), &at, v, 8);
		for (int i = 0; i < n && i < 8 && err == HPE_OK; i++) {
			err = feed_one(m, v[i].iov_base, v[i].iov_len, &k);
			*used += k;
		}
	}
	return err;
}

static int value_is(const struct px_head *h, const char *name, const char *want)
{
	size_t vlen;
	const char *v = px_head_get(h, name, &vlen);
	return v != NULL && vlen == strlen(want) && strncasecmp(v, want, vlen) == 0;
}

/* The values compared are the field values without their OWS (llhttp skips it before a value,
 * trim_value() drops it after), so a Transfer-Encoding is "chunked" with any SP and HTAB around
 * it (RFC 9110 5.5) and nothing else: no second coding, no parameter, no other whitespace. */
static const char *check_lines(const struct px_head *h)
{
	size_t te = px_head_count(h, "transfer-encoding");
	for (size_t i = 0; i < h->nhdrs; i++)
		if (h->hdrs[i].nlen == 0)
			return "empty field name";
	if (te > 1 || (te == 1 && !value_is(h, "transfer-encoding", "chunked")))
		return "transfer-encoding other than chunked";
	if (px_head_count(h, "content-length") > 1)
		return "several content-length";
	return NULL;
}

/* RFC 3986 unreserved and sub-delims: what a reg-name (and IPv4address) is made of. */
static int host_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		(ch != '\0' && strchr("-._~!$&'()*+,;=", ch) != NULL);
}

static int hex_digit(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

/* RFC 3986 3.2.2: IPvFuture ("v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )), or an
 * IPv6address, which inet_pton() knows in all its forms (zone ids are not in RFC 3986). */
static int ip_literal(const char *s, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t i = 1;
	if (len > 0 && (s[0] | 0x20) == 'v') {
		while (i < len && hex_digit((unsigned char)s[i]))
			i++;
		if (i == 1 || i + 1 >= len || s[i++] != '.')
			return 0;
		for (; i < len; i++)
			if (!host_char((unsigned char)s[i]) && s[i] != ':')
				return 0;
		return 1;
	}
	if (len == 0 || len >= sizeof text)
		return 0;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, &a) == 1;
}

/* The host part: an IP-literal in brackets, or a reg-name with percent-encoding. Its length, or
 * 0 when s does not start with one (an empty reg-name is 0). */
static size_t host_part(const char *s, size_t len)
{
	size_t i = 0;
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		return end != NULL && ip_literal(s + 1, (size_t)(end - s) - 1) ? (size_t)(end - s) + 1 : 0;
	}
	while (i < len) {
		if (s[i] == '%' && i + 2 < len && hex_digit((unsigned char)s[i + 1]) &&
		    hex_digit((unsigned char)s[i + 2]))
			i += 3;
		else if (host_char((unsigned char)s[i]))
			i++;
		else
			break;
	}
	return i;
}

int px_host_valid(const char *v, size_t len)
{
	size_t i, port = 0;
	if (len == 0)
		return 1;           /* allowed when the target has no authority (RFC 9112 3.2) */
	if ((i = host_part(v, len)) == 0)
		return 0;
	if (i == len)
		return 1;
	if (v[i++] != ':' || i == len || len - i > 5)
		return 0;           /* another character, an empty port, or more digits than a port */
	for (; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		port = port * 10 + (size_t)(v[i] - '0');
	}
	return port <= 65535;
}

int px_target_parse(const char *s, size_t len, struct px_target *t)
{
	size_t skip = len >= 7 && strncasecmp(s, "http://", 7) == 0 ? 7
		: len >= 8 && strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
	size_t end;
	if (len == 0 || s[0] == '/' || (len == 1 && s[0] == '*'))
		return 0;
	if (skip == 0)
		return -1;          /* another scheme, or not a URI at all */
	for (end = skip; end < len && s[end] != '/' && s[end] != '?'; end++)
		;
	t->authority = s + skip;
	t->authority_len = end - skip;
	t->path = s + end;
	t->path_len = len - end;
	/* no userinfo (RFC 9110 4.2.4 deprecates it; '@' fails uri-host), no empty host */
	if (t->authority_len == 0 || t->authority[0] == ':' ||
	    !px_host_valid(t->authority, t->authority_len))
		return -1;
	return 1;
}

static int host_empty(const struct px_head *h)
{
	size_t vlen = 0;
	return px_head_get(h, "host", &vlen) != NULL && vlen == 0;
}

static int host_header_valid(const struct px_head *h)
{
	size_t vlen = 0;
	const char *v = px_head_get(h, "host", &vlen);
	return v == NULL || px_host_valid(v, vlen);
}

/* check_lines(), then the parser's framing made ours. llhttp 8.1 ends the chunked coding at a
 * space only: "chunked<HTAB>" is an unknown coding to it, a request with it an error after the
 * head and a response read until close. A head that passed has one Transfer-Encoding at most,
 * and it is chunked: the parser is told so before it reads the body. (No Content-Length gets
 * here beside it: llhttp refuses the pair whatever the coding.) */
static const char *check_framing(struct px_msg *m)
{
	const char *why = check_lines(&m->head);
	if (why == NULL && px_head_count(&m->head, "transfer-encoding") == 1)
		m->p.flags |= F_CHUNKED;
	return why;
}

const char *px_msg_check(struct px_msg *m)
{
	const llhttp_t *p = &m->p;
	size_t hosts = px_head_count(&m->head, "host");
	if (m->bare_lf)
		return "bare LF";
	if (m->obs_fold)
		return "obs-fold";
	if (p->http_major != 1)
		return "not HTTP/1.x";
	if (p->type == HTTP_RESPONSE)
		return p->status_code < 100 || p->status_code > 599 ? "status out of range"
			: check_framing(m);
	if (hosts > 1 || (hosts == 0 && p->http_minor == 1))
		return hosts > 1 ? "several Host" : "no Host";
	if (hosts == 1 && !host_header_valid(&m->head))
		return "Host not a uri-host [ \":\" port ]";
	if (hosts == 1 && host_empty(&m->head) && m->head.tlen > 0 && m->head.buf[0] == '/')
		return "empty Host";    /* an http URI in origin-form has an authority (RFC 9112 3.2) */
	if (px_target_parse(m->head.buf, m->head.tlen, &(struct px_target){ 0 }) < 0)
		return "target neither origin-form nor http(s) absolute-form";
	if (p->http_minor == 0 && px_head_count(&m->head, "transfer-encoding") != 0)
		return "transfer-encoding in HTTP/1.0";
	return check_framing(m);
}
