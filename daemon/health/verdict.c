/* daemon/health/verdict.c - hc_verdict(): the verdict's state machine, pure (hc.h). Two modes:
 *   consecutive probes (HC_FALL / HC_RISE: alternating results change nothing), or a failure
 *   count over a sliding window, which blocks the target for block_ms once it reaches the
 *   threshold. */
#include "hc.h"

static unsigned threshold(const struct hc_params *p)
{
	return p->fail_threshold > HC_FAILS_MAX ? HC_FAILS_MAX : p->fail_threshold;
}

/* Consecutive mode: only probes count (a request's failure is passive health's business). */
static int consecutive(struct hc_state *s, int ok)
{
	if (ok) {
		s->fall = 0;
		if (s->rise < HC_RISE)
			s->rise++;
		if (!s->up && s->rise >= HC_RISE) {
			s->up = 1;
			return 1;
		}
	} else {
		s->rise = 0;
		if (s->fall < HC_FALL)
			s->fall++;
		if (s->up && s->fall >= HC_FALL) {
			s->up = 0;
			return 1;
		}
	}
	return 0;
}

/* Forgets the failures the window has left behind (a failure at t counts while now - t <
 * window). */
static void prune(struct hc_state *s, unsigned window_ms, int64_t now)
{
	while (s->nfails > 0 && now - s->fails[s->head] >= (int64_t)window_ms) {
		s->head = (s->head + 1) % HC_FAILS_MAX;
		s->nfails--;
	}
}

static void remember(struct hc_state *s, int64_t now)
{
	if (s->nfails == HC_FAILS_MAX) {        /* full: the oldest goes (the threshold is <= it) */
		s->head = (s->head + 1) % HC_FAILS_MAX;
		s->nfails--;
	}
	s->fails[(s->head + s->nfails) % HC_FAILS_MAX] = now;
	s->nfails++;
}

/* Threshold mode: down for block_ms when the window holds fail_threshold failures; then the first
 * good probe brings it back (with an empty window: the block has paid for the old ones). Failures
 * while down are not counted: the block does not extend. */
static int windowed(struct hc_state *s, const struct hc_params *p, int ok, int request,
	int64_t now)
{
	if (ok) {
		s->fall = 0;
		if (s->rise < HC_RISE)
			s->rise++;
		if (request || s->up || now < s->blocked_until)
			return 0;
		s->up = 1;
		s->nfails = s->head = 0;
		return 1;
	}
	s->rise = 0;
	if (s->fall < HC_FALL)
		s->fall++;
	if (!s->up)
		return 0;
	prune(s, p->fail_window_ms, now);
	remember(s, now);
	if (s->nfails < threshold(p))
		return 0;
	s->up = 0;
	s->blocked_until = now + (int64_t)p->block_ms;
	s->nfails = s->head = 0;
	return 1;
}

int hc_verdict(struct hc_state *s, const struct hc_params *p, int ok, int request,
	int64_t now_ms)
{
	if (p->fail_threshold == 0)
		return request ? 0 : consecutive(s, ok);
	return windowed(s, p, ok, request, now_ms);
}
