/* daemon/proxy/head.h - header storage: one message head (or trailer section) as received, and
 *   the lookups by header name.
 * Ownership: a px_head owns its buffers (px_head_free()); the add functions copy every span, so
 *   the input may be drained as soon as they return. Lookups return pointers into the head,
 *   valid until it is cleared.
 * Lifetime: embedded in a px_msg (msg.h); px_head_clear() readies it for the next message and
 *   keeps the memory. Threads: the owning worker's; nothing here touches anything but its
 *   arguments.
 */
#ifndef GAAPD_PX_HEAD_H
#define GAAPD_PX_HEAD_H

#include <stddef.h>

struct px_hdr {
	size_t name, nlen;          /* offsets into px_head.buf */
	size_t value, vlen;
};

/* One head as received: the request target (or the response reason) and the header lines, in
 * order, with their bytes exactly as sent. */
struct px_head {
	char *buf;                  /* the target, then names and values, back to back */
	size_t len, cap;
	size_t tlen;                /* the target is buf[0, tlen) */
	struct px_hdr *hdrs;
	size_t nhdrs, hcap;
	size_t max;                 /* the limit on size */
	size_t max_lines;           /* the limit on header lines; 0 = none */
	size_t max_line;            /* the limit on a request line; 0 = none */
	size_t size;                /* span bytes plus 3 per line: never more than the raw head */
};

/* Each returns 0, or -1 when the head would exceed max or memory runs out; add_field -2 when a
 * new line would exceed max_lines. */
int px_head_add_target(struct px_head *h, const char *at, size_t len);
int px_head_add_field(struct px_head *h, const char *at, size_t len, int starts);
int px_head_add_value(struct px_head *h, const char *at, size_t len, int starts);
void px_head_clear(struct px_head *h);          /* keeps the memory for the next head */
void px_head_free(struct px_head *h);

/* The value of the first header called name (any case), or NULL; *vlen set when found. */
const char *px_head_get(const struct px_head *h, const char *name, size_t *vlen);
/* How many headers are called name (any case). */
size_t px_head_count(const struct px_head *h, const char *name);

/* Name comparisons, inline because the rebuild (rewrite.c) compares every line against several
 * names: a call per comparison would cost on every request. */

/* ASCII case-insensitive equality of n bytes against a lower-case name: header names are
 * tokens, and strncasecmp() pays for the locale on every call. */
static inline int px_head_ieq(const char *s, const char *lower, size_t n)
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

/* Whether line x of h is called name (lower case, len bytes), in any case. */
static inline int px_head_name_eq(const struct px_head *h, const struct px_hdr *x,
	const char *name, size_t len)
{
	return len == x->nlen && px_head_ieq(h->buf + x->name, name, len);
}

/* Whether line x of h is called one of list[0, n). */
static inline int px_head_name_in(const struct px_head *h, const struct px_hdr *x,
	const struct px_name *list, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (px_head_name_eq(h, x, list[k].s, list[k].len))
			return 1;
	return 0;
}

#endif
