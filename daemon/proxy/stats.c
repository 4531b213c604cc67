/* daemon/proxy/stats.c - a listener's traffic counters (px.h): a few relaxed atomic adds per
 *   exchange on the workers, read counter by counter by a scrape on the control thread. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close.h"
#include "util.h"

/* Prometheus' default buckets from 1 ms (util.h): the proxy's own latency is well under that. */
_Static_assert(PX_LATENCY_BUCKETS == UTIL_LATENCY_BUCKETS, "latency buckets differ from util.h");

static const char *const oerr_labels[PX_OERR_COUNT] = {
#define PX_OERR(name, label) label,
	PX_ORIGIN_ERRORS
#undef PX_OERR
};

struct px_stats *px_stats_new(void)
{
	struct px_stats *s = calloc(1, sizeof *s);
	if (s != NULL) {
		atomic_init(&s->refs, 1);
		atomic_init(&s->origins, NULL);
	}
	return s;
}

struct px_stats *px_stats_ref(struct px_stats *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void px_stats_unref(struct px_stats *s)
{
	struct px_origin_stats *o, *next;
	if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (o = atomic_load_explicit(&s->origins, memory_order_acquire); o != NULL; o = next) {
		next = o->next;
		free(o);
	}
	free(s);
}

static uint64_t get(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

void px_stats_read(const struct px_stats *s, struct px_stats_snap *out)
{
	out->conns = atomic_load_explicit(&s->conns, memory_order_relaxed);
	out->upgraded = get(&s->upgraded);
	for (size_t i = 0; i < PX_STATUS_CLASSES; i++)
		out->requests[i] = get(&s->requests[i]);
	out->bytes_in = get(&s->bytes_in);
	out->bytes_out = get(&s->bytes_out);
	for (size_t i = 0; i < PX_OERR_COUNT; i++)
		out->origin_errors[i] = get(&s->origin_errors[i]);
	for (size_t i = 0; i < PX_LATENCY_BUCKETS; i++)
		out->latency[i] = get(&s->latency[i]);
	out->latency_sum_us = get(&s->latency_sum_us);
	for (size_t i = 0; i < PX_TLS_OUTCOMES; i++)
		out->tls[i] = get(&s->tls[i]);
}

static struct px_origin_stats *origin_find(struct px_origin_stats *o, const char *proxy,
	const char *origin)
{
	for (; o != NULL; o = o->next)
		if (strcmp(o->proxy, proxy) == 0 && strcmp(o->origin, origin) == 0)
			return o;
	return NULL;
}

/* Lock-free find-or-add: nodes are only ever prepended, so a failed CAS means someone else
 * prepended, and searching again from the new head sees their node (no duplicates). Release on
 * publishing, acquire on reading: a node is seen only with its names written. */
struct px_origin_stats *px_stats_origin(struct px_stats *s, const char *proxy, const char *origin)
{
	struct px_origin_stats *head = atomic_load_explicit(&s->origins, memory_order_acquire);
	struct px_origin_stats *o = origin_find(head, proxy, origin), *mine;
	if (o != NULL || (mine = calloc(1, sizeof *mine)) == NULL)
		return o;
	snprintf(mine->proxy, sizeof mine->proxy, "%s", proxy);
	snprintf(mine->origin, sizeof mine->origin, "%s", origin);
	do {
		if ((o = origin_find(head, proxy, origin)) != NULL) {
			free(mine);
			return o;
		}
		mine->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&s->origins, &head, mine,
		memory_order_acq_rel, memory_order_acquire));
	return mine;
}

size_t px_stats_origins(const struct px_stats *s, struct px_origin_snap *out, size_t max)
{
	const struct px_origin_stats *head = atomic_load_explicit(&s->origins, memory_order_acquire);
	size_t n = 0, k;
	for (const struct px_origin_stats *o = head; o != NULL; o = o->next)
		n++;
	if (n > max)
		return n;
	k = n;
	for (const struct px_origin_stats *o = head; o != NULL; o = o->next) {
		struct px_origin_snap *v = &out[--k];       /* newest first in the list */
		v->proxy = o->proxy;
		v->origin = o->origin;
		v->ejections = get(&o->ejections);
		v->recoveries = get(&o->recoveries);
	}
	return n;
}

const char *px_oerr_label(enum px_oerr k)
{
	return (unsigned)k < PX_OERR_COUNT ? oerr_labels[k] : "";
}

const char *px_latency_le(size_t i)
{
	return util_latency_le(i);
}

void px_stats_exchange(struct px_stats *s, int status, int64_t us)
{
	if (status < 100 || status > 599)
		return;
	if (us < 0)                 /* no start time: it would wrap the unsigned sum */
		us = 0;
	add(&s->requests[status / 100 - 1], 1);
	add(&s->latency[util_latency_bucket(us)], 1);
	add(&s->latency_sum_us, (uint64_t)us);
}

void px_stats_bytes(struct px_stats *s, uint64_t in, uint64_t out)
{
	if (in != 0)
		add(&s->bytes_in, in);
	if (out != 0)
		add(&s->bytes_out, out);
}

void px_stats_origin_error(struct px_stats *s, enum px_close reason)
{
	enum px_oerr k = px_close_oerr(reason);
	if (k != PX_OERR_NONE)
		add(&s->origin_errors[k], 1);
}

void px_stats_upgraded(struct px_stats *s)
{
	add(&s->upgraded, 1);
}

void px_stats_tls(struct px_stats *s, enum px_tls_outcome k)
{
	add(&s->tls[k], 1);
}

const char *px_tls_outcome_label(enum px_tls_outcome k)
{
	static const char *const labels[PX_TLS_OUTCOMES] = { "ok", "resumed", "failed", "timeout" };
	return (unsigned)k < PX_TLS_OUTCOMES ? labels[k] : "";
}
