/* control/ctl.h - the control API: Tencent Cloud API 3.0 over HTTP on the control address.
 * Ownership: ctl_start() returns a running control front end that borrows everything in deps (they
 *   must outlive it) and owns its listening socket, connections and rate-limit state; ctl_stop()
 *   closes them all (NULL-safe). Threads: everything runs on the thread of `base` (the main loop),
 *   so calls are decided one at a time; the listener table's lock guards the data plane's view.
 */
#ifndef GAAPD_CTL_H
#define GAAPD_CTL_H

#include <stddef.h>
#include <stdint.h>

struct cfg;
struct ctl;
struct ctl_creds;
struct event_base;
struct lsn_table;
struct sm;
struct st;

struct ctl_deps {
	const struct cfg *cfg;
	const struct ctl_creds *creds;  /* NULL when cfg->auth is CFG_AUTH_NONE */
	struct lsn_table *listeners;
	struct sm *sm;                  /* every change goes through it (state/sm.h) */
	int64_t started;            /* Unix seconds gaapd started: the proxies' CreateTime, metrics */
	/* Called before each API call is decided, so that a reload a signal asked for happens
	 * first (it may call ctl_reconfigure()); NULL: none. */
	void (*catch_up)(void *arg);
	void *catch_up_arg;
	/* The fleet's store (store.backend etcd, store.h): ListenerStatus across its nodes and the
	 * gaapd_store_etcd_* metrics. NULL with the file store. */
	struct st *fleet;
	/* Called once a listener the API created is serving here (its status for the fleet); NULL:
	 * none. */
	void (*created)(void *arg, const char *listener);
	void *created_arg;
};

struct ctl *ctl_start(struct event_base *base, const struct ctl_deps *deps, char *err, size_t errlen);
void ctl_stop(struct ctl *c);
/* Reload: calls from now on are decided with cfg and creds (borrowed, as in ctl_start()); the
 * control address stays as it is. Rate-limit buckets carry over, and so do the v1 replay tables
 * of the SecretIds still in creds (those of removed ones are dropped); the old creds may be freed
 * once this returns. */
void ctl_reconfigure(struct ctl *c, const struct cfg *cfg, const struct ctl_creds *creds);
/* Count a reload's outcome (gaapd_config_reloads_total): applied 1, refused 0. */
void ctl_count_reload(struct ctl *c, int applied);
/* The port actually bound (the configured one, or the kernel's pick for port 0). */
unsigned ctl_port(const struct ctl *c);

#endif
