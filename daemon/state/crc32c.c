/* daemon/state/crc32c.c - CRC32C: a byte-wise table (made at first use), or SSE4.2's crc32
 * instruction on x86-64 CPUs that have it. Both give the same value (tests/unit/test_journal.c). */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u        /* Castagnoli, reflected */

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[i] = c;
	}
}

uint32_t jr_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	pthread_once(&table_once, make_table);
	crc = ~crc;
	while (n-- > 0)
		crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t c = ~crc;
	for (; n >= 8; n -= 8, b += 8) {
		uint64_t v;
		memcpy(&v, b, 8);       /* unaligned input */
		c = __builtin_ia32_crc32di(c, v);
	}
	uint32_t c32 = (uint32_t)c;
	while (n-- > 0)
		c32 = __builtin_ia32_crc32qi(c32, *b++);
	return ~c32;
}

static int hw;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
	hw = __builtin_cpu_supports("sse4.2");
}

uint32_t jr_crc32c(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&hw_once, detect);
	return hw ? crc32c_hw(crc, p, n) : jr_crc32c_sw(crc, p, n);
}
#else
uint32_t jr_crc32c(uint32_t crc, const void *p, size_t n)
{
	return jr_crc32c_sw(crc, p, n);
}
#endif
