/* daemon/proxy/uri.c - Host values and request targets: uri-host [ ":" port ], absolute-form. */
#include "uri.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* RFC 3986 unreserved and sub-delims: what a reg-name (and IPv4address) is made of. */
static int host_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		(ch != '\0' && strchr("-._~!$&'()*+,;=", ch) != NULL);
}

static int hex_digit(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

/* RFC 3986 3.2.2: IPvFuture ("v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )), or an
 * IPv6address, which inet_pton() knows in all its forms (zone ids are not in RFC 3986). */
static int ip_literal(const char *s, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t i = 1;
	if (len > 0 && (s[0] | 0x20) == 'v') {
		while (i < len && hex_digit((unsigned char)s[i]))
			i++;
		if (i == 1 || i + 1 >= len || s[i++] != '.')
			return 0;
		for (; i < len; i++)
			if (!host_char((unsigned char)s[i]) && s[i] != ':')
				return 0;
		return 1;
	}
	if (len == 0 || len >= sizeof text)
		return 0;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, &a) == 1;
}

/* The host part: an IP-literal in brackets, or a reg-name with percent-encoding. Its length, or
 * 0 when s does not start with one (an empty reg-name is 0). */
static size_t host_part(const char *s, size_t len)
{
	size_t i = 0;
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		return end != NULL && ip_literal(s + 1, (size_t)(end - s) - 1) ? (size_t)(end - s) + 1 : 0;
	}
	while (i < len) {
		if (s[i] == '%' && i + 2 < len && hex_digit((unsigned char)s[i + 1]) &&
		    hex_digit((unsigned char)s[i + 2]))
			i += 3;
		else if (host_char((unsigned char)s[i]))
			i++;
		else
			break;
	}
	return i;
}

int px_host_valid(const char *v, size_t len)
{
	size_t i, port = 0;
	if (len == 0)
		return 1;           /* allowed when the target has no authority (RFC 9112 3.2) */
	if ((i = host_part(v, len)) == 0)
		return 0;
	if (i == len)
		return 1;
	if (v[i++] != ':' || i == len || len - i > 5)
		return 0;           /* another character, an empty port, or more digits than a port */
	for (; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		port = port * 10 + (size_t)(v[i] - '0');
	}
	return port <= 65535;
}

int px_target_parse(const char *s, size_t len, struct px_target *t)
{
	size_t skip = len >= 7 && strncasecmp(s, "http://", 7) == 0 ? 7
		: len >= 8 && strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
	size_t end;
	if (len == 0 || s[0] == '/' || (len == 1 && s[0] == '*'))
		return 0;
	if (skip == 0)
		return -1;          /* another scheme, or not a URI at all */
	for (end = skip; end < len && s[end] != '/' && s[end] != '?'; end++)
		;
	t->authority = s + skip;
	t->authority_len = end - skip;
	t->path = s + end;
	t->path_len = len - end;
	/* no userinfo (RFC 9110 4.2.4 deprecates it; '@' fails uri-host), no empty host */
	if (t->authority_len == 0 || t->authority[0] == ':' ||
	    !px_host_valid(t->authority, t->authority_len))
		return -1;
	return 1;
}
