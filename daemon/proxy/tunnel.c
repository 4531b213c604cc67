/* daemon/proxy/tunnel.c - a client connection after a 101 to its WebSocket upgrade: the bytes of
 *   both directions move between the client and its origin connection as they come, with
 *   back-pressure each way (px_throttle()), each end's EOF passed on as a half-close, and an idle
 *   timeout of its own. Nothing is parsed: the frames are the two ends' business. */
#include "tunnel.h"

#include <inttypes.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "close.h"
#include "conn.h"
#include "log.h"
#include "origin.h"
#include "rd.h"
#include "route.h"
#include "stats.h"

static void client_read(void *arg);
static void client_event(short what, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);
static void origin_read(void *arg);
static void origin_event(short what, void *arg);
static void origin_write_cb(struct bufferevent *bev, void *arg);
static void origin_event_cb(struct bufferevent *bev, short what, void *arg);

/* Everything from's reader holds goes to to's output; reads from from stop while to's output is
 * full. 1 = stopped, -1 = no memory. */
static int relay(struct px_conn *c, struct px_rd *from, struct bufferevent *to)
{
	if (evbuffer_get_length(from->in) == 0)
		return 0;
	c->tunnel_seen = px_now_ms();
	if (evbuffer_add_buffer(bufferevent_get_output(to), from->in) != 0)
		return -1;
	return px_throttle(from, to);
}

static void client_to_origin(struct px_conn *c)
{
	int rc = relay(c, &c->rd, c->org->bev);
	if (rc < 0)
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
	else if (rc > 0)
		c->client_throttled = 1;
}

static void origin_to_client(struct px_conn *c)
{
	int rc = relay(c, &c->org->rd, c->bev);
	if (rc < 0)
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
	else if (rc > 0)
		c->origin_throttled = 1;
}

/* Writes bev's output as far as the socket takes it: 1 when nothing is left. */
static int written(struct bufferevent *bev, struct px_rd *r)
{
	return px_flush(bev, r) == 0 && evbuffer_get_length(bufferevent_get_output(bev)) == 0;
}

/* An end that has stopped sending is told through the other's FIN, once everything it sent
 * before is written (a close would reset what the other has not read yet); the tunnel is over
 * when both ends have stopped. A write error meanwhile reaches the event callbacks. */
static void half_close(struct px_conn *c)
{
	struct px_origin *o = c->org;
	if (c->closing || o == NULL)
		return;
	if (o->eof && !c->shut && written(c->bev, &c->rd)) {
		c->shut = 1;
		px_shut_wr(c->bev, &c->rd);
	}
	if (c->eof && !o->shut && written(o->bev, &o->rd)) {
		o->shut = 1;
		px_shut_wr(o->bev, &o->rd);
	}
	if (c->shut && o->shut)
		px_conn_close(c, PX_CLOSE_DONE);
}

void px_tunnel_start(struct px_conn *c)
{
	struct px_origin *o = c->org;
	unsigned idle = c->route->http.tunnel_idle_timeout_ms;
	c->state = PX_TUNNEL;
	c->keep = 0;
	c->tunnel_seen = px_now_ms();
	px_stats_exchange(c->route->stats, 101, c->t_head - c->t_begin);
	px_stats_upgraded(c->route->stats);
	LOG_DEBUG("px", "conn=%" PRIu64 " req=%" PRIu64 " listener=%s client=%s origin=%s: "
		"websocket tunnel", c->id, c->nreq, c->route->id, c->ip, o->addr->text);
	bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
	px_rd_setcb(&c->rd, client_read, client_event, c);
	bufferevent_setcb(o->bev, NULL, origin_write_cb, origin_event_cb, o);
	px_rd_setcb(&o->rd, origin_read, origin_event, o);
	/* silence is timed by c->timer for both directions; a peer that takes nothing, by the
	 * write timeouts */
	px_rd_timeout(&c->rd, 0);
	px_rd_timeout(&o->rd, 0);
	px_write_timeout(c->w, c->bev, &c->tmo, idle);
	px_write_timeout(o->w, o->bev, &o->tmo, idle);
	px_conn_timer(c, idle);
	/* what each side sent after its head: frames a client pipelined behind its request, the
	 * origin's first frames behind its 101 */
	client_to_origin(c);
	if (!c->closing)
		origin_to_client(c);
	half_close(c);              /* a client that half-closed before the 101 */
}

void px_tunnel_timer(struct px_conn *c)
{
	unsigned idle = c->route->http.tunnel_idle_timeout_ms;
	int64_t quiet = px_now_ms() - c->tunnel_seen;
	struct timeval tv;
	if (quiet >= (int64_t)idle) {
		px_conn_close(c, PX_CLOSE_TUNNEL_IDLE);
		return;
	}
	/* Bytes moved meanwhile: wait for the rest. Rearming at every read would cost a timer
	 * operation per read; this costs one per timeout. */
	evtimer_add(&c->timer, px_ms(&tv, (unsigned)((int64_t)idle - quiet)));
}

void px_tunnel_origin_eof(struct px_conn *c)
{
	c->org->eof = 1;
	half_close(c);
}

static void client_read(void *arg)
{
	struct px_conn *c = arg;
	px_conn_enter(c);
	if (c->org != NULL)
		client_to_origin(c);
	px_conn_leave(c);
}

static void origin_read(void *arg)
{
	struct px_origin *o = arg;
	struct px_conn *c = o->c;
	px_conn_enter(c);
	origin_to_client(c);
	px_conn_leave(c);
}

/* Output fell to the low mark of a throttled peer, or was written out: the other side may read
 * again, and an end waiting for the write side to drain may be passed on. */
static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct px_conn *c = arg;
	px_conn_enter(c);
	px_write_idle(bev);
	px_conn_output_drained(c);
	half_close(c);
	px_conn_leave(c);           /* frees a closing conn once this drained its output */
}

static void origin_write_cb(struct bufferevent *bev, void *arg)
{
	struct px_origin *o = arg;
	struct px_conn *c = o->c;
	px_conn_enter(c);
	px_write_idle(bev);
	px_conn_input_resume(c);
	half_close(c);
	px_conn_leave(c);
}

/* A clean EOF from the reader is the end's half-close; anything else ends the tunnel. A write
 * timeout means the peer took nothing for tunnel_idle_timeout. */
static int clean_eof(short what)
{
	return (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_WRITING | BEV_EVENT_READING)) ==
		(BEV_EVENT_EOF | BEV_EVENT_READING);
}

static void client_event(short what, void *arg)
{
	struct px_conn *c = arg;
	px_conn_enter(c);
	if (clean_eof(what) && !c->closing) {
		c->eof = 1;
		half_close(c);
	} else {
		c->broken = 1;          /* libevent has stopped writing to it */
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

static void origin_event(short what, void *arg)
{
	struct px_origin *o = arg;
	struct px_conn *c = o->c;
	px_conn_enter(c);
	if (clean_eof(what)) {
		px_tunnel_origin_eof(c);
	} else {
		LOG_DEBUG("px", "conn=%" PRIu64 " origin=%s: tunnel %s", c->id, o->addr->text,
			what & BEV_EVENT_TIMEOUT ? "write timeout" : "error");
		px_conn_close(c, what & BEV_EVENT_TIMEOUT ? PX_CLOSE_ORIGIN_TIMEOUT
			: PX_CLOSE_ORIGIN_CLOSED);
	}
	px_conn_leave(c);
}

static void origin_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	origin_event(what, arg);
}
