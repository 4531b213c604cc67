/* daemon/lifecycle.c - what happens to a running gaapd: SIGHUP reloads the configuration (all of
 * it or none), SIGTERM/SIGINT drain (stop accepting, let requests in flight finish until
 * http.drain_timeout, exit 0), SIGUSR1 reopens the logs; the service manager hears about each
 * (notify.h) and gets its watchdog pings from this loop.
 */
#include "gaapd.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "creds.h"
#include "ctl.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "proxy/px.h"
#include "state/sm.h"
#include "tls/tls.h"
#include "worker.h"

#define TICK_MS 50              /* drain progress and STATUS updates */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t listener_count(struct gaapd *g)
{
	lsn_table_lock(g->listeners);
	size_t n = lsn_table_count(g->listeners);
	lsn_table_unlock(g->listeners);
	return n;
}

/* What only a restart can change: the sockets, threads and directories made at start. */
static int restart_only(const struct cfg *old, const struct cfg *next, char *err, size_t errlen)
{
	const char *key = old->workers != next->workers ? "node.workers"
		: strcmp(old->state_dir, next->state_dir) != 0 ? "node.state_dir"
		: old->state_compact_bytes != next->state_compact_bytes ? "node.state_compact_bytes"
		: strcmp(old->control_listen.text, next->control_listen.text) != 0 ? "control.listen"
		: strcmp(old->metrics_listen.text, next->metrics_listen.text) != 0 ? "control.metrics_listen"
		: cfg_store_differs(old, next);
	if (key != NULL)
		snprintf(err, errlen, "%s changed: it needs a restart", key);
	return key != NULL ? -1 : 0;
}

static int load_credentials(const struct cfg *c, struct ctl_creds **out, char *err, size_t errlen)
{
	*out = NULL;
	if (c->auth == CFG_AUTH_NONE)
		return 0;
	if (ctl_creds_ensure(c->credentials_file, err, errlen) < 0)
		return -1;
	return ctl_creds_load(c->credentials_file, out, err, errlen);
}

struct switch_ctl {
	struct gaapd *g;
	struct cfg *next;
	struct ctl_creds *creds;
};

static void switch_ctl(void *arg)
{
	struct switch_ctl *s = arg;
	ctl_reconfigure(s->g->ctl, s->next, s->creds);
}

/* The listeners and the control API switch to next together (sm_reconfigure() runs switch_ctl
 * under the table lock), so no call is decided with one configuration and served with the other. */
static int switch_to(struct gaapd *g, struct cfg *next, struct ctl_creds *creds, char *err,
	size_t errlen)
{
	struct switch_ctl s = { g, next, creds };
	return sm_reconfigure(g->sm, next, switch_ctl, &s, err, errlen);
}

static void adopt(struct gaapd *g, struct cfg *next, struct ctl_creds *creds)
{
	int new_log = (g->cfg->log_file == NULL) != (next->log_file == NULL) ||
		(next->log_file != NULL && strcmp(g->cfg->log_file, next->log_file) != 0);
	log_set_level((enum log_level)next->log_level);
	log_set_rate(next->log_rate_burst, next->log_rate_interval_ms);
	tls_tickets_set(lsn_table_tickets(g->listeners), next->tls.ticket_rotate_s,
		next->tls.session_timeout_s);
	if (new_log && log_open(next->log_file) != 0)
		LOG_ERR("main", "log_file %s: %s; logging to stderr", next->log_file, strerror(errno));
	ctl_creds_destroy(g->creds);
	cfg_destroy(g->cfg);
	g->cfg = next;
	g->creds = creds;
}

int gaapd_reload(struct gaapd *g)
{
	struct cfg *next = NULL;
	struct ctl_creds *creds = NULL;
	char err[1024] = "";
	notify_reloading();
	if (cfg_load_file(g->cfg->path, &next, err, sizeof(err)) != 0 ||
	    restart_only(g->cfg, next, err, sizeof(err)) != 0 ||
	    load_credentials(next, &creds, err, sizeof(err)) != 0 ||
	    switch_to(g, next, creds, err, sizeof(err)) != 0) {
		LOG_ERR("main", "reload refused, still running on the previous configuration: %s", err);
		ctl_creds_destroy(creds);
		cfg_destroy(next);
		ctl_count_reload(g->ctl, 0);
		notify_reloaded(listener_count(g), "refused");
		return -1;
	}
	adopt(g, next, creds);
	ctl_count_reload(g->ctl, 1);
	LOG_INFO("main", "reload applied: %s", g->cfg->path);
	notify_reloaded(listener_count(g), "applied");
	return 0;
}

static void reopen_worker_log(struct wrk *w, void *arg)
{
	(void)arg;
	px_worker_reopen_log(wrk_px(w));
}

static void reopen_logs(struct gaapd *g)
{
	if (g->cfg->log_file != NULL && log_open(g->cfg->log_file) != 0)
		LOG_ERR("main", "log_file %s: %s", g->cfg->log_file, strerror(errno));
	for (size_t i = 0; i < g->workers->n; i++)
		if (wrk_post(g->workers->w[i], reopen_worker_log, NULL) != 0)
			LOG_ERR("main", "worker=%zu: cannot reopen its access log", i);
	LOG_INFO("main", "logs reopened");
}

/* Stop taking calls and connections; the tick ends the loop once the last exchange is done. */
static void begin_drain(struct gaapd *g)
{
	unsigned drain_ms = g->cfg->http.drain_timeout_ms;
	g->draining = 1;
	g->drain_deadline_ms = now_ms() + drain_ms;
	notify_stopping();
	ctl_stop(g->ctl);
	g->ctl = NULL;
	lsn_table_lock(g->listeners);
	lsn_table_stop_all(g->listeners, drain_ms);
	lsn_table_unlock(g->listeners);
	LOG_INFO("main", "draining: accepting stopped, waiting up to %u ms for requests in flight",
		drain_ms);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct gaapd *g = arg;
	(void)what;
	if (sig == SIGUSR1) {
		reopen_logs(g);
	} else if ((sig == SIGTERM || sig == SIGINT) && !g->draining) {
		LOG_INFO("main", "signal=%d: stopping", (int)sig);
		begin_drain(g);
	}
}

/* SIGHUP is caught here, not by an evsignal: libevent's handler only writes to a socket, and a
 * loop whose epoll_wait() had already collected a readable client socket would serve that
 * client before it learned of the signal, with the keys the operator just revoked. This flag is
 * set when the handler runs, and the handler runs on the main thread (the workers block the
 * signal) before the epoll_wait() or read() that could bring any later request returns; every
 * API call checks it first (gaapd_catch_up()), and the pipe wakes an idle loop at the signal
 * priority. */
static volatile sig_atomic_t hup_pending;
static int hup_pipe[2] = { -1, -1 };

static void on_hup(int sig)
{
	int saved = errno;
	(void)sig;
	hup_pending = 1;
	if (write(hup_pipe[1], "", 1) < 0) {
		/* EAGAIN: the pipe is full, so a wake-up is already on its way */
	}
	errno = saved;
}

void gaapd_catch_up(void *arg)
{
	struct gaapd *g = arg;
	if (!hup_pending)
		return;
	hup_pending = 0;
	if (!g->draining)
		(void)gaapd_reload(g);
}

static void on_hup_pipe(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];
	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		continue;
	gaapd_catch_up(arg);
}

static int catch_hup(struct gaapd *g)
{
	struct sigaction sa;
	if (pipe2(hup_pipe, O_NONBLOCK | O_CLOEXEC) != 0 ||
	    (g->hup = event_new(g->base, hup_pipe[0], EV_READ | EV_PERSIST, on_hup_pipe, g)) == NULL ||
	    event_priority_set(g->hup, GAAPD_PRIO_SIGNAL) != 0 || event_add(g->hup, NULL) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGHUP, &sa, NULL);
}

static void release_hup(struct gaapd *g)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;        /* a late SIGHUP must not kill a gaapd that is exiting */
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGHUP, &sa, NULL);
	if (g->hup != NULL)
		event_free(g->hup);
	g->hup = NULL;
	for (size_t i = 0; i < 2; i++) {
		if (hup_pipe[i] >= 0)
			close(hup_pipe[i]);
		hup_pipe[i] = -1;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gaapd *g = arg;
	(void)fd;
	(void)what;
	log_flush(0);           /* repeat and suppression counts that are due */
	if (g->draining) {
		size_t open = wrk_pool_conns(g->workers);
		LOG_DEBUG("main", "draining: connections=%zu", open);
		if (open == 0 || now_ms() >= g->drain_deadline_ms) {
			if (open != 0)
				LOG_WARN("main", "drain deadline: closing the connections still open");
			event_base_loopexit(g->base, NULL);
		}
		return;
	}
	size_t n = listener_count(g);
	if (n != g->reported_listeners)
		notify_status(n);
	g->reported_listeners = n;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_watchdog();      /* the loop is turning: that is what the service manager asks */
}

static struct event *every(struct gaapd *g, uint64_t usec, event_callback_fn fn)
{
	const struct timeval tv = { (time_t)(usec / 1000000), (suseconds_t)(usec % 1000000) };
	struct event *ev = event_new(g->base, -1, EV_PERSIST, fn, g);
	if (ev != NULL && event_add(ev, &tv) != 0) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

int gaapd_lifecycle_start(struct gaapd *g)
{
	static const int sigs[3] = { SIGTERM, SIGINT, SIGUSR1 };
	uint64_t wd = notify_watchdog_usec();
	for (size_t i = 0; i < 3; i++)
		if ((g->signals[i] = evsignal_new(g->base, sigs[i], on_signal, g)) == NULL ||
		    event_priority_set(g->signals[i], GAAPD_PRIO_SIGNAL) != 0 ||
		    evsignal_add(g->signals[i], NULL) != 0)
			return -1;
	if (catch_hup(g) != 0) {
		LOG_ERR("main", "SIGHUP: %s", strerror(errno));
		return -1;
	}
	if ((g->tick = every(g, TICK_MS * 1000, on_tick)) == NULL ||
	    (wd != 0 && (g->watchdog = every(g, wd, on_watchdog)) == NULL))
		return -1;
	g->reported_listeners = listener_count(g);
	return 0;
}

void gaapd_lifecycle_stop(struct gaapd *g)
{
	for (size_t i = 0; i < 3; i++)
		if (g->signals[i] != NULL)
			event_free(g->signals[i]);
	release_hup(g);
	if (g->tick != NULL)
		event_free(g->tick);
	if (g->watchdog != NULL)
		event_free(g->watchdog);
}
