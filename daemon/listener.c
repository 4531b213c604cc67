/* daemon/listener.c - see listener.h. */
#include "listener.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "idmap.h"
#include "log.h"
#include "proxy/px.h"
#include "tls/tls.h"
#include "upstream/ups.h"
#include "util.h"
#include "worker.h"

#define LSN_BACKLOG 4096
#define ACCEPT_RETRY_MS 500     /* after EMFILE/ENFILE/ENOMEM: let connections close first */

struct lsn_slot {
	struct lsn *lsn;
	size_t sock;                /* index into lsn->socks */
	struct wrk *w;
	int fd;                     /* the slot's duplicate of its socket: closed with the slot */
	int running;                /* the worker holds a reference and owns accepting (control
	                             * thread's view) */
	struct event *accepting;    /* EV_READ on fd, on the worker's base */
	struct event *retry;
	struct lsn_wait *wait;      /* set while a stop is posted */
	/* The worker's own view of the routes, so a reload can replace them without a lock: */
	struct px_route *route;     /* where new connections go (a reference) */
	struct px_route **old;      /* routes a reload replaced, kept while connections may use them */
	size_t nold;
};

/* A reload's new route for one slot, in flight to the slot's worker. */
struct lsn_reroute {
	struct lsn_slot *slot;
	struct px_route *route;     /* a reference, handed to the slot */
};

/* One lsn_table_remove() waiting for the workers to let go of a listener's slots. */
struct lsn_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t pending;
	unsigned drain_ms;
};

/* Listeners a proxy holds (its own and its groups'): what its max_listeners counts. */
struct lsn_count {
	char proxy[ST_ID_MAX];
	size_t n;
};

/* items keeps creation order (Describe pages through it); byid finds a listener by id and
 * counts per proxy, so that a create costs the same with 10 listeners or 100,000. */
struct lsn_table {
	pthread_mutex_t lock;
	struct wrk_pool *workers;
	struct ups_reg *servers;    /* the real servers every route names (a reference) */
	struct tls_tickets *tickets;    /* the node's session ticket keys (a reference) */
	struct tls_client *origin_tls;  /* HTTPS towards real servers: routes built now take it */
	struct lsn **items;
	size_t n, cap;
	struct idmap byid;
	struct lsn_count *counts;   /* one per proxy ever held: as many as configured, not more */
	size_t ncounts, counts_cap;
	struct lsn_port *byport;    /* (member proxy, port) -> listener: open addressing, linear
	                             * probing, at most half full (as idmap, with a pair for key) */
	size_t byport_cap, byport_used;
};

/* A port a listener holds on one of its member proxies. */
struct lsn_port {
	struct lsn *l;              /* NULL empty, &tomb removed */
	size_t member;              /* l->members[member] */
};

static struct lsn tomb;         /* a removed entry of byport */

static void slot_release_routes(struct lsn_slot *s);

static void lsn_unref(struct lsn *l)
{
	if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	for (size_t i = 0; i < l->nslots; i++) {
		if (l->slots[i].accepting == NULL && l->slots[i].fd >= 0)
			close(l->slots[i].fd);
		slot_release_routes(&l->slots[i]);
	}
	for (size_t i = 0; i < l->nsocks; i++)
		px_route_unref(l->socks[i].route);
	px_stats_unref(l->stats);
	px_l7_cell_unref(l->l7);
	tls_cell_unref(l->tls);
	free(l->members);
	free(l->socks);
	free(l->slots);
	free(l);
}

void lsn_discard(struct lsn *l)
{
	lsn_unref(l);
}

/* Room for n proxies: at most n sockets, each with a slot per worker. */
static struct lsn *lsn_alloc(const struct st_listener *rec, size_t n, size_t nworkers)
{
	struct lsn *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	atomic_init(&l->refs, 1);
	l->rec = *rec;
	l->members = calloc(n + 1, sizeof(*l->members));
	l->socks = calloc(n + 1, sizeof(*l->socks));
	l->slots = calloc((n + 1) * nworkers, sizeof(*l->slots));
	l->stats = px_stats_new();
	l->l7 = px_l7_cell_new();
	l->tls = tls_cell_new();
	if (l->members == NULL || l->socks == NULL || l->slots == NULL || l->stats == NULL ||
	    l->l7 == NULL || l->tls == NULL) {
		lsn_unref(l);
		return NULL;
	}
	for (size_t i = 0; i < (n + 1) * nworkers; i++)
		l->slots[i].fd = -1;
	return l;
}

static void note_fault(struct lsn *l, const struct cfg_proxy *p, int e)
{
	size_t len = strlen(l->fault);
	snprintf(l->fault + len, sizeof(l->fault) - len, "%s%s %s: %s", len ? "; " : "", p->id,
		p->bind.text, strerror(e));
}

/* Close what a socket that failed half-way opened, so an unbound socket never holds its port. */
static void sock_abandon(struct lsn *l, struct lsn_slot *s, size_t nworkers, int e)
{
	for (size_t i = 0; i < nworkers; i++)
		if (s[i].fd >= 0) {
			close(s[i].fd);
			s[i].fd = -1;
		}
	px_route_unref(l->socks[s->sock].route);
	l->socks[s->sock].route = NULL;
	errno = e;
}

/* An HTTPS listener's routes handshake with its cell; any other's are plain. */
static void lsn_route_tls(const struct lsn *l, struct px_route *r)
{
	if (strcmp(l->rec.protocol, "HTTPS") == 0)
		px_route_set_tls(r, l->tls);
}

/* The next socket of l, on p's address: slot 0 uses it, the other workers a dup of it. */
static int sock_open(struct lsn *l, const struct lsn_table *t, const struct cfg_proxy *p,
	const struct cfg_http *http, size_t nworkers)
{
	struct lsn_sock *k = &l->socks[l->nsocks];
	struct lsn_slot *s = &l->slots[l->nsocks * nworkers];
	int fd = lsn_socket(&p->bind, l->rec.port);
	snprintf(k->proxy_id, sizeof(k->proxy_id), "%s", p->id);
	snprintf(k->bind, sizeof(k->bind), "%s", p->bind.text);
	for (size_t i = 0; i < nworkers; i++) {
		s[i].lsn = l;
		s[i].sock = l->nsocks;
	}
	l->nsocks++;
	l->nslots += nworkers;
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	s[0].fd = fd;
	for (size_t i = 1; i < nworkers; i++)
		if ((s[i].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
			sock_abandon(l, s, nworkers, errno);
			return -1;
		}
	if ((k->route = px_route_create(l->rec.id, p, http, l->stats, t->servers)) == NULL) {
		sock_abandon(l, s, nworkers, ENOMEM);
		return -1;
	}
	px_route_set_l7(k->route, l->l7);
	lsn_route_tls(l, k->route);
	px_route_set_origin_tls(k->route, t->origin_tls);
	k->bound = 1;
	return 0;
}

/* Proxies with one bind address share one socket: a second bind would only fail. */
static int shares_address(const struct cfg_proxy *const *proxies, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (proxies[j]->bind.sa.ss_family == proxies[i]->bind.sa.ss_family &&
		    strcmp(proxies[j]->bind.text, proxies[i]->bind.text) == 0)
			return 1;
	return 0;
}

struct lsn *lsn_open(const struct lsn_table *t, const struct st_listener *rec,
	const struct cfg_proxy *const *proxies, size_t n, const struct cfg_http *http, int strict,
	size_t *failed)
{
	size_t nworkers = t->workers->n;
	struct lsn *l = lsn_alloc(rec, n, nworkers);
	*failed = n;
	if (l == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(l->members[l->nmembers++], CFG_ID_MAX, "%s", proxies[i]->id);
		if (shares_address(proxies, i) ||
		    sock_open(l, t, proxies[i], http, nworkers) == 0)
			continue;
		int e = errno;
		if (strict || e == ENOMEM) {
			*failed = i;
			lsn_unref(l);
			errno = e;
			return NULL;
		}
		note_fault(l, proxies[i], e);
	}
	l->status = l->fault[0] == '\0' && l->nsocks > 0 ? LSN_RUNNING : LSN_CREATING;
	return l;
}

/* EMFILE and friends: stop accepting for a moment instead of spinning on a full backlog. */
static void accept_pause(struct lsn_slot *s, int err)
{
	const struct timeval pause = { 0, ACCEPT_RETRY_MS * 1000 };
	LOG_WARN("lsn", "listener=%s worker=%zu: accept: %s; pausing %d ms", s->lsn->rec.id,
		wrk_index(s->w), evutil_socket_error_to_string(err), ACCEPT_RETRY_MS);
	event_del(s->accepting);
	evtimer_add(s->retry, &pause);
}

/* One connection per readiness, as nginx does without multi_accept: the socket stays readable
 * while its backlog holds more, and the next loop turn takes the next one between the other
 * connections' events. Accepting until EAGAIN (evconnlistener) costs a failing accept4() per
 * readiness, a system call per connection when they come one at a time. */
static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct lsn_slot *s = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	(void)what;
	if (fd >= 0) {
		px_accept(wrk_px(s->w), fd, (struct sockaddr *)&ss, len, s->route);
		return;
	}
	switch (errno) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
	case EINTR:
	case ECONNABORTED:          /* the client gave up while queued: not our failure */
	case EPROTO:
	case EPERM:                 /* a firewall rule refused it */
		return;
	default:
		accept_pause(s, errno);
	}
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lsn_slot *s = arg;
	(void)fd;
	(void)what;
	event_add(s->accepting, NULL);
}

static void slot_start(struct wrk *w, void *arg)
{
	struct lsn_slot *s = arg;
	struct event_base *base = wrk_base(w);
	s->retry = evtimer_new(base, retry_cb, s);
	if (s->retry != NULL)
		s->accepting = event_new(base, s->fd, EV_READ | EV_PERSIST, accept_cb, s);
	if (s->accepting == NULL || event_add(s->accepting, NULL) != 0) {
		LOG_ERR("lsn", "listener=%s worker=%zu: cannot start accepting", s->lsn->rec.id,
			wrk_index(w));
		return;         /* the fd is closed with the slot */
	}
}

static void slot_free(struct lsn_slot *s)
{
	if (s->accepting != NULL)
		event_free(s->accepting);
	if (s->fd >= 0)
		close(s->fd);
	s->accepting = NULL;
	s->fd = -1;
	if (s->retry != NULL)
		event_free(s->retry);
	s->retry = NULL;
}

static void slot_release_routes(struct lsn_slot *s)
{
	for (size_t i = 0; i < s->nold; i++)
		px_route_unref(s->old[i]);
	free(s->old);
	s->old = NULL;
	s->nold = 0;
	px_route_unref(s->route);
	s->route = NULL;
}

/* Connections of a route keep their own references: a replaced route nobody else holds has no
 * connection left and can go. */
static void slot_prune_old(struct lsn_slot *s)
{
	size_t kept = 0;
	for (size_t i = 0; i < s->nold; i++) {
		if (px_route_refs(s->old[i]) == 1)
			px_route_unref(s->old[i]);
		else
			s->old[kept++] = s->old[i];
	}
	s->nold = kept;
}

/* On the slot's worker: new connections take the new route; those open keep theirs. */
static void slot_reroute(struct wrk *w, void *arg)
{
	struct lsn_reroute *m = arg;
	struct lsn_slot *s = m->slot;
	struct px_route **old = realloc(s->old, (s->nold + 1) * sizeof(*old));
	(void)w;
	slot_prune_old(s);
	if (old != NULL && s->route != NULL) {
		s->old = old;
		s->old[s->nold++] = s->route;
	} else if (old != NULL) {
		s->old = old;
	} else {
		px_route_unref(s->route);       /* no room to remember it: its connections keep it */
	}
	s->route = m->route;
	lsn_unref(s->lsn);
	free(m);
}

/* On the slot's worker: stop accepting, close this worker's copy of the socket, and let the
 * connections accepted through it finish their exchange. The table still holds a reference, so
 * the unref here never frees l (nor s). */
static void slot_stop(struct wrk *w, void *arg)
{
	struct lsn_slot *s = arg;
	struct lsn_wait *wait = s->wait;
	struct lsn *l = s->lsn;
	slot_free(s);
	if (s->route != NULL)
		px_worker_retire(wrk_px(w), s->route, wait->drain_ms);
	for (size_t i = 0; i < s->nold; i++)
		px_worker_retire(wrk_px(w), s->old[i], wait->drain_ms);
	slot_release_routes(s);
	lsn_unref(l);
	pthread_mutex_lock(&wait->lock);
	wait->pending--;
	pthread_cond_signal(&wait->cond);
	pthread_mutex_unlock(&wait->lock);      /* the waiter may free wait from here on */
}

static const char *lsn_id(const void *l)
{
	return ((const struct lsn *)l)->rec.id;
}

struct lsn_table *lsn_table_new(struct wrk_pool *workers)
{
	struct lsn_table *t = calloc(1, sizeof(*t));
	char err[128];
	if (t == NULL || (t->servers = ups_reg_new()) == NULL ||
	    (t->tickets = tls_tickets_new(0, 0)) == NULL ||
	    (t->origin_tls = tls_client_new(NULL, err, sizeof err)) == NULL) {
		if (t != NULL) {
			ups_reg_unref(t->servers);
			tls_tickets_unref(t->tickets);
		}
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->workers = workers;
	t->byid = (struct idmap)IDMAP_INIT(lsn_id);
	return t;
}

void lsn_table_destroy(struct lsn_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct lsn *l = t->items[i];
		for (size_t k = 0; k < l->nslots; k++) {
			slot_free(&l->slots[k]);
			slot_release_routes(&l->slots[k]);
		}
		atomic_store(&l->refs, 1);      /* the joined workers' references go with their slots */
		lsn_unref(l);
	}
	free(t->items);
	idmap_free(&t->byid);
	free(t->byport);
	free(t->counts);
	ups_reg_unref(t->servers);  /* routes still held elsewhere keep it through their servers */
	tls_tickets_unref(t->tickets);
	tls_client_unref(t->origin_tls);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void lsn_table_lock(struct lsn_table *t)
{
	pthread_mutex_lock(&t->lock);
}

void lsn_table_unlock(struct lsn_table *t)
{
	pthread_mutex_unlock(&t->lock);
}

size_t lsn_table_count(const struct lsn_table *t)
{
	return t->n;
}

static int occupies(const struct lsn *l, const char *proxy_id)
{
	for (size_t i = 0; i < l->nmembers; i++)
		if (strcmp(l->members[i], proxy_id) == 0)
			return 1;
	return 0;
}

static struct lsn_count *count_of(const struct lsn_table *t, const char *proxy_id)
{
	for (size_t i = 0; i < t->ncounts; i++)
		if (strcmp(t->counts[i].proxy, proxy_id) == 0)
			return &t->counts[i];
	return NULL;
}

size_t lsn_table_count_proxy(const struct lsn_table *t, const char *proxy_id)
{
	const struct lsn_count *c = count_of(t, proxy_id);
	return c != NULL ? c->n : 0;
}

/* Room was made by lsn_table_reserve(). */
static void count_members(struct lsn_table *t, const struct lsn *l, int delta)
{
	for (size_t i = 0; i < l->nmembers; i++) {
		struct lsn_count *c = count_of(t, l->members[i]);
		if (c == NULL) {
			c = &t->counts[t->ncounts++];
			snprintf(c->proxy, sizeof(c->proxy), "%s", l->members[i]);
			c->n = 0;
		}
		c->n = (size_t)((ssize_t)c->n + delta);
	}
}


const struct lsn *lsn_table_get(const struct lsn_table *t, size_t i)
{
	return i < t->n ? t->items[i] : NULL;
}

const struct lsn *lsn_table_find(const struct lsn_table *t, const char *id)
{
	return idmap_get(&t->byid, id);
}

/* Its place in creation order (deletes only: a scan of pointers, no string compares). */
static ssize_t index_of(const struct lsn_table *t, const char *id)
{
	const struct lsn *l = lsn_table_find(t, id);
	for (size_t i = 0; l != NULL && i < t->n; i++)
		if (t->items[i] == l)
			return (ssize_t)i;
	return -1;
}

static size_t port_hash(const char *proxy_id, unsigned port)
{
	return (size_t)util_fnv1a(proxy_id) ^ ((size_t)port * 0x9e3779b97f4a7c15ULL);
}

static int port_is(const struct lsn_port *e, const char *proxy_id, unsigned port)
{
	return e->l != &tomb && e->l->rec.port == port &&
		strcmp(e->l->members[e->member], proxy_id) == 0;
}

/* The slot of (proxy_id, port) in byport, or the empty slot where it would go. */
static size_t port_slot(const struct lsn_table *t, const char *proxy_id, unsigned port)
{
	size_t mask = t->byport_cap - 1, i = port_hash(proxy_id, port) & mask;
	while (t->byport[i].l != NULL && !port_is(&t->byport[i], proxy_id, port))
		i = (i + 1) & mask;
	return i;
}

static void port_insert(struct lsn_table *t, struct lsn *l, size_t member)
{
	size_t mask = t->byport_cap - 1, i = port_hash(l->members[member], l->rec.port) & mask;
	while (t->byport[i].l != NULL && t->byport[i].l != &tomb)
		i = (i + 1) & mask;
	if (t->byport[i].l == NULL)
		t->byport_used++;
	t->byport[i] = (struct lsn_port){ l, member };
}

static int port_rebuild(struct lsn_table *t, size_t live)
{
	size_t cap = 64, old_cap = t->byport_cap;
	struct lsn_port *old = t->byport;
	while (cap < 2 * live)
		cap *= 2;
	if ((t->byport = calloc(cap, sizeof(*t->byport))) == NULL) {
		t->byport = old;
		return -1;
	}
	t->byport_cap = cap;
	t->byport_used = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].l != NULL && old[i].l != &tomb)
			port_insert(t, old[i].l, old[i].member);
	free(old);
	return 0;
}

static size_t ports_held(const struct lsn_table *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->ncounts; i++)
		n += t->counts[i].n;
	return n;
}

const struct lsn *lsn_table_find_port(const struct lsn_table *t, const char *proxy_id, unsigned port)
{
	/* every protocol so far (HTTP) is TCP-family: one port space */
	return t->byport_cap != 0 ? t->byport[port_slot(t, proxy_id, port)].l : NULL;
}

int lsn_table_reserve(struct lsn_table *t, const struct lsn *l)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct lsn **items = realloc(t->items, cap * sizeof(*items));
		if (items == NULL)
			return -1;
		t->items = items;
		t->cap = cap;
	}
	if (idmap_reserve(&t->byid, 1) != 0)
		return -1;
	if (2 * (t->byport_used + l->nmembers) > t->byport_cap &&
	    port_rebuild(t, ports_held(t) + l->nmembers) != 0)
		return -1;
	if (t->ncounts + l->nmembers > t->counts_cap) {
		size_t cap = t->ncounts + l->nmembers + 16;
		struct lsn_count *counts = realloc(t->counts, cap * sizeof(*counts));
		if (counts == NULL)
			return -1;
		t->counts = counts;
		t->counts_cap = cap;
	}
	return 0;
}

void lsn_table_add(struct lsn_table *t, struct lsn *l)
{
	size_t nworkers = t->workers->n;
	t->items[t->n++] = l;
	idmap_put(&t->byid, l);
	count_members(t, l, 1);
	for (size_t i = 0; i < l->nmembers; i++)
		port_insert(t, l, i);
	for (size_t i = 0; i < l->nslots; i++) {
		struct lsn_slot *s = &l->slots[i];
		if (s->fd < 0)
			continue;       /* its socket could not be bound */
		s->w = t->workers->w[i % nworkers];
		/* Taken here, not on the worker: a reload may replace socks[].route before it runs. */
		s->route = px_route_ref(l->socks[s->sock].route);
		atomic_fetch_add(&l->refs, 1);
		if (wrk_post(s->w, slot_start, s) == 0) {
			s->running = 1;
			continue;
		}
		LOG_ERR("lsn", "listener=%s worker=%zu: cannot post start", l->rec.id, i % nworkers);
		px_route_unref(s->route);
		s->route = NULL;
		atomic_fetch_sub(&l->refs, 1);
	}
}

int lsn_table_set_name(struct lsn_table *t, const char *id, const char *name)
{
	struct lsn *l = (struct lsn *)lsn_table_find(t, id);
	if (l == NULL)
		return -1;
	snprintf(l->rec.name, sizeof(l->rec.name), "%s", name);
	return 0;
}

int lsn_table_set_https(struct lsn_table *t, const char *id, const struct st_https *https)
{
	struct lsn *l = (struct lsn *)lsn_table_find(t, id);
	if (l == NULL)
		return -1;
	l->rec.https = *https;
	return 0;
}

int lsn_table_set_l7(struct lsn_table *t, const char *id, struct px_l7 *l7)
{
	struct lsn *l = (struct lsn *)lsn_table_find(t, id);
	if (l == NULL) {
		px_l7_unref(l7);
		return -1;
	}
	px_l7_cell_set(l->l7, l7);
	return 0;
}

int lsn_table_set_tls(struct lsn_table *t, const char *id, struct tls_srv *srv)
{
	struct lsn *l = (struct lsn *)lsn_table_find(t, id);
	if (l == NULL) {
		tls_srv_unref(srv);
		return -1;
	}
	lsn_set_tls(l, srv);
	return 0;
}

void lsn_set_tls(struct lsn *l, struct tls_srv *srv)
{
	tls_cell_set(l->tls, srv);
}

struct tls_tickets *lsn_table_tickets(struct lsn_table *t)
{
	return t->tickets;
}

int lsn_table_set_origin_ca(struct lsn_table *t, const char *ca_file, char *err, size_t errlen)
{
	struct tls_client *c = tls_client_new(ca_file, err, errlen);
	if (c == NULL)
		return -1;
	tls_client_unref(t->origin_tls);
	t->origin_tls = c;
	return 0;
}

struct ups_reg *lsn_table_servers(struct lsn_table *t)
{
	return t->servers;
}

/* Post a stop to every worker still running a slot of l. 0, or -1 when a post failed (that
 * slot keeps running; the others were posted and must still be waited for). */
static int post_stops(struct lsn *l, struct lsn_wait *wait)
{
	int rc = 0;
	for (size_t i = 0; i < l->nslots; i++) {
		struct lsn_slot *s = &l->slots[i];
		if (!s->running)
			continue;
		s->wait = wait;
		pthread_mutex_lock(&wait->lock);
		wait->pending++;
		pthread_mutex_unlock(&wait->lock);
		if (wrk_post(s->w, slot_stop, s) == 0) {
			s->running = 0;
			continue;
		}
		pthread_mutex_lock(&wait->lock);
		wait->pending--;
		pthread_mutex_unlock(&wait->lock);
		LOG_ERR("lsn", "listener=%s worker=%zu: cannot post stop", l->rec.id, wrk_index(s->w));
		rc = -1;
	}
	return rc;
}

static void wait_workers(struct lsn_wait *wait)
{
	pthread_mutex_lock(&wait->lock);
	while (wait->pending > 0)
		pthread_cond_wait(&wait->cond, &wait->lock);
	pthread_mutex_unlock(&wait->lock);
}

/* One listener at a time: the wait is a round trip through each worker's mailbox. */
static int remove_one(struct lsn_table *t, size_t i, struct lsn_wait *wait)
{
	struct lsn *l = t->items[i];
	int rc = post_stops(l, wait);
	wait_workers(wait);
	if (rc != 0) {
		l->status = LSN_DESTROYING;     /* still holds its port; a later delete retries */
		return -1;
	}
	memmove(t->items + i, t->items + i + 1, (t->n - i - 1) * sizeof(*t->items));
	t->n--;
	idmap_del(&t->byid, l->rec.id);
	for (size_t k = 0; k < l->nmembers; k++)
		t->byport[port_slot(t, l->members[k], l->rec.port)].l = &tomb;
	count_members(t, l, -1);
	lsn_unref(l);                           /* the table's reference: frees l */
	return 0;
}

size_t lsn_table_remove(struct lsn_table *t, const char *const *ids, size_t n, unsigned drain_ms)
{
	struct lsn_wait wait = { .pending = 0, .drain_ms = drain_ms };
	size_t removed = 0;
	pthread_mutex_init(&wait.lock, NULL);
	pthread_cond_init(&wait.cond, NULL);
	for (size_t k = 0; k < n; k++) {
		ssize_t i = index_of(t, ids[k]);
		if (i >= 0 && remove_one(t, (size_t)i, &wait) == 0)
			removed++;
	}
	pthread_cond_destroy(&wait.cond);
	pthread_mutex_destroy(&wait.lock);
	return removed;
}

void lsn_table_stop_all(struct lsn_table *t, unsigned drain_ms)
{
	struct lsn_wait wait = { .pending = 0, .drain_ms = drain_ms };
	pthread_mutex_init(&wait.lock, NULL);
	pthread_cond_init(&wait.cond, NULL);
	for (size_t i = 0; i < t->n; i++)
		(void)post_stops(t->items[i], &wait);   /* a failed post: that slot closes at exit */
	wait_workers(&wait);
	pthread_cond_destroy(&wait.cond);
	pthread_mutex_destroy(&wait.lock);
}

static int members_match(const struct lsn *l, const struct cfg_group *g)
{
	if (g->nproxies != l->nmembers)
		return 0;
	for (size_t i = 0; i < g->nproxies; i++)
		if (!occupies(l, g->proxies[i]))
			return 0;
	return 1;
}

static int check_one(const struct lsn *l, const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_group *g = l->rec.group_id[0] ? cfg_find_group(c, l->rec.group_id) : NULL;
	if (l->rec.group_id[0] && (g == NULL || !members_match(l, g))) {
		snprintf(err, errlen, "group %s has listener %s: it must stay, with the same proxies",
			l->rec.group_id, l->rec.id);
		return -1;
	}
	for (size_t i = 0; i < l->nmembers; i++)
		if (cfg_find_proxy(c, l->members[i]) == NULL) {
			snprintf(err, errlen, "proxy %s has listener %s: delete it first", l->members[i],
				l->rec.id);
			return -1;
		}
	for (size_t k = 0; k < l->nsocks; k++) {
		const struct cfg_proxy *p = cfg_find_proxy(c, l->socks[k].proxy_id);
		if (l->socks[k].bound && strcmp(p->bind.text, l->socks[k].bind) != 0) {
			snprintf(err, errlen, "proxy %s: bind %s -> %s with listener %s bound: needs a "
				"restart", p->id, l->socks[k].bind, p->bind.text, l->rec.id);
			return -1;
		}
	}
	return 0;
}

int lsn_table_check(const struct lsn_table *t, const struct cfg *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->n; i++)
		if (check_one(t->items[i], c, err, errlen) != 0)
			return -1;
	return 0;
}

/* New routes for every bound socket, in order, into routes[]; all or nothing. */
static int build_routes(struct lsn_table *t, const struct cfg *c, struct px_route **routes)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct lsn *l = t->items[i];
		for (size_t k = 0; k < l->nsocks; k++) {
			if (!l->socks[k].bound)
				continue;
			const struct cfg_proxy *p = cfg_find_proxy(c, l->socks[k].proxy_id);
			routes[n] = px_route_create(l->rec.id, p, &c->http, l->stats, t->servers);
			if (routes[n++] == NULL) {
				while (n > 0)
					px_route_unref(routes[--n]);
				return -1;
			}
			px_route_set_l7(routes[n - 1], l->l7);   /* a reload keeps the routing */
			lsn_route_tls(l, routes[n - 1]);
			px_route_set_origin_tls(routes[n - 1], t->origin_tls);
		}
	}
	return 0;
}

/* Hand sock k's new route to each worker serving it. A failed post leaves that worker on the old
 * route (logged): it still serves, with the old origins. */
static void post_reroutes(struct lsn *l, size_t k, size_t nworkers)
{
	for (size_t i = k * nworkers; i < (k + 1) * nworkers; i++) {
		struct lsn_slot *s = &l->slots[i];
		struct lsn_reroute *m = s->running ? malloc(sizeof(*m)) : NULL;
		if (m == NULL)
			continue;
		m->slot = s;
		m->route = px_route_ref(l->socks[k].route);
		atomic_fetch_add(&l->refs, 1);
		if (wrk_post(s->w, slot_reroute, m) != 0) {
			LOG_ERR("lsn", "listener=%s worker=%zu: cannot post the new route", l->rec.id,
				wrk_index(s->w));
			px_route_unref(m->route);
			atomic_fetch_sub(&l->refs, 1);
			free(m);
		}
	}
}

int lsn_table_reconfigure(struct lsn_table *t, const struct cfg *c)
{
	size_t total = 0, n = 0;
	char err[256];
	struct tls_client *old = tls_client_ref(t->origin_tls);
	for (size_t i = 0; i < t->n; i++)
		total += t->items[i]->nsocks;
	/* tls.origin_ca as the new configuration has it (its file was read at load) */
	if (lsn_table_set_origin_ca(t, c->tls.origin_ca, err, sizeof err) != 0) {
		LOG_ERR("lsn", "tls.origin_ca: %s", err);
		tls_client_unref(old);
		return -1;
	}
	struct px_route **routes = calloc(total + 1, sizeof(*routes));
	if (routes == NULL || build_routes(t, c, routes) != 0) {
		free(routes);
		tls_client_unref(t->origin_tls);    /* nothing changed: the one routes have now */
		t->origin_tls = old;
		return -1;
	}
	tls_client_unref(old);
	for (size_t i = 0; i < t->n; i++) {
		struct lsn *l = t->items[i];
		for (size_t k = 0; k < l->nsocks; k++) {
			if (!l->socks[k].bound)
				continue;
			px_route_unref(l->socks[k].route);      /* the slots hold their own */
			l->socks[k].route = routes[n++];
			post_reroutes(l, k, t->workers->n);
		}
	}
	free(routes);
	return 0;
}

int lsn_socket(const struct cfg_addr *addr, unsigned port)
{
	struct sockaddr_storage sa = addr->sa;
	int one = 1, fd, e;
	if (sa.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* TCP_NODELAY is inherited by every accepted socket: a response relayed in pieces as the
	 * origin sends them must not wait for the client's delayed ACK (nginx: tcp_nodelay on) */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    (sa.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&sa, addr->len) != 0 || listen(fd, LSN_BACKLOG) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* --- Traffic statistics (listener.h) --- */

_Static_assert(LSN_STATUS_CLASSES == PX_STATUS_CLASSES, "status classes differ from px.h");
_Static_assert(LSN_ORIGIN_ERROR_KINDS == PX_OERR_COUNT, "origin error kinds differ from px.h");
_Static_assert(LSN_LATENCY_BUCKETS == PX_LATENCY_BUCKETS, "latency buckets differ from px.h");
_Static_assert(LSN_TLS_OUTCOMES == PX_TLS_OUTCOMES, "TLS outcomes differ from px.h");

void lsn_traffic(const struct lsn *l, struct lsn_traffic *out)
{
	struct px_stats_snap s;
	px_stats_read(l->stats, &s);
	out->conns_open = s.conns;
	out->upgraded = s.upgraded;
	memcpy(out->requests, s.requests, sizeof(out->requests));
	out->bytes_in = s.bytes_in;
	out->bytes_out = s.bytes_out;
	memcpy(out->origin_errors, s.origin_errors, sizeof(out->origin_errors));
	memcpy(out->latency, s.latency, sizeof(out->latency));
	memcpy(out->tls_handshakes, s.tls, sizeof(out->tls_handshakes));
	out->latency_sum_us = s.latency_sum_us;
}

/* The stats' list only grows: ask again with room for what it has now. */
static struct px_origin_snap *origins_snap(const struct lsn *l, size_t *n)
{
	struct px_origin_snap *v = NULL, *grown;
	size_t cap = 0, got;
	while ((got = px_stats_origins(l->stats, v, cap)) > cap) {
		if ((grown = realloc(v, got * sizeof(*v))) == NULL) {
			free(v);
			return NULL;
		}
		v = grown;
		cap = got;
	}
	*n = got;
	return v != NULL ? v : calloc(1, sizeof(*v));   /* none: still not an error */
}

int lsn_origin_health(const struct lsn *l, struct lsn_origin_health **out, size_t *n)
{
	size_t got = 0;
	struct px_origin_snap *v = origins_snap(l, &got);
	struct lsn_origin_health *h = v != NULL ? calloc(got + 1, sizeof(*h)) : NULL;
	*out = NULL;
	*n = 0;
	if (h == NULL) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < got; i++) {
		snprintf(h[i].proxy, sizeof(h[i].proxy), "%s", v[i].proxy);
		snprintf(h[i].origin, sizeof(h[i].origin), "%s", v[i].origin);
		h[i].ejections = v[i].ejections;
		h[i].recoveries = v[i].recoveries;
	}
	free(v);
	*out = h;
	*n = got;
	return 0;
}

const char *lsn_origin_error_kind(size_t k)
{
	return px_oerr_label((enum px_oerr)k);
}

const char *lsn_latency_le(size_t i)
{
	return px_latency_le(i);
}

const char *lsn_tls_outcome(size_t k)
{
	return px_tls_outcome_label((enum px_tls_outcome)k);
}
