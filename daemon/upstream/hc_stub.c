/* daemon/upstream/hc_stub.c - TEMPORARY (issue 14 wiring, branch i14-wiring): stands in for
 *   daemon/health/hc.c until branch i14-checker is merged, so that every commit links. No
 *   checker, no targets: every server counts as up for the checks. Removed at the merge. */
#include "health/hc.h"

#include <string.h>

static char none;

struct hc_checker *hc_start(struct ups_reg *reg, char *err, size_t errlen)
{
	(void)reg;
	(void)err;
	(void)errlen;
	return (struct hc_checker *)&none;
}

void hc_stop(struct hc_checker *c)
{
	(void)c;
}

struct hc_target *hc_target_get(struct hc_checker *c, const struct cfg_addr *a,
	const struct hc_params *p)
{
	(void)c;
	(void)a;
	(void)p;
	return NULL;
}

struct hc_target *hc_target_ref(struct hc_target *t)
{
	return t;
}

void hc_target_put(struct hc_target *t)
{
	(void)t;
}

void hc_target_failed(struct hc_target *t)
{
	(void)t;
}

void hc_target_read(const struct hc_target *t, struct hc_snap *out)
{
	(void)t;
	memset(out, 0, sizeof *out);
	out->up = 1;
}

void hc_each(struct hc_checker *c, void (*fn)(const struct hc_target *t, void *arg), void *arg)
{
	(void)c;
	(void)fn;
	(void)arg;
}
