/* daemon/proxy/msg.c - one direction's parser: the head collectors, feeding llhttp from an
 *   evbuffer, and the strictness checks of a complete head. */
#include "msg.h"

#include <string.h>
#include <strings.h>

#include "uri.h"

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
	m->host = NULL;
	m->host_len = 0;
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

static int host_empty(const struct px_head *h)
{
	size_t vlen = 0;
	return px_head_get(h, "host", &vlen) != NULL && vlen == 0;
}

static int host_header_valid(struct px_msg *m)
{
	size_t vlen = 0;
	const char *v = px_head_get(&m->head, "host", &vlen);
	m->host = v;
	m->host_len = v != NULL ? vlen : 0;
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
	m->host = NULL;
	m->host_len = 0;
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
	if (hosts == 1 && !host_header_valid(m))
		return "Host not a uri-host [ \":\" port ]";
	if (hosts == 1 && host_empty(&m->head) && m->head.tlen > 0 && m->head.buf[0] == '/')
		return "empty Host";    /* an http URI in origin-form has an authority (RFC 9112 3.2) */
	if (px_target_parse(m->head.buf, m->head.tlen, &(struct px_target){ 0 }) < 0)
		return "target neither origin-form nor http(s) absolute-form";
	if (p->http_minor == 0 && px_head_count(&m->head, "transfer-encoding") != 0)
		return "transfer-encoding in HTTP/1.0";
	return check_framing(m);
}
