/* daemon/upstream/dns.c - the resolver thread (dns.h): one event loop, one evdns base, a timer
 *   that starts the resolutions due, their answers stored in the servers (name.h). */
#include "dns.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>

#include "name.h"
#include "util.h"

#define TICK_MS 50                  /* how soon a name a new route names is resolved */
#define BATCH 64                    /* resolutions started per tick, at most */

struct dns_req {
	struct ups_dns *d;
	struct ups_server *s;           /* a reference, until ups_name_done() */
	struct evdns_getaddrinfo_request *q;    /* NULL once answered */
	struct dns_req *next, **prev;   /* in flight */
};

struct ups_dns {
	struct ups_reg *reg;            /* a reference */
	struct ups_dns_opts o;
	struct event_base *base;
	struct evdns_base *dns;
	struct event *tick;
	struct dns_req *flying;
	struct dns_req *starting;       /* in evdns_getaddrinfo(), which may answer at once */
	pthread_t thread;
};

static void req_unlink(struct dns_req *r)
{
	*r->prev = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
}

/* EAI_NONAME (NXDOMAIN, or no address of the family) is an answer: the name has no address now.
 * Anything else (a timeout, SERVFAIL, a cancel at stop) says nothing new about it. */
static void answered(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dns_req *r = arg;
	struct sockaddr_storage addrs[UPS_NAME_ADDRS];
	socklen_t lens[UPS_NAME_ADDRS];
	size_t n = 0;
	int64_t now = ups_now_ms();
	unsigned port = r->s->name->port;
	for (struct evutil_addrinfo *a = res; result == 0 && a != NULL && n < UPS_NAME_ADDRS;
	     a = a->ai_next) {
		if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
		    a->ai_addrlen > sizeof(addrs[0]))
			continue;
		memset(&addrs[n], 0, sizeof addrs[n]);
		memcpy(&addrs[n], a->ai_addr, a->ai_addrlen);
		if (a->ai_family == AF_INET)
			((struct sockaddr_in *)&addrs[n])->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&addrs[n])->sin6_port = htons((uint16_t)port);
		lens[n++] = (socklen_t)a->ai_addrlen;
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (r->d->starting == r)
		r->d->starting = NULL;
	req_unlink(r);
	ups_name_done(r->s, addrs, lens, n, result != 0 && result != EVUTIL_EAI_NONAME,
		now + (n > 0 ? r->d->o.valid_ms : r->d->o.retry_ms));
	free(r);
}

static void resolve(struct ups_dns *d, struct ups_server *s)
{
	struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP };
	struct dns_req *r = calloc(1, sizeof *r);
	if (r == NULL) {
		ups_name_done(s, NULL, NULL, 0, 1, ups_now_ms() + d->o.retry_ms);
		return;
	}
	r->d = d;
	r->s = s;
	r->next = d->flying;
	r->prev = &d->flying;
	if (d->flying != NULL)
		d->flying->prev = &r->next;
	d->flying = r;
	/* may answer before it returns (hosts file, a cached or numeric name): r is gone then */
	d->starting = r;
	struct evdns_getaddrinfo_request *q = evdns_getaddrinfo(d->dns, s->name->host, NULL, &hints,
		answered, r);
	if (d->starting == r)
		r->q = q;
	d->starting = NULL;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ups_dns *d = arg;
	struct ups_server *due[BATCH];
	size_t n = ups_reg_names_due(d->reg, ups_now_ms(), due, BATCH);
	(void)fd;
	(void)what;
	for (size_t i = 0; i < n; i++)
		resolve(d, due[i]);
}

/* Answers still owed at stop: cancelled (their callbacks run, some deferred to the loop), then
 * whatever evdns never answered lets go of its server here. */
static void drain(struct ups_dns *d)
{
	for (struct dns_req *r = d->flying; r != NULL; r = r->next)
		if (r->q != NULL)
			evdns_getaddrinfo_cancel(r->q);
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	evdns_base_free(d->dns, 1);
	d->dns = NULL;
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	while (d->flying != NULL) {
		struct dns_req *r = d->flying;
		req_unlink(r);
		ups_name_done(r->s, NULL, NULL, 0, 1, 0);
		free(r);
	}
}

static void *run(void *arg)
{
	struct ups_dns *d = arg;
	event_base_dispatch(d->base);
	drain(d);
	return NULL;
}

static int configure(struct ups_dns *d, char *err, size_t errlen)
{
	char timeout[32], attempts[16];
	snprintf(timeout, sizeof timeout, "%u.%03u", d->o.timeout_ms / 1000, d->o.timeout_ms % 1000);
	snprintf(attempts, sizeof attempts, "%u", d->o.attempts > 0 ? d->o.attempts : 1);
	/* /etc/resolv.conf and /etc/hosts; without a usable resolv.conf, evdns asks 127.0.0.1 */
	if ((d->dns = evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL) {
		snprintf(err, errlen, "cannot set up the resolver (evdns)");
		return -1;
	}
	if (evdns_base_set_option(d->dns, "timeout:", timeout) != 0 ||
	    evdns_base_set_option(d->dns, "attempts:", attempts) != 0) {
		snprintf(err, errlen, "cannot set the resolver's timeout");
		return -1;
	}
	return 0;
}

static void dns_free(struct ups_dns *d)
{
	if (d->dns != NULL)
		evdns_base_free(d->dns, 0);
	if (d->tick != NULL)
		event_free(d->tick);
	if (d->base != NULL)
		event_base_free(d->base);
	ups_reg_unref(d->reg);
	free(d);
}

struct ups_dns *ups_dns_start(struct ups_reg *reg, const struct ups_dns_opts *o, char *err,
	size_t errlen)
{
	const struct timeval tick = { 0, TICK_MS * 1000 };
	struct ups_dns *d = calloc(1, sizeof *d);
	int e;
	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->reg = ups_reg_ref(reg);
	d->o = *o;
	if ((d->base = event_base_new()) == NULL ||
	    (d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d)) == NULL) {
		snprintf(err, errlen, "out of memory");
		dns_free(d);
		return NULL;
	}
	if (configure(d, err, errlen) != 0) {
		dns_free(d);
		return NULL;
	}
	event_add(d->tick, &tick);
	sigset_t old;
	util_block_process_signals(&old);       /* the new thread inherits the mask */
	e = pthread_create(&d->thread, NULL, run, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the resolver thread: %s", strerror(e));
		dns_free(d);
		return NULL;
	}
	return d;
}

void ups_dns_stop(struct ups_dns *d)
{
	if (d == NULL)
		return;
	event_base_loopbreak(d->base);      /* thread-safe: evthread_use_pthreads() */
	pthread_join(d->thread, NULL);
	dns_free(d);
}

void ups_name_read(struct ups_server *s, struct ups_name_snap *out)
{
	pthread_mutex_lock(&s->name->lock);
	out->naddrs = s->name->n;
	pthread_mutex_unlock(&s->name->lock);
	out->resolutions = atomic_load(&s->name->resolutions);
	out->failures = atomic_load(&s->name->failures);
}
