/* daemon/listener.c - see listener.h. */
#include "listener.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy/px.h"
#include "worker.h"

#define LSN_BACKLOG 4096
#define ACCEPT_RETRY_MS 500     /* after EMFILE/ENFILE/ENOMEM: let connections close first */

struct lsn_slot {
	struct lsn *lsn;
	struct wrk *w;
	int fd;                     /* owned until lev takes it (LEV_OPT_CLOSE_ON_FREE) */
	struct evconnlistener *lev;
	struct event *retry;
};

struct lsn_table {
	pthread_mutex_t lock;
	struct wrk_pool *workers;
	struct lsn **items;
	size_t n, cap;
};

static void lsn_unref(struct lsn *l)
{
	if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	for (size_t i = 0; i < l->nslots; i++)
		if (l->slots[i].lev == NULL && l->slots[i].fd >= 0)
			close(l->slots[i].fd);
	px_route_unref(l->route);
	free(l->slots);
	free(l);
}

void lsn_discard(struct lsn *l)
{
	lsn_unref(l);
}

/* Slot 0 uses the socket itself, the others a dup, so every worker's loop can accept on it. */
struct lsn *lsn_new(const struct lsn_table *t, const struct st_listener *rec, int fd,
	const struct cfg_proxy *proxy, const struct cfg_http *http)
{
	size_t nworkers = t->workers->n;
	struct lsn *l = calloc(1, sizeof(*l));
	if (l == NULL || (l->slots = calloc(nworkers, sizeof(*l->slots))) == NULL) {
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	l->rec = *rec;
	l->fd = fd;
	l->status = fd >= 0 ? LSN_RUNNING : LSN_CREATING;
	atomic_init(&l->refs, 1);
	for (l->nslots = 0; l->nslots < nworkers; l->nslots++) {
		struct lsn_slot *s = &l->slots[l->nslots];
		s->lsn = l;
		s->fd = fd < 0 ? -1 : l->nslots == 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0 && s->fd < 0) {
			int e = errno;
			l->slots[0].fd = -1;    /* fd stays the caller's on failure */
			lsn_unref(l);
			errno = e;
			return NULL;
		}
	}
	if (proxy != NULL && fd >= 0 && (l->route = px_route_new(rec->id, proxy->origins,
	    proxy->norigins, http)) == NULL) {
		l->slots[0].fd = -1;
		lsn_unref(l);
		errno = ENOMEM;
		return NULL;
	}
	return l;
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct lsn_slot *s = arg;
	(void)lev;
	px_accept(wrk_px(s->w), fd, sa, (socklen_t)salen, s->lsn->route);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lsn_slot *s = arg;
	(void)fd;
	(void)what;
	evconnlistener_enable(s->lev);
}

/* EMFILE and friends: stop accepting for a moment instead of spinning on a full backlog. */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct lsn_slot *s = arg;
	const struct timeval pause = { 0, ACCEPT_RETRY_MS * 1000 };
	int e = EVUTIL_SOCKET_ERROR();
	LOG_WARN("lsn", "listener=%s worker=%zu: accept: %s; pausing %d ms", s->lsn->rec.id,
		wrk_index(s->w), evutil_socket_error_to_string(e), ACCEPT_RETRY_MS);
	evconnlistener_disable(lev);
	evtimer_add(s->retry, &pause);
}

static void slot_start(struct wrk *w, void *arg)
{
	struct lsn_slot *s = arg;
	struct event_base *base = wrk_base(w);
	s->retry = evtimer_new(base, retry_cb, s);
	if (s->retry != NULL)
		s->lev = evconnlistener_new(base, accept_cb, s, LEV_OPT_CLOSE_ON_FREE, -1, s->fd);
	if (s->lev == NULL) {
		LOG_ERR("lsn", "listener=%s worker=%zu: cannot start accepting", s->lsn->rec.id,
			wrk_index(w));
		return;         /* the fd is closed with the listener */
	}
	evconnlistener_set_error_cb(s->lev, accept_error_cb);
}

static void slot_free(struct lsn_slot *s)
{
	if (s->lev != NULL)
		evconnlistener_free(s->lev);    /* closes s->fd */
	else if (s->fd >= 0)
		close(s->fd);
	s->lev = NULL;
	s->fd = -1;
	if (s->retry != NULL)
		event_free(s->retry);
	s->retry = NULL;
}

struct lsn_table *lsn_table_new(struct wrk_pool *workers)
{
	struct lsn_table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->workers = workers;
	return t;
}

void lsn_table_destroy(struct lsn_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct lsn *l = t->items[i];
		for (size_t k = 0; k < l->nslots; k++)
			slot_free(&l->slots[k]);
		l->nslots = 0;
		atomic_store(&l->refs, 1);      /* the joined workers' references go with their slots */
		lsn_unref(l);
	}
	free(t->items);
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

size_t lsn_table_count_proxy(const struct lsn_table *t, const char *proxy_id)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += strcmp(t->items[i]->rec.proxy_id, proxy_id) == 0;
	return n;
}

const struct lsn *lsn_table_get(const struct lsn_table *t, size_t i)
{
	return i < t->n ? t->items[i] : NULL;
}

const struct lsn *lsn_table_find(const struct lsn_table *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->items[i]->rec.id, id) == 0)
			return t->items[i];
	return NULL;
}

const struct lsn *lsn_table_find_port(const struct lsn_table *t, const char *proxy_id, unsigned port)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct lsn *l = t->items[i];
		if (l->rec.port == port && strcmp(l->rec.proxy_id, proxy_id) == 0)
			return l;       /* every protocol so far (HTTP) is TCP-family */
	}
	return NULL;
}

int lsn_table_reserve(struct lsn_table *t)
{
	if (t->n < t->cap)
		return 0;
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct lsn **items = realloc(t->items, cap * sizeof(*items));
	if (items == NULL)
		return -1;
	t->items = items;
	t->cap = cap;
	return 0;
}

void lsn_table_add(struct lsn_table *t, struct lsn *l)
{
	t->items[t->n++] = l;
	for (size_t i = 0; i < l->nslots && l->fd >= 0; i++) {
		struct lsn_slot *s = &l->slots[i];
		s->w = t->workers->w[i];
		atomic_fetch_add(&l->refs, 1);
		if (wrk_post(s->w, slot_start, s) != 0) {
			LOG_ERR("lsn", "listener=%s worker=%zu: cannot post start", l->rec.id, i);
			atomic_fetch_sub(&l->refs, 1);
		}
	}
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
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (sa.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&sa, addr->len) != 0 || listen(fd, LSN_BACKLOG) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}
