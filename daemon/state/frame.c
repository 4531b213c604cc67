/* daemon/state/frame.c - journal entries on disk (layout: jr_int.h) and the walk of a segment
 * that tells a torn tail (cut it) from damage in the middle (refuse to start). */
#include "jr_int.h"
#include "crc32c.h"

#include <string.h>

static const unsigned char magic[4] = { 0xc7, 0x4a, 0x52, 0x01 };

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void jr_frame_header(unsigned char hdr[JR_HDR], const void *p, size_t n)
{
	memcpy(hdr, magic, 4);
	put32(hdr + 4, (uint32_t)n);
	put32(hdr + 8, jr_crc32c(0, p, n));
	put32(hdr + 12, jr_crc32c(0, hdr, 12));
}

size_t jr_frame_at(const unsigned char *buf, size_t len, size_t off)
{
	if (off > len || len - off < JR_HDR)
		return 0;
	const unsigned char *h = buf + off;
	size_t n = get32(h + 4);
	if (memcmp(h, magic, 4) != 0 || get32(h + 12) != jr_crc32c(0, h, 12) || n == 0 ||
	    n > JR_PAYLOAD_MAX || n > len - off - JR_HDR ||
	    get32(h + 8) != jr_crc32c(0, h + JR_HDR, n))
		return 0;
	return JR_HDR + n;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (; n > 0 && ((uintptr_t)p & 7) != 0; n--, p++)
		if (*p != 0)
			return 0;
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		if (v != 0)
			return 0;
	}
	for (; n > 0; n--, p++)
		if (*p != 0)
			return 0;
	return 1;
}

/* Whether a valid entry starts anywhere after off: then the bytes at off are not a torn tail. */
static int valid_after(const unsigned char *buf, size_t len, size_t off)
{
	for (size_t p = off + 1; p + JR_HDR <= len; p++) {
		const unsigned char *m = memchr(buf + p, magic[0], len - p - JR_HDR + 1);
		if (m == NULL)
			return 0;
		p = (size_t)(m - buf);
		if (jr_frame_at(buf, len, p) > 0)
			return 1;
	}
	return 0;
}

int jr_scan(const unsigned char *buf, size_t len, size_t *end, enum jr_scan_end *how,
	int (*fn)(const char *payload, size_t n, size_t off, void *arg), void *arg)
{
	size_t off = 0, n;
	while ((n = jr_frame_at(buf, len, off)) > 0) {
		if (fn((const char *)buf + off + JR_HDR, n - JR_HDR, off, arg) != 0)
			return -1;
		off += n;
	}
	*end = off;
	if (all_zero(buf + off, len - off))
		*how = JR_END_CLEAN;
	else
		*how = valid_after(buf, len, off) ? JR_END_CORRUPT : JR_END_TORN;
	return 0;
}
