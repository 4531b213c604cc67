/* daemon/gaapd.h - struct gaapd, the composition root's state, shared by main.c (start-up and
 * teardown) and lifecycle.c (signals: reload, drain, log reopen; the service manager's view).
 *   fleet.c opens the state store the configuration names and, with etcd, feeds the fleet's
 *   changes to sm and reports this node's listener statuses.
 * Ownership: struct gaapd owns everything it points to. Threads: the main thread only (but for
 *   the etcd back end's wake-up, fleet.c).
 */
#ifndef GAAPD_GAAPD_H
#define GAAPD_GAAPD_H

#include <stddef.h>
#include <stdint.h>

struct cfg;
struct ctl;
struct ctl_creds;
struct event;
struct hc_checker;
struct event_base;
struct fleet_opts;
struct lsn_table;
struct sm;
struct st;
struct ups_dns;
struct wrk_pool;

struct gaapd {
	struct cfg *cfg;
	struct ctl_creds *creds;
	struct st *store;
	struct event *feed;             /* etcd: made active by the back end's thread; drains it */
	struct fleet_opts *store_opts;  /* etcd: what the back end was opened with (fleet.c) */
	struct wrk_pool *workers;
	struct lsn_table *listeners;
	struct ups_dns *resolver;       /* real servers' DNS names (upstream/dns.h) */
	struct hc_checker *checks;      /* active health checks of rules (health/hc.h) */
	struct sm *sm;                  /* every change to the listeners goes through it */
	struct event_base *base;
	struct ctl *ctl;
	struct event *signals[3];       /* TERM, INT, USR1 */
	struct event *hup;              /* SIGHUP's wake-up pipe (lifecycle.c says why not evsignal) */
	struct event *tick;             /* status, and the drain's progress while draining */
	struct event *watchdog;
	int draining;
	int64_t drain_deadline_ms;
	size_t reported_listeners;
};

/* Event priorities on g->base: signals before client I/O, so that in one turn of the loop a
 * signal is acted on before any request that came with it. Everything else has the default
 * (GAAPD_PRIO_COUNT / 2). */
#define GAAPD_PRIO_COUNT 2
#define GAAPD_PRIO_SIGNAL 0

/* Install the signal handlers and timers on g->base; after READY=1 is sent. 0 or -1. */
int gaapd_lifecycle_start(struct gaapd *g);
void gaapd_lifecycle_stop(struct gaapd *g);
/* SIGHUP: re-read g->cfg->path; apply it whole, or keep running on the old one. 0 applied. */
int gaapd_reload(struct gaapd *g);
/* Reloads now if a SIGHUP came in since the last reload (arg: the struct gaapd). The control API
 * calls it before deciding each call (ctl_deps.catch_up), so that once kill -HUP has returned,
 * every call read after it is decided with the new configuration and keys. */
void gaapd_catch_up(void *arg);

/* fleet.c. Open the store store.backend names into g->store, on g->base (made first): 0, or -1
 * with err. */
int gaapd_store_open(struct gaapd *g, char *err, size_t errlen);
/* With etcd: report this node's status of every listener it has (after the restore), or of one
 * (after the API created it). Nothing with the file store. */
void gaapd_store_report_all(struct gaapd *g);
void gaapd_store_report(struct gaapd *g, const char *listener);
/* Stop the back end, then free what it could wake; NULL-safe. Before g->base is freed. */
void gaapd_store_close(struct gaapd *g);

#endif
