/* control/ids.c - see ids.h. */
#include "ids.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define ID_ALPHABET "0123456789abcdefghijklmnopqrstuvwxyz"
#define ID_MAX_CHARS 32

int ctl_uuid_v4(char out[CTL_UUID_LEN + 1])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* variant 10 */
	snprintf(out, CTL_UUID_LEN + 1,
		"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
		b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
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
		if (RAND_bytes(b, sizeof(b)) != 1)
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
