/* daemon/tls/names.c - the API's names for TLS versions and cipher packages (§7.7). */
#include <string.h>

#include "tls.h"

static const struct {
	const char *name;
	unsigned bit;
} versions[] = {
	{ "TLSv1", TLS_V10 },
	{ "TLSv1.1", TLS_V11 },
	{ "TLSv1.2", TLS_V12 },
	{ "TLSv1.3", TLS_V13 },
};

static const char *const cipher_names[] = {
	[TLS_CIPHERS_STRICT] = "GAAP_TLS_CIPHERS_STRICT",
	[TLS_CIPHERS_GENERAL] = "GAAP_TLS_CIPHERS_GENERAL",
	[TLS_CIPHERS_WIDE] = "GAAP_TLS_CIPHERS_WIDE",
};

unsigned tls_version_bit(const char *name)
{
	if (strcmp(name, "TLSv1.0") == 0)
		return TLS_V10;
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
		if (strcmp(name, versions[i].name) == 0)
			return versions[i].bit;
	return 0;
}

size_t tls_version_names(unsigned v, const char *out[4])
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
		if (v & versions[i].bit)
			out[n++] = versions[i].name;
	return n;
}

int tls_ciphers_parse(const char *name, enum tls_ciphers *out)
{
	for (size_t i = 0; i < sizeof cipher_names / sizeof cipher_names[0]; i++)
		if (strcmp(name, cipher_names[i]) == 0) {
			*out = (enum tls_ciphers)i;
			return 0;
		}
	return -1;
}

const char *tls_ciphers_name(enum tls_ciphers c)
{
	return (size_t)c < sizeof cipher_names / sizeof cipher_names[0] ? cipher_names[c] : "";
}
