/* daemon/main.c - gaapd's composition root: struct gaapd owns the configuration, the state store,
 * the workers, the listener table, the resolver, the health checker and the control API, and
 * tears them down in reverse order.
 * Start-up order matters: the store is restored and every listener rebound before the control
 * API accepts a call, so no call ever sees a half-restored node.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "creds.h"
#include "ctl.h"
#include "gaapd.h"
#include "health/hc.h"
#include "ids.h"
#include "journal.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "state/sm.h"
#include "store.h"
#include "tls/tls.h"
#include "upstream/dns.h"
#include "worker.h"

#ifndef GAAPD_DEFAULT_CONF
#define GAAPD_DEFAULT_CONF "/etc/gaapd/gaapd.yaml"
#endif

static void usage(FILE *out)
{
	fprintf(out, "usage: gaapd [-t | --dump-state] [-c FILE]\n"
		"  -c FILE       configuration file (default " GAAPD_DEFAULT_CONF ")\n"
		"  -t            check the configuration file and exit (0 valid, 1 not)\n"
		"  --dump-state  print the state (node.state_dir) as JSON and exit; read-only, safe\n"
		"                while gaapd runs on it\n"
		"  -v            print the version and exit\n");
}

/* Listeners use one descriptor per worker; connections two each. Take what the hard limit allows. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			LOG_WARN("main", "setrlimit(NOFILE, %llu): %s", (unsigned long long)rl.rlim_max,
				strerror(errno));
	}
}

static int restore(struct gaapd *g)
{
	char err[512] = "";
	if (sm_restore(g->sm, err, sizeof(err)) != 0) {
		LOG_ERR("main", "restoring listeners: %s", err);
		return -1;
	}
	lsn_table_lock(g->listeners);
	size_t n = lsn_table_count(g->listeners);
	lsn_table_unlock(g->listeners);
	LOG_INFO("main", "restored listeners=%zu", n);
	return 0;
}

static int new_object_id(const char *prefix, char *out, size_t len)
{
	return ctl_id_new(prefix, out, len);
}

static int open_credentials(struct gaapd *g)
{
	char err[512];
	int created;
	if (g->cfg->auth == CFG_AUTH_NONE) {
		LOG_WARN("main", "control.auth is none: API calls are not authenticated (tests only)");
		return 0;
	}
	if ((created = ctl_creds_ensure(g->cfg->credentials_file, err, sizeof(err))) < 0 ||
	    ctl_creds_load(g->cfg->credentials_file, &g->creds, err, sizeof(err)) != 0) {
		LOG_ERR("main", "%s", err);
		return -1;
	}
	if (created)
		LOG_INFO("main", "created credentials file %s with a new [default] key",
			g->cfg->credentials_file);
	return 0;
}

/* Before the restore: the routes it builds name real servers that may be DNS names. */
static int start_resolver(struct gaapd *g)
{
	const struct ups_dns_opts o = { .valid_ms = g->cfg->resolver_valid_ms, .retry_ms = 1000,
		.timeout_ms = g->cfg->resolver_timeout_ms, .attempts = 2 };
	char err[160];
	if ((g->resolver = ups_dns_start(lsn_table_servers(g->listeners), &o, err,
	    sizeof(err))) == NULL) {
		LOG_ERR("main", "%s", err);
		return -1;
	}
	return 0;
}

/* After the resolver (a DNS server's probes go to its resolved addresses), before the restore
 * (the routings it builds take their checks from it). */
static int start_checker(struct gaapd *g)
{
	char err[160];
	if ((g->checks = hc_start(lsn_table_servers(g->listeners), err, sizeof(err))) == NULL) {
		LOG_ERR("main", "health checker: %s", err);
		return -1;
	}
	return 0;
}

/* The control API created listener id: its status for the fleet (etcd; nothing otherwise). */
static void created(void *arg, const char *id)
{
	gaapd_store_report(arg, id);
}

static int start(struct gaapd *g)
{
	int64_t started = (int64_t)time(NULL);
	char err[512];
	struct ctl_deps deps;
	/* The loop first: the etcd back end may wake it from its thread as soon as it is open. */
	if ((g->base = event_base_new()) == NULL ||
	    event_base_priority_init(g->base, GAAPD_PRIO_COUNT) != 0)
		return -1;
	if (gaapd_store_open(g, err, sizeof(err)) != 0 ||
	    (g->workers = wrk_pool_start(g->cfg->workers, err, sizeof(err))) == NULL) {
		LOG_ERR("main", "%s", err);
		return -1;
	}
	if (open_credentials(g) != 0 || (g->listeners = lsn_table_new(g->workers)) == NULL ||
	    start_resolver(g) != 0 || start_checker(g) != 0 ||
	    (g->sm = sm_new(g->store, g->listeners, g->cfg, new_object_id)) == NULL)
		return -1;
	sm_set_checker(g->sm, g->checks);
	tls_tickets_set(lsn_table_tickets(g->listeners), g->cfg->tls.ticket_rotate_s,
		g->cfg->tls.session_timeout_s);
	if (lsn_table_set_origin_ca(g->listeners, g->cfg->tls.origin_ca, err, sizeof(err)) != 0) {
		LOG_ERR("main", "tls.origin_ca: %s", err);
		return -1;
	}
	if (restore(g) != 0)
		return -1;
	gaapd_store_report_all(g);
	deps = (struct ctl_deps){ .cfg = g->cfg, .creds = g->creds, .listeners = g->listeners,
		.sm = g->sm, .started = started, .catch_up = gaapd_catch_up, .catch_up_arg = g,
		.fleet = g->cfg->store.backend == CFG_STORE_ETCD ? g->store : NULL,
		.created = created, .created_arg = g };
	if ((g->ctl = ctl_start(g->base, &deps, err, sizeof(err))) == NULL) {
		LOG_ERR("main", "%s", err);
		return -1;
	}
	if (gaapd_lifecycle_start(g) != 0)
		return -1;
	LOG_INFO("main", "gaapd started workers=%u control=%s port=%u", g->cfg->workers,
		g->cfg->control_listen.text, ctl_port(g->ctl));
	notify_ready(lsn_table_count(g->listeners));
	return 0;
}

/* Reverse order of start(); every step is NULL-safe so a failed start tears down the same way. */
static void stop(struct gaapd *g)
{
	if (!g->draining)
		notify_stopping();
	ctl_stop(g->ctl);
	gaapd_lifecycle_stop(g);
	wrk_pool_join(g->workers);
	hc_stop(g->checks);         /* targets the routings still hold stay readable until freed */
	ups_dns_stop(g->resolver);
	sm_free(g->sm);
	lsn_table_destroy(g->listeners);
	wrk_pool_destroy(g->workers);
	gaapd_store_close(g);       /* its thread may wake g->base until then */
	if (g->base != NULL)
		event_base_free(g->base);
	ctl_creds_destroy(g->creds);
	cfg_destroy(g->cfg);
}

int main(int argc, char **argv)
{
	struct gaapd g = { 0 };
	const char *conf = GAAPD_DEFAULT_CONF;
	int test_only = 0, dump_state = 0, opt, rc = 1;
	char err[1024];
	static const struct option longopts[] = {
		{ "dump-state", no_argument, NULL, 'D' }, { NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "c:thv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf = optarg; break;
		case 't': test_only = 1; break;
		case 'D': dump_state = 1; break;
		case 'v': printf("gaapd 0.1.0\n"); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfg_load_file(conf, &g.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "gaapd: %s\ngaapd: configuration file %s test failed\n", err, conf);
		return 1;
	}
	if (test_only) {
		fprintf(stderr, "gaapd: configuration file %s test is successful\n", conf);
		cfg_destroy(g.cfg);
		return 0;
	}
	if (dump_state) {
		rc = jr_dump(g.cfg->state_dir, stdout, err, sizeof(err)) == 0 ? 0 : 1;
		if (rc != 0)
			fprintf(stderr, "gaapd: %s\n", err);
		cfg_destroy(g.cfg);
		return rc;
	}
	log_set_level((enum log_level)g.cfg->log_level);
	log_set_rate(g.cfg->log_rate_burst, g.cfg->log_rate_interval_ms);
	if (g.cfg->log_file != NULL && log_open(g.cfg->log_file) != 0) {
		fprintf(stderr, "gaapd: log_file %s: %s\n", g.cfg->log_file, strerror(errno));
		cfg_destroy(g.cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);       /* past RLIMIT_FSIZE a store write fails (EFBIG), gaapd stays */
	raise_nofile();
	if (evthread_use_pthreads() != 0) {
		LOG_ERR("main", "evthread_use_pthreads failed");
	} else if (start(&g) == 0 && event_base_dispatch(g.base) == 0) {
		rc = 0;
	}
	stop(&g);
	log_flush(1);           /* the counts still held, before the last line */
	LOG_INFO("main", "gaapd stopped rc=%d", rc);
	libevent_global_shutdown();
	return rc;
}
