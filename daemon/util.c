/* daemon/util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

size_t util_utf8_seq(const unsigned char *s)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 :
		s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (len > 1 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
		return 0;
	return len;
}

unsigned util_utf8_value(const unsigned char *s, size_t len)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned v = s[0] & lead_mask[len < 5 ? len : 0];
	for (size_t i = 1; i < len; i++)
		v = v << 6 | (s[i] & 0x3f);
	return v;
}

int util_write_all(int fd, const void *p, size_t len)
{
	const char *b = p;
	while (len > 0) {
		ssize_t w = write(fd, b, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {           /* a regular file that takes nothing: the disk is full */
			errno = ENOSPC;
			return -1;
		}
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

uint64_t util_fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void util_block_process_signals(sigset_t *old)
{
	static const int own[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS };
	sigset_t set;
	sigfillset(&set);
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		sigdelset(&set, own[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static const struct {
	int64_t us;
	const char *le;
} latency_bounds[UTIL_LATENCY_BUCKETS - 1] = {
	{ 1000, "0.001" }, { 5000, "0.005" }, { 10000, "0.01" }, { 25000, "0.025" },
	{ 50000, "0.05" }, { 100000, "0.1" }, { 250000, "0.25" }, { 500000, "0.5" },
	{ 1000000, "1" }, { 2500000, "2.5" }, { 5000000, "5" }, { 10000000, "10" },
};

size_t util_latency_bucket(int64_t us)
{
	size_t b = 0;
	while (b < UTIL_LATENCY_BUCKETS - 1 && us > latency_bounds[b].us)
		b++;
	return b;
}

const char *util_latency_le(size_t i)
{
	return i < UTIL_LATENCY_BUCKETS - 1 ? latency_bounds[i].le : "+Inf";
}
