/* control/req.h - one parsed control-API HTTP request, as the wire protocol hands it on, and the
 * decoded form of its query string or x-www-form-urlencoded body.
 * Ownership: the request owns every string in it; ctl_req_reset() frees them (the struct itself is
 *   the caller's, usually embedded in a control connection). Header names keep their case as
 *   received; lookups are case-insensitive. A struct ctl_form owns its pairs; ctl_form_free()
 *   frees them. Threads: the control thread only.
 */
#ifndef GAAPD_CTL_REQ_H
#define GAAPD_CTL_REQ_H

#include <stddef.h>
#include <sys/socket.h>

struct ctl_header {
	char *name;
	char *value;
};

struct ctl_req {
	char method[16];            /* as received, e.g. "POST" */
	char *target;               /* request target as received, "/?a=b" */
	const char *path;           /* == target; the part before '?' is path_len long */
	size_t path_len;
	const char *query;          /* after '?' (not decoded), "" when there is none */
	struct ctl_header *headers;
	size_t nheaders;
	char *body;                 /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;
	struct sockaddr_storage peer;
};

/* Last header with that name (case-insensitive), or NULL. */
const char *ctl_req_header(const struct ctl_req *r, const char *name);
/* 1 when a request may carry the header called name (case-insensitive) at most once: the ones
 * the API or the HTTP framing reads (Authorization, Host, Content-Type, Content-Length,
 * Transfer-Encoding, every X-TC-*). A proxy or a log in front may read the first copy where we
 * would read the last, and so see another caller or action than the one we execute. */
int ctl_req_header_single(const char *name);
/* Append a header, copying both strings. 0 or -1 (ENOMEM). */
int ctl_req_add_header(struct ctl_req *r, const char *name, size_t nlen, const char *value, size_t vlen);
/* Take ownership of target (malloc'd) and split it into path and query. */
void ctl_req_set_target(struct ctl_req *r, char *target);
void ctl_req_reset(struct ctl_req *r);

/* The pairs of an application/x-www-form-urlencoded text (a query string or a form body), decoded:
 * '+' is a space, %XX a byte. In the order received, duplicates kept: what the v1 signature signs
 * (spec 1.3) is exactly these raw decoded values. keys[i] and values[i] point into buf. */
struct ctl_form {
	char *buf;
	const char **keys;
	const char **values;
	size_t n;
};

/* Decode s[0..len) into out. Empty pairs ("a=1&&b=2") are skipped; a pair without '=' has the
 * value "". 0, or -1 (out left empty) on a bad %-escape, a NUL byte (raw or %00), an empty name,
 * or ENOMEM. */
int ctl_form_parse(const char *s, size_t len, struct ctl_form *out);
/* The value of the first pair called key, or NULL. */
const char *ctl_form_get(const struct ctl_form *f, const char *key);
/* How many pairs are called key. */
size_t ctl_form_count(const struct ctl_form *f, const char *key);
void ctl_form_free(struct ctl_form *f);

#endif
