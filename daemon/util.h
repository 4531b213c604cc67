/* daemon/util.h - small helpers shared by daemon/ and control/: UTF-8 validity, writing a whole
 *   buffer, a string hash, and a thread's signal mask. Pure functions or plain system calls: no
 *   state, any thread.
 */
#ifndef GAAPD_UTIL_H
#define GAAPD_UTIL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, surrogates or values past
 * U+10FFFF, which JSON libraries refuse), or 0. s is NUL-terminated: a sequence cut by the end
 * is invalid. What a caller allows beyond validity (control characters, ...) is its own rule. */
size_t util_utf8_seq(const unsigned char *s);
/* The Unicode scalar value of the valid sequence of len bytes at s (util_utf8_seq()). */
unsigned util_utf8_value(const unsigned char *s, size_t len);

/* Writes all len bytes of p to fd, retrying short writes and EINTR. 0, or -1 with errno. */
int util_write_all(int fd, const void *p, size_t len);

/* FNV-1a of the NUL-terminated s: for hash tables keyed by ids (not for anything an attacker
 * chooses to collide at scale). */
uint64_t util_fnv1a(const char *s);

/* Blocks every signal but the faults a thread causes itself (SEGV, BUS, FPE, ILL, TRAP, ABRT,
 * SYS) in the calling thread, the previous mask into old. Around pthread_create(): the new thread
 * inherits the mask, so process signals go to the main thread, whose loop acts on them (a
 * SIGHUP before it reads another API call: lifecycle.c). Restore with pthread_sigmask(
 * SIG_SETMASK, old, NULL). */
void util_block_process_signals(sigset_t *old);

/* Latency histograms (/metrics): Prometheus' default buckets from 1 ms (0.001 .. 10 s) and +Inf,
 * shared by the listeners' request latency and the health checks' probe latency. */
#define UTIL_LATENCY_BUCKETS 13
/* The bucket of a duration in microseconds (negative counts as 0). */
size_t util_latency_bucket(int64_t us);
/* Bucket i's upper bound as Prometheus writes it: "0.001" (seconds) ... "10", "+Inf". */
const char *util_latency_le(size_t i);

#endif
