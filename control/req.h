/* control/req.h - one parsed control-API HTTP request, as the wire protocol hands it on.
 * Ownership: the request owns every string in it; ctl_req_reset() frees them (the struct itself is
 *   the caller's, usually embedded in a control connection). Header names keep their case as
 *   received; lookups are case-insensitive. Threads: the control thread only.
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
/* Append a header, copying both strings. 0 or -1 (ENOMEM). */
int ctl_req_add_header(struct ctl_req *r, const char *name, size_t nlen, const char *value, size_t vlen);
/* Take ownership of target (malloc'd) and split it into path and query. */
void ctl_req_set_target(struct ctl_req *r, char *target);
void ctl_req_reset(struct ctl_req *r);

#endif
