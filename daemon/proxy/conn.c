/* daemon/proxy/conn.c - the worker's client connections: accept (within the connection limits),
 *   timers, closing with a status reply and a lingering close, freeing. The request side is
 *   request.c, the response side origin.c. */
#include "conn.h"
#include "tls/tls.h"
#include "tx.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <event2/buffer.h>

#include "alog.h"
#include "close.h"
#include "log.h"
#include "msg.h"
#include "origin.h"
#include "rd.h"
#include "request.h"
#include "route.h"
#include "stats.h"
#include "tunnel.h"
#include "worker.h"

/* How often a worker may warn about connections it refuses. */
#define PX_REFUSED_LOG_MS 10000

const struct timeval *px_ms(struct timeval *tv, unsigned ms)
{
	if (ms == 0)
		return NULL;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

const struct timeval *px_timeout(struct px_worker *w, struct timeval *tv, unsigned ms)
{
	const struct timeval *common;
	if (px_ms(tv, ms) == NULL)
		return NULL;
	for (size_t i = 0; i < w->ntimeouts; i++)
		if (w->timeouts[i].ms == ms)
			return w->timeouts[i].tv;
	if ((common = event_base_init_common_timeout(w->base, tv)) == NULL)
		return tv;
	if (w->ntimeouts < PX_TIMEOUTS) {
		w->timeouts[w->ntimeouts].ms = ms;
		w->timeouts[w->ntimeouts++].tv = common;
	}
	return common;
}

void px_write_timeout(struct px_worker *w, struct bufferevent *bev, struct px_tmo *t,
	unsigned wr_ms)
{
	struct timeval wr;
	if (t->set && t->wr == wr_ms)
		return;
	t->set = 1;
	t->wr = wr_ms;
	bufferevent_set_timeouts(bev, NULL, px_timeout(w, &wr, wr_ms));
}

int64_t px_now_us(struct px_worker *w)
{
	struct timeval tv;
	event_base_gettimeofday_cached(w->base, &tv);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int64_t px_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void free_dead(struct px_conn *c)
{
	struct px_origin *o;
	while ((o = c->dead) != NULL) {
		c->dead = o->next_dead;
		px_origin_free(o);
	}
}

/* Bytes move to the stats when an exchange ends and when the conn goes (what a lingering close
 * read): per exchange, not per read, to keep atomics off the relay path. */
static void count_bytes(struct px_conn *c)
{
	px_stats_bytes(c->route->stats, c->rd.bytes - c->received_counted,
		c->sent - c->sent_counted);
	c->received_counted = c->rd.bytes;
	c->sent_counted = c->sent;
}

void px_conn_free(struct px_conn *c)
{
	TAILQ_REMOVE(&c->w->conns, c, link);
	c->w->nconns--;
	atomic_fetch_sub_explicit(&c->route->stats->conns, 1, memory_order_relaxed);
	count_bytes(c);
	px_origin_retire(c);
	free_dead(c);
	px_l7_unref(c->l7);         /* after its origins: they served its rule's servers */
	event_del(&c->timer);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->sent_cb);
	px_rd_free(&c->rd);
	bufferevent_free(c->bev);
	free(c->client_dn);
	px_msg_free(&c->req);
	px_route_unref(c->route);
	free(c);
}

void px_conn_retire(struct px_conn *c)
{
	c->retiring = 1;
	c->keep = 0;
	if (c->state == PX_IDLE)    /* between requests: nothing in flight to finish */
		px_conn_close(c, PX_CLOSE_RETIRED);
}

static void linger_read(void *arg)
{
	struct px_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	px_conn_enter(c);
	c->linger_bytes += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (c->linger_bytes > PX_LINGER_MAX)
		c->linger_done = 1;
	px_conn_leave(c);
}

static void linger_end(short what, void *arg)
{
	struct px_conn *c = arg;
	(void)what;
	px_conn_enter(c);
	c->linger_done = 1;         /* EOF, error or timeout: the client has stopped sending */
	px_conn_leave(c);
}

static void linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	linger_end(what, arg);
}

/* A close while the client may still be sending would reset the connection and could destroy
 * the reply in flight: send FIN, then read and drop for a moment. 1 = lingering. */
static int linger(struct px_conn *c)
{
	struct timeval tv;
	if (c->lingering)
		return 1;
	if (!c->linger_wanted || c->broken || c->eof || c->route->http.linger_timeout_ms == 0)
		return 0;
	c->lingering = 1;
	px_shut_wr(c->bev, &c->rd);
	evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(
		bufferevent_get_input(c->bev)));
	bufferevent_setcb(c->bev, NULL, NULL, linger_event_cb, c);
	px_write_timeout(c->w, c->bev, &c->tmo, 0);
	px_rd_setcb(&c->rd, linger_read, linger_end, c);
	px_rd_timeout(&c->rd, 0);
	c->rd.high = 0;
	px_rd_enable(&c->rd);
	evtimer_add(&c->timer, px_timeout(c->w, &tv, c->route->http.linger_timeout_ms));
	return 1;
}

/* Writing at once. libevent 2.1 never writes when bytes are added: it adds write interest
 * (epoll_ctl), writes on the next loop turn and removes the interest again (epoll_ctl): two
 * system calls and a loop turn per response and per request. Our bufferevents keep EV_WRITE
 * disabled while their output is empty; whatever is queued is written here, at the end of the
 * outermost callback (px_conn_leave()) or where a response completes, and only what the socket
 * does not take is left to libevent (EV_WRITE enabled: it writes, applies the write timeout,
 * and the write callback, through px_write_idle(), disables it again once the output is empty).
 * As libevent's own write does: the output's start is thawed for the write only, and an error
 * goes to the event callback (deferred) with writing disabled. The write callback runs
 * (deferred) once the output is at or below its low watermark - only when one is set: a
 * throttled peer waits for it (px_throttle()). At the default, 0, it would only learn that the
 * output is empty, which every caller of px_flush() handles itself (px_conn_leave() frees a
 * closing conn, px_conn_response_done() starts the next request). Not for a connecting
 * bufferevent. 0, or -1 after a write error. */
int px_flush(struct bufferevent *bev, struct px_rd *r)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t low = 0;
	int n, err;
	if (r->tls != NULL)         /* never clear text on a TLS socket */
		return px_tls_flush(r->tls);
	if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(bev) & EV_WRITE))
		return 0;       /* nothing to write, or libevent is writing */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write_atmost(out, bufferevent_getfd(bev),
		bufferevent_get_max_single_write(bev));
	err = errno;
	evbuffer_freeze(out, 1);
	if (n <= 0 && !(n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))) {
		bufferevent_trigger_event(bev, BEV_EVENT_WRITING |
			(n < 0 ? BEV_EVENT_ERROR : BEV_EVENT_EOF), 0);
		return -1;
	}
	if (evbuffer_get_length(out) != 0)
		bufferevent_enable(bev, EV_WRITE);      /* the rest when the socket has room */
	bufferevent_getwatermark(bev, EV_WRITE, &low, NULL);
	if (n > 0 && low != 0)
		bufferevent_trigger(bev, EV_WRITE, 0);  /* runs it if the output is at or below low */
	return 0;
}

void px_shut_wr(struct bufferevent *bev, struct px_rd *r)
{
	if (r->tls != NULL)
		px_tls_shut_wr(r->tls);
	else
		shutdown(bufferevent_getfd(bev), SHUT_WR);
}

void px_write_idle(struct bufferevent *bev)
{
	/* libevent has already removed the write interest of an empty output: no system call */
	if ((bufferevent_get_enabled(bev) & EV_WRITE) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

void px_conn_enter(struct px_conn *c)
{
	c->in_cb++;
}

void px_conn_leave(struct px_conn *c)
{
	if (--c->in_cb != 0)
		return;
	free_dead(c);
	px_rd_room(&c->rd);         /* what this callback consumed reopens a full reader */
	if (c->org != NULL)
		px_rd_room(&c->org->rd);
	if (!c->broken && !c->lingering && px_flush(c->bev, &c->rd) != 0)
		c->broken = 1;          /* its event callback (deferred) closes c */
	if (c->org != NULL && (c->org->connected || c->org->reused))
		(void)px_flush(c->org->bev, &c->org->rd);    /* an error goes to origin_event_cb() */
	if (!c->closing ||
	    !(c->broken || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0))
		return;
	if (c->linger_done || !linger(c))
		px_conn_free(c);
}

void px_conn_close(struct px_conn *c, enum px_close reason)
{
	int status;
	if (c->rd.tls != NULL && !c->rd.tls->hs_done)
		c->broken = 1;          /* no TLS yet: nothing can be said, only closed */
	status = c->resp_started || c->broken ? 0 : px_close_status(reason);
	if (c->closing)
		return;
	c->closing = 1;
	c->reason = reason;
	px_stats_origin_error(c->route->stats, reason);
	c->linger_wanted = c->state == PX_HEAD || c->state == PX_BODY ||
		evbuffer_get_length(bufferevent_get_input(c->bev)) != 0;
	if (status != 0 && px_close_reply(reason, bufferevent_get_output(c->bev)) != 0)
		status = 0;
	if (c->status == 0)
		c->status = status;
	if (c->state != PX_IDLE)
		px_exchange_done(c);
	px_rd_disable(&c->rd);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);  /* the write callback fires once drained */
	evtimer_del(&c->timer);
	px_origin_retire(c);
	LOG_DEBUG("px", "conn=%" PRIu64 " listener=%s client=%s requests=%" PRIu64
		" close=\"%s\" status=%d", c->id, c->route->id, c->ip, c->nreq,
		px_close_text(reason), status);
}

int px_throttle(struct px_rd *from, struct bufferevent *to)
{
	if (evbuffer_get_length(bufferevent_get_output(to)) < PX_MAX_PENDING)
		return 0;
	px_rd_disable(from);
	bufferevent_setwatermark(to, EV_WRITE, PX_MAX_PENDING / 2, 0);
	return 1;
}

void px_conn_output_drained(struct px_conn *c)
{
	if (!c->origin_throttled)
		return;
	c->origin_throttled = 0;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (c->org != NULL && !c->org->eof)
		px_rd_enable(&c->org->rd);
}

void px_conn_input_resume(struct px_conn *c)
{
	if (!c->client_throttled)
		return;
	c->client_throttled = 0;
	if (c->org != NULL)
		bufferevent_setwatermark(c->org->bev, EV_WRITE, 0, 0);
	if (!c->closing && !c->eof)
		px_rd_enable(&c->rd);
}

/* While a request body streams in, a silent client is timed out like a slow head (inactivity);
 * otherwise only the send timeout runs: clients are silent while a response streams. Reads
 * stopped by back-pressure do not count (libevent times only enabled events). */
void px_client_timeouts(struct px_conn *c, int reading_body)
{
	const struct cfg_http *h = &c->route->http;
	px_rd_timeout(&c->rd, reading_body ? h->client_header_timeout_ms : 0);
	px_write_timeout(c->w, c->bev, &c->tmo, h->client_send_timeout_ms);
}

void px_conn_timer(struct px_conn *c, unsigned ms)
{
	struct timeval tv;
	const struct timeval *t = px_timeout(c->w, &tv, ms);
	if (t != NULL)
		evtimer_add(&c->timer, t);
	else
		evtimer_del(&c->timer);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct px_conn *c = arg;
	(void)fd;
	(void)what;
	px_conn_enter(c);
	if (c->lingering)
		c->linger_done = 1;
	else if (c->state == PX_TUNNEL)
		px_tunnel_timer(c);
	else
		px_conn_close(c, c->state == PX_HEAD ? PX_CLOSE_HEADER_TIMEOUT
			: c->state == PX_BODY ? PX_CLOSE_BODY_TIMEOUT   /* a discard's (request.c) */
			: PX_CLOSE_IDLE_TIMEOUT);
	px_conn_leave(c);
}

void px_conn_response_head(struct px_conn *c, int status)
{
	c->resp_started = 1;
	c->status = status;
	c->t_head = px_mono_us();
}

void px_exchange_done(struct px_conn *c)
{
	int64_t end;
	if (c->logged)
		return;
	c->logged = 1;
	end = px_mono_us();
	if (c->state != PX_TUNNEL)  /* a tunnel's 101 was counted when it began */
		px_stats_exchange(c->route->stats, c->status, end - c->t_begin);
	count_bytes(c);
	px_access_log(c, end);
}

void px_conn_response_done(struct px_conn *c)
{
	if (c->state != PX_WAIT) {  /* answered early: the rest of the request has nowhere to go */
		px_conn_close(c, PX_CLOSE_DONE);
		return;
	}
	px_exchange_done(c);
	c->state = PX_FLUSH;
	if (!c->broken && px_flush(c->bev, &c->rd) != 0)
		c->broken = 1;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		px_next_request(c);
}

static void client_read(void *arg)
{
	struct px_conn *c = arg;
	px_conn_enter(c);
	px_request_pump(c, 0);
	px_conn_leave(c);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct px_conn *c = arg;
	px_conn_enter(c);
	px_write_idle(bev);
	px_conn_output_drained(c);
	if (c->state == PX_FLUSH && !c->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		px_next_request(c);
	px_conn_leave(c);       /* frees a closing conn once this drained its output */
}

/* A half-closed client still gets the answers to what it sent before. */
static void client_eof(struct px_conn *c)
{
	c->eof = 1;
	px_request_pump(c, 0);
	if (c->state != PX_WAIT && c->state != PX_FLUSH)
		px_conn_close(c, PX_CLOSE_CLIENT_CLOSED);
}

/* From the reader (BEV_EVENT_READING) or the bufferevent (writing). */
static void client_event(short what, void *arg)
{
	struct px_conn *c = arg;
	px_conn_enter(c);
	if (c->rd.tls != NULL && !c->rd.tls->hs_done) {
		px_conn_close(c, PX_CLOSE_TLS_HANDSHAKE);  /* counted by the transport */
	} else if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_WRITING |
	    BEV_EVENT_READING)) == (BEV_EVENT_EOF | BEV_EVENT_READING)) {
		/* Only a clean end of what the client sends is a half-close; an EOF that comes with
		 * an error or from the write side (a reset) means the client can no longer receive,
		 * and libevent has stopped writing: waiting for the response to flush would wait
		 * for ever. */
		client_eof(c);
	} else if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		px_conn_close(c, PX_CLOSE_BODY_TIMEOUT);
	} else {
		c->broken = 1;
		px_conn_close(c, what & BEV_EVENT_TIMEOUT ? PX_CLOSE_SEND_TIMEOUT
			: PX_CLOSE_CLIENT_ERROR);
	}
	px_conn_leave(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	client_event(what, arg);
}

/* Every byte queued for the client, for the access log. */
static void count_sent(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	struct px_conn *c = arg;
	(void)b;
	c->sent += info->n_added;
}

/* Dotted quad into buf (16 bytes at least): glibc's inet_ntop() formats IPv4 with sprintf(), a
 * thousand instructions per accepted connection. */
static void ipv4_text(const struct in_addr *a, char *buf)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;
	char *p = buf;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

static void peer_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size,
	unsigned *port)
{
	const void *a = NULL;
	*port = 0;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in) &&
	    size >= INET_ADDRSTRLEN) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		*port = ntohs(sin->sin_port);
		ipv4_text(&sin->sin_addr, buf);
		return;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		*port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	}
	if (a == NULL || inet_ntop(sa->sa_family, a, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "unknown");
}

/* Everything px_accept() needs from the outside world. Owns fd: on failure it is closed and
 * nothing is left behind but c itself, which the caller frees. */
static int conn_setup(struct px_conn *c, struct px_worker *w, evutil_socket_t fd,
	struct tls_srv *tls, struct px_stats *stats)
{
	evtimer_assign(&c->timer, w->base, timer_cb, c);
	if ((c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS)) == NULL) {
		evutil_closesocket(fd);
		goto fail;
	}
	/* the input's bound also bounds pipelined requests */
	px_rd_init(&c->rd, bufferevent_get_input(c->bev), PX_MAX_PENDING);
	c->sent_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), count_sent, c);
	if (c->sent_cb == NULL || px_rd_start(&c->rd, w, fd) != 0 ||
	    (tls != NULL && px_tls_accept(&c->rd, c->bev, tls, stats) != 0))
		goto fail;              /* the bufferevent closes fd (and its callbacks go with it) */
	bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
	px_rd_setcb(&c->rd, client_read, client_event, c);
	bufferevent_set_max_single_write(c->bev, PX_MAX_WRITE);
	bufferevent_disable(c->bev, EV_WRITE);     /* enabled only while px_flush() has a rest */
	px_rd_enable(&c->rd);
	return 0;
fail:
	px_rd_free(&c->rd);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	return -1;
}

/* Over a connection limit: a short 503 if the socket takes it at once, then close. */
static int refuse_over_limit(struct px_worker *w, evutil_socket_t fd, struct px_route *r)
{
	static const char reply[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
		"Content-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n";
	const struct cfg_http *h = &r->http;
	int64_t now;
	if (!(h->max_connections_per_worker != 0 && w->nconns >= h->max_connections_per_worker) &&
	    !(h->max_connections_per_listener != 0 && atomic_load_explicit(&r->stats->conns,
	    memory_order_relaxed) >= h->max_connections_per_listener))
		return 0;
	if (r->tls == NULL)         /* never clear text on a TLS socket: a plain close */
		(void)!send(fd, reply, sizeof reply - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	evutil_closesocket(fd);
	if ((now = px_now_ms()) - w->refused_logged >= PX_REFUSED_LOG_MS) {
		w->refused_logged = now;
		LOG_WARN("px", "listener=%s: connection limit reached (worker %zu, listener %u): "
			"refusing connections", r->id, w->nconns, atomic_load(&r->stats->conns));
	}
	return 1;
}

void px_accept(struct px_worker *w, evutil_socket_t fd, const struct sockaddr *peer,
	socklen_t peerlen, struct px_route *route)
{
	struct px_conn *c;
	struct tls_srv *tls = NULL;
	if (refuse_over_limit(w, fd, route))
		return;
	/* HTTPS: never plain text, also not while the listener has no TLS yet */
	if (route->tls != NULL && (tls = tls_cell_get(route->tls)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL)
		evutil_closesocket(fd);
	if (c == NULL || conn_setup(c, w, fd, tls, route->stats) != 0) {
		LOG_WARN("px", "listener=%s: accept failed: out of memory", route->id);
		tls_srv_unref(tls);
		free(c);
		return;
	}
	tls_srv_unref(tls);             /* the transport holds its own */
	c->w = w;
	c->route = px_route_ref(route);
	atomic_fetch_add_explicit(&route->stats->conns, 1, memory_order_relaxed);
	px_client_timeouts(c, 0);
	if (c->rd.tls != NULL)          /* the handshake's bound, until it is done */
		px_rd_timeout(&c->rd, tls_srv_handshake_timeout(c->rd.tls->srv));
	c->id = ++w->next_id;
	peer_text(peer, peerlen, c->ip, sizeof c->ip, &c->port);
	px_msg_init(&c->req, HTTP_REQUEST, &px_request_settings, route->http.max_header_size, c);
	c->req.head.max_lines = route->http.max_headers;
	c->req.head.max_line = route->http.max_request_line;
	c->state = PX_IDLE;
	px_conn_timer(c, route->http.client_header_timeout_ms);   /* the first request is due now */
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->nconns++;
	LOG_DEBUG("px", "conn=%" PRIu64 " listener=%s client=%s: accepted", c->id, route->id, c->ip);
}

