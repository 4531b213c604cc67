/* daemon/util.h - small byte-level helpers shared by daemon/ and control/: UTF-8 validity and
 *   writing a whole buffer. Pure functions or plain system calls: no state, any thread.
 */
#ifndef GAAPD_UTIL_H
#define GAAPD_UTIL_H

#include <stddef.h>

/* Bytes of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, surrogates or values past
 * U+10FFFF, which JSON libraries refuse), or 0. s is NUL-terminated: a sequence cut by the end
 * is invalid. What a caller allows beyond validity (control characters, ...) is its own rule. */
size_t util_utf8_seq(const unsigned char *s);
/* The Unicode scalar value of the valid sequence of len bytes at s (util_utf8_seq()). */
unsigned util_utf8_value(const unsigned char *s, size_t len);

/* Writes all len bytes of p to fd, retrying short writes and EINTR. 0, or -1 with errno. */
int util_write_all(int fd, const void *p, size_t len);

#endif
