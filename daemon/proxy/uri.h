/* daemon/proxy/uri.h - the URI syntax a request carries: Host values and request targets.
 * Ownership: pure functions over the caller's bytes; a px_target's spans point into them.
 *   Threads: any.
 */
#ifndef GAAPD_PX_URI_H
#define GAAPD_PX_URI_H

#include <stddef.h>

/* Whether a Host value is `uri-host [ ":" port ]` (RFC 9112 3.2, RFC 3986 3.2.2): a reg-name
 * (unreserved, sub-delims, percent-encoded), IPv4address or IP-literal in brackets, then at most
 * one colon and a port of 1 to 5 digits up to 65535. Empty is valid (a target without an
 * authority). No space, '@', '/', second colon outside brackets or empty port. */
int px_host_valid(const char *v, size_t len);

/* An absolute-form request target split (RFC 9112 3.2.2): authority and the rest (path and
 * query; empty when the target has neither path nor query). Spans point into the target. */
struct px_target {
	const char *authority, *path;
	size_t authority_len, path_len;
};
/* 1: s is "http://" or "https://" (any case), a valid uri-host [":" port] without userinfo, then
 * the rest; 0: origin-form or "*" (t untouched); -1: anything else (another scheme, userinfo,
 * a bad authority). */
int px_target_parse(const char *s, size_t len, struct px_target *t);

#endif
