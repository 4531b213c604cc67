/* daemon/proxy/route.c - what one listener forwards to: immutable, refcounted, any thread. */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

struct px_route *px_route_new(const char *listener_id, const struct cfg_addr *origins,
	size_t norigins, const struct cfg_http *http)
{
	struct px_route *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->id = strdup(listener_id != NULL ? listener_id : "");
	if (norigins != 0)
		r->origins = calloc(norigins, sizeof *r->origins);
	if (r->id == NULL || (norigins != 0 && r->origins == NULL)) {
		free(r->id);
		free(r);
		return NULL;
	}
	if (norigins != 0)
		memcpy(r->origins, origins, norigins * sizeof *origins);
	r->norigins = norigins;
	r->http = *http;
	atomic_init(&r->refs, 1);
	atomic_init(&r->next, 0);
	return r;
}

struct px_route *px_route_ref(struct px_route *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}

void px_route_unref(struct px_route *r)
{
	/* acq_rel: the last owner must see every other owner's reads finished before freeing */
	if (r == NULL || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(r->origins);
	free(r->id);
	free(r);
}

const struct cfg_addr *px_route_pick(struct px_route *r)
{
	unsigned i;
	if (r->norigins == 0)
		return NULL;
	i = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
	return &r->origins[i % r->norigins];
}
