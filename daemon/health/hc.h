/* daemon/health/hc.h - active health checks (issue 14; l7-and-https.md §4.1, §9.4.2): a checker
 *   that probes each distinct (real server, check parameters) once per DelayLoop, however many
 *   rules, listeners and workers share it, from a thread and an event loop of its own (never a
 *   worker's), and publishes each target's verdict as one atomic the request path reads.
 * Probes: `METHOD PATH HTTP/1.1`, `Host: <host>`, `Connection: keep-alive`, `User-Agent:
 *   gaapd-health`, on a connection of the checker's own (ups_connect, upstream/connect.h), kept
 *   for the target's next probe when the server lets it live, reconnected when the server closes
 *   it (a new connection per probe is most of a probe's cost; a kept one holds a descriptor
 *   per target between probes). The verdict is the status line (llhttp), read within timeout_ms
 *   of the probe's start; the answer is then read whole (HEAD: no body; Content-Length or
 *   chunked, up to 64 KiB, discarded) so that the connection can serve again; a longer body,
 *   one read to the close, `Connection: close` or HTTP/1.0 without keep-alive close it. A probe
 *   failing on a kept connection before any byte of the answer is retried once on a new
 *   connection within its deadline (the server may close an idle connection as the request
 *   leaves: no sign of ill health). A probe is never a request of any listener: no access log
 *   line, no request metric. The first probe of a new target is jittered over [0, delay_ms) so
 *   that thousands of targets created at once (a restore) do not fire together.
 * Verdicts (hc_verdict(): pure, unit-tested):
 *   fail_threshold 0: `down` after 3 consecutive failed probes, `up` after 2 consecutive good
 *     ones (HC_FALL, HC_RISE).
 *   fail_threshold > 0: failed probes and the failures real requests report (hc_target_failed())
 *     are counted over the last fail_window_ms; reaching fail_threshold takes the target down for
 *     block_ms; after that, the first good probe brings it back.
 *   A new target starts up (a bound server gets traffic until a check says otherwise).
 * Passive and active health combine as HAProxy's `observe layer4` + `check` do: a server is
 *   eligible while both say up (upstream/group.h); when every member of a rule is ineligible,
 *   requests still try them (the group's last-resort pick).
 * Ownership: hc_start() returns the checker, which owns its thread, loop and targets; it holds a
 *   reference to the server registry. A target is refcounted: hc_target_get() finds or creates it
 *   with a reference for the caller (a route's group member); the last hc_target_put() stops its
 *   probes (on the checker's thread) and frees it. hc_stop() joins the thread; targets still
 *   referenced stay readable (status frozen) until their last put.
 * Threads: get/put from any thread (the control thread builds routes; workers may drop the last
 *   route); the status is read lock-free from any thread; everything else runs on the checker's
 *   thread. The process must have called evthread_use_pthreads().
 */
#ifndef GAAPD_HEALTH_HC_H
#define GAAPD_HEALTH_HC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "util.h"

struct ups_reg;

#define HC_FALL 3                   /* consecutive failed probes: down (no fail_threshold) */
#define HC_RISE 2                   /* consecutive good probes: up again */
#define HC_PATH_MAX 256             /* CheckParams.Path: <= 80 characters, may carry a query */
#define HC_HOST_MAX 256
#define HC_FAILS_MAX 64             /* the largest fail_threshold a window can count */

/* One rule's CheckParams, as a checker needs them (every member resolved: defaults applied, the
 * Host filled with the rule's domain when CheckParams.Domain is empty). Two rules with equal
 * params binding the same server and port share one target. */
struct hc_params {
	unsigned delay_ms;              /* DelayLoop */
	unsigned timeout_ms;            /* ConnectTimeout: connect and status line */
	char method[8];                 /* GET or HEAD */
	char path[HC_PATH_MAX];
	char host[HC_HOST_MAX];         /* the probes' Host header */
	unsigned status_classes;        /* bit c set: status c00..c99 is healthy (bits 1..5) */
	unsigned fail_window_ms;        /* FailedCountInter (0 with fail_threshold 0) */
	unsigned fail_threshold;        /* FailedThreshold (<= HC_FAILS_MAX); 0 = HC_FALL / HC_RISE */
	unsigned block_ms;              /* BlockInter */
};

/* What a target has seen, read at one moment (Describe, /metrics). */
struct hc_snap {
	int up;                         /* the verdict now */
	uint64_t probes;                /* probes finished */
	uint64_t probe_failures;        /* ... that failed (refused, timeout, bad status, reset) */
	uint64_t transitions;           /* up <-> down changes */
	uint64_t latency_sum_us;        /* of probes that got a status line */
	uint64_t latency[UTIL_LATENCY_BUCKETS]; /* per bucket, util.h's (1 ms .. 10 s,
	                                 * +Inf), not cumulative */
	char origin[CFG_ADDR_TEXT_MAX]; /* the server, as its cfg_addr.text */
	struct hc_params params;        /* what it checks (as normalized by hc_target_get()) */
	char last_error[64];            /* the last failure: "connect: Connection refused",
	                                 * "timeout", "status 503" ... ("" if none yet) */
};

struct hc_checker;
struct hc_target;

/* A checker for reg's servers. NULL with err. */
struct hc_checker *hc_start(struct ups_reg *reg, char *err, size_t errlen);
/* Stops probing and joins the thread. NULL-safe. */
void hc_stop(struct hc_checker *c);

/* The target probing a's server with p, created on first use (its first probe jittered), with a
 * new reference for the caller. a as px_l7 builds it (an IP address, or a DNS name without a
 * family: the probe then goes to one of its resolved addresses, upstream/dns.h). NULL on ENOMEM.
 * c NULL: NULL (no checker, as in unit tests: the server is never taken out by a check). */
struct hc_target *hc_target_get(struct hc_checker *c, const struct cfg_addr *a,
	const struct hc_params *p);
struct hc_target *hc_target_ref(struct hc_target *t);
void hc_target_put(struct hc_target *t);        /* NULL-safe; the last stops its probes */

/* The request path: 1 when the checks let t take requests (t NULL: 1). Lock-free. */
static inline int hc_target_up(const struct hc_target *t);
/* A real request to t's server failed to connect or timed out: with a fail_threshold, it counts
 * in the window like a failed probe (§9.4.2). Any thread; lock-free. */
void hc_target_failed(struct hc_target *t);

void hc_target_read(const struct hc_target *t, struct hc_snap *out);
/* Every live target of c, for /metrics: fn once each (on the caller's thread, under c's lock:
 * fn must not call back into c). */
void hc_each(struct hc_checker *c, void (*fn)(const struct hc_target *t, void *arg), void *arg);

/* The verdict's state machine, on its own (unit tests): */
struct hc_state {
	int up;
	unsigned rise, fall;            /* consecutive good / failed probes */
	int64_t blocked_until;          /* ms; fail_threshold mode */
	int64_t fails[HC_FAILS_MAX];    /* fail_threshold mode: times of recent failures (a ring) */
	unsigned nfails, head;
};
/* One event at now_ms: a probe's result (ok 1/0), or a request's failure (request 1, ok 0).
 * Returns 1 when the verdict changed. */
int hc_verdict(struct hc_state *s, const struct hc_params *p, int ok, int request,
	int64_t now_ms);

/* ---- inline: a struct hc_target begins with this ---- */
struct hc_target_pub {
	atomic_int up;                  /* the verdict, published */
};
static inline int hc_target_up(const struct hc_target *t)
{
	return t == NULL ||
		atomic_load_explicit(&((const struct hc_target_pub *)t)->up, memory_order_relaxed);
}

#endif
