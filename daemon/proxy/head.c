/* daemon/proxy/head.c - header storage: the collectors' appends and the lookups by name. */
#include "head.h"

#include <stdlib.h>
#include <string.h>

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

size_t px_head_count(const struct px_head *h, const char *name)
{
	size_t n = 0, len = strlen(name);
	for (size_t i = 0; i < h->nhdrs; i++)
		n += px_head_name_eq(h, &h->hdrs[i], name, len);
	return n;
}

const char *px_head_get(const struct px_head *h, const char *name, size_t *vlen)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < h->nhdrs; i++) {
		if (px_head_name_eq(h, &h->hdrs[i], name, len)) {
			*vlen = h->hdrs[i].vlen;
			return h->buf + h->hdrs[i].value;
		}
	}
	return NULL;
}
