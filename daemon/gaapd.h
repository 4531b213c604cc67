/* daemon/gaapd.h - struct gaapd, the composition root's state, shared by main.c (start-up and
 * teardown) and lifecycle.c (signals: reload, drain, log reopen; the service manager's view).
 * Ownership: struct gaapd owns everything it points to. Threads: the main thread only.
 */
#ifndef GAAPD_GAAPD_H
#define GAAPD_GAAPD_H

#include <stddef.h>
#include <stdint.h>

struct cfg;
struct ctl;
struct ctl_creds;
struct event;
struct event_base;
struct lsn_table;
struct st;
struct wrk_pool;

struct gaapd {
	struct cfg *cfg;
	struct ctl_creds *creds;
	struct st *store;
	struct wrk_pool *workers;
	struct lsn_table *listeners;
	struct event_base *base;
	struct ctl *ctl;
	struct event *signals[4];       /* TERM, INT, HUP, USR1 */
	struct event *tick;             /* status, and the drain's progress while draining */
	struct event *watchdog;
	int draining;
	int64_t drain_deadline_ms;
	size_t reported_listeners;
};

/* Install the signal handlers and timers on g->base; after READY=1 is sent. 0 or -1. */
int gaapd_lifecycle_start(struct gaapd *g);
void gaapd_lifecycle_stop(struct gaapd *g);
/* SIGHUP: re-read g->cfg->path; apply it whole, or keep running on the old one. 0 applied. */
int gaapd_reload(struct gaapd *g);

#endif
