/* control/req.c - one parsed control-API request (req.h): header list, target split, reset. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "req.h"

const char *ctl_req_header(const struct ctl_req *r, const char *name)
{
	/* Backwards: a repeated header means its last value, as the signers see it. */
	for (size_t i = r->nheaders; i > 0; i--)
		if (strcasecmp(r->headers[i - 1].name, name) == 0)
			return r->headers[i - 1].value;
	return NULL;
}

static char *copy(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int ctl_req_add_header(struct ctl_req *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct ctl_header *h;
	char *n = copy(name, nlen);
	char *v = copy(value, vlen);
	if (n == NULL || v == NULL)
		goto fail;
	/* One realloc per header: the server caps the count, so the quadratic case stays small. */
	h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
	if (h == NULL)
		goto fail;
	r->headers = h;
	r->headers[r->nheaders].name = n;
	r->headers[r->nheaders].value = v;
	r->nheaders++;
	return 0;
fail:
	free(n);
	free(v);
	return -1;
}

void ctl_req_set_target(struct ctl_req *r, char *target)
{
	free(r->target);
	r->target = target;
	if (target == NULL) {
		r->path = "";
		r->path_len = 0;
		r->query = "";
		return;
	}
	r->path = target;
	r->path_len = strcspn(target, "?");
	r->query = target[r->path_len] == '?' ? target + r->path_len + 1 : "";
}

void ctl_req_reset(struct ctl_req *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->target);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
