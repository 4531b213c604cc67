/* daemon/fleet_stub.c - stand-ins for the etcd back end's entry points (store.h), compiled only
 *   while daemon/store_etcd*.c (issue 16's back end, another branch) is absent, so that the
 *   composition (fleet.c) and control/ build and link against the declarations. st_open_etcd()
 *   refuses: a node configured with store.backend etcd does not start. Deleted once the back end
 *   is merged (daemon/CMakeLists.txt stops compiling it by itself).
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct st *st_open_etcd(const struct st_etcd_opts *o, char *err, size_t errlen)
{
	(void)o;
	snprintf(err, errlen, "store.backend etcd: this gaapd was built without the etcd back end");
	errno = ENOTSUP;
	return NULL;
}

size_t st_etcd_drain(struct st *s, int (*apply)(void *arg, const struct st_op *ops, size_t n,
	char *err, size_t errlen), void *arg)
{
	(void)s;
	(void)apply;
	(void)arg;
	return 0;
}

int st_etcd_ready(struct st *s)
{
	(void)s;
	return 0;
}

void st_etcd_report(struct st *s, const char *listener, const char *why_not)
{
	(void)s;
	(void)listener;
	(void)why_not;
}

int st_etcd_listener_status(struct st *s, const char *listener, const char *proxy, char *why,
	size_t whylen)
{
	(void)s;
	(void)listener;
	(void)proxy;
	if (whylen > 0)
		why[0] = '\0';
	return 0;
}

void st_etcd_counts(struct st *s, struct st_etcd_counts *out)
{
	(void)s;
	memset(out, 0, sizeof(*out));
}
