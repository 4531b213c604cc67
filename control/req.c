/* control/req.c - one parsed control-API request (req.h): header list, target split, reset, and
 * the decoding of x-www-form-urlencoded queries and bodies. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "req.h"

const char *ctl_req_header(const struct ctl_req *r, const char *name)
{
	/* Backwards: a repeated header means its last value. The server refuses repeats of the ones
	 * that matter (ctl_req_header_single()); for the rest, last as in the signers' view. */
	for (size_t i = r->nheaders; i > 0; i--)
		if (strcasecmp(r->headers[i - 1].name, name) == 0)
			return r->headers[i - 1].value;
	return NULL;
}

int ctl_req_header_single(const char *name)
{
	static const char *const single[] = { "Authorization", "Host", "Content-Type",
		"Content-Length", "Transfer-Encoding" };
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (strcasecmp(name, single[i]) == 0)
			return 1;
	return strncasecmp(name, "X-TC-", strlen("X-TC-")) == 0;
}

static char *copy(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int ctl_req_add_header(struct ctl_req *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct ctl_header *h;
	char *n = copy(name, nlen);
	char *v = copy(value, vlen);
	if (n == NULL || v == NULL)
		goto fail;
	/* One realloc per header: the server caps the count, so the quadratic case stays small. */
	h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
	if (h == NULL)
		goto fail;
	r->headers = h;
	r->headers[r->nheaders].name = n;
	r->headers[r->nheaders].value = v;
	r->nheaders++;
	return 0;
fail:
	free(n);
	free(v);
	return -1;
}

void ctl_req_set_target(struct ctl_req *r, char *target)
{
	free(r->target);
	r->target = target;
	if (target == NULL) {
		r->path = "";
		r->path_len = 0;
		r->query = "";
		return;
	}
	r->path = target;
	r->path_len = strcspn(target, "?");
	r->query = target[r->path_len] == '?' ? target + r->path_len + 1 : "";
}

void ctl_req_reset(struct ctl_req *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->target);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode s[0..len) in place and NUL-terminate it (decoding only shrinks). -1 on a bad escape or an
 * encoded NUL, which would cut short the value the signer saw. */
static int url_decode(char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= len || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0)
				return -1;
			c = (char)(hex_digit(s[i + 1]) << 4 | hex_digit(s[i + 2]));
			i += 2;
		}
		if (c == '\0')
			return -1;
		s[n++] = c;
	}
	s[n] = '\0';
	return 0;
}

/* Split the pair at p[0..len) (NUL-terminated at len) into f's next key and value. */
static int add_pair(struct ctl_form *f, char *p, size_t len)
{
	size_t klen = strcspn(p, "=");
	char *value = klen < len ? p + klen + 1 : p + len;
	if (klen == 0 || url_decode(value, len - (size_t)(value - p)) != 0 || url_decode(p, klen) != 0)
		return -1;
	f->keys[f->n] = p;
	f->values[f->n] = value;
	f->n++;
	return 0;
}

static int parse_pairs(struct ctl_form *f, size_t len)
{
	char *p = f->buf, *end = f->buf + len;
	while (p < end) {
		size_t n = strcspn(p, "&");
		p[n] = '\0';
		if (n > 0 && add_pair(f, p, n) != 0)
			return -1;
		p += n + 1;
	}
	return 0;
}

int ctl_form_parse(const char *s, size_t len, struct ctl_form *out)
{
	size_t pairs = 1;
	memset(out, 0, sizeof(*out));
	if (memchr(s, '\0', len) != NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		pairs += s[i] == '&';
	out->buf = copy(s, len);
	out->keys = calloc(pairs, sizeof(*out->keys));
	out->values = calloc(pairs, sizeof(*out->values));
	if (out->buf == NULL || out->keys == NULL || out->values == NULL || parse_pairs(out, len) != 0) {
		ctl_form_free(out);
		return -1;
	}
	return 0;
}

const char *ctl_form_get(const struct ctl_form *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->keys[i], key) == 0)
			return f->values[i];
	return NULL;
}

size_t ctl_form_count(const struct ctl_form *f, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		n += strcmp(f->keys[i], key) == 0;
	return n;
}

void ctl_form_free(struct ctl_form *f)
{
	free(f->buf);
	free(f->keys);
	free(f->values);
	memset(f, 0, sizeof(*f));
}
