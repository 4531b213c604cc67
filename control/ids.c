/* control/ids.c - see ids.h. */
#include "ids.h"

#include <errno.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/random.h>

#define ID_ALPHABET "0123456789abcdefghijklmnopqrstuvwxyz"
#define ID_MAX_CHARS 32

/* 16 random bytes from the kernel (getrandom() never returns short for so few once the pool is
 * ready); OpenSSL's generator only if the system call is missing. RAND_bytes() went through
 * OpenSSL 3's provider and locks: some 30,000 instructions for every API call's RequestId. */
static int random16(unsigned char b[16])
{
	ssize_t n;
	do
		n = getrandom(b, 16, 0);
	while (n < 0 && errno == EINTR);
	if (n == 16)
		return 0;
	return RAND_bytes(b, 16) == 1 ? 0 : -1;
}

int ctl_uuid_v4(char out[CTL_UUID_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char b[16];
	char *p = out;
	if (random16(b) != 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* variant 10 */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = digits[b[i] >> 4];
		*p++ = digits[b[i] & 0x0f];
	}
	*p = '\0';
	return 0;
}

/* Rejection sampling: 252 = 7 * 36, so bytes below it map to the alphabet without bias. */
int ctl_id_new(const char *prefix, char *out, size_t outlen)
{
	size_t plen = strlen(prefix), n = 0;
	if (outlen < plen + 1 + CTL_ID_CHARS + 1)
		return -1;
	memcpy(out, prefix, plen);
	out[plen] = '-';
	while (n < CTL_ID_CHARS) {
		unsigned char b[16];
		if (random16(b) != 0)
			return -1;
		for (size_t i = 0; i < sizeof(b) && n < CTL_ID_CHARS; i++)
			if (b[i] < 252)
				out[plen + 1 + n++] = ID_ALPHABET[b[i] % 36];
	}
	out[plen + 1 + n] = '\0';
	return 0;
}

int ctl_id_valid(const char *prefix, const char *id)
{
	size_t plen = strlen(prefix);
	if (strncmp(id, prefix, plen) != 0 || id[plen] != '-')
		return 0;
	id += plen + 1;
	size_t n = strspn(id, ID_ALPHABET);
	return n >= 1 && n <= ID_MAX_CHARS && id[n] == '\0';
}
