/* daemon/upstream/connect.c - a non-blocking connect on a bufferevent, its write timeout as the
 *   connect timeout (libevent runs it only while the connect is pending), handed over once done. */
#include "connect.h"

#include <errno.h>
#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

struct ups_dial {
	struct bufferevent *bev;
	ups_dial_cb cb;
	void *arg;
};

static void dial_event(struct bufferevent *bev, short what, void *arg)
{
	struct ups_dial *d = arg;
	int err = 0;
	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		bufferevent_set_timeouts(bev, NULL, NULL);
		/* as connect.h says: a new socket bufferevent has writing enabled, not reading */
		if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
			what = BEV_EVENT_ERROR;
	}
	if (!(what & BEV_EVENT_CONNECTED) || what & BEV_EVENT_ERROR) {
		err = what & BEV_EVENT_TIMEOUT ? ETIMEDOUT : EVUTIL_SOCKET_ERROR();
		if (err == 0)
			err = ECONNABORTED;     /* an error without one: the peer closed at once */
		bufferevent_free(bev);
		bev = NULL;
	}
	d->cb(bev, err, d->arg);
	free(d);
}

struct ups_dial *ups_connect(struct event_base *base, struct ups_server *s,
	unsigned timeout_ms, ups_dial_cb cb, void *arg)
{
	const struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct sockaddr_storage sa;
	socklen_t len;
	struct ups_dial *d;
	if (ups_server_sockaddr(s, &sa, &len) != 0)
		return NULL;            /* a name without an address: EHOSTUNREACH */
	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->cb = cb;
	d->arg = arg;
	d->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (d->bev == NULL) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	bufferevent_setcb(d->bev, NULL, NULL, dial_event, d);
	if (timeout_ms != 0)        /* before connecting: the write timeout bounds the connect */
		bufferevent_set_timeouts(d->bev, NULL, &tv);
	if (bufferevent_socket_connect(d->bev, (const struct sockaddr *)&sa, (int)len) != 0) {
		int e = EVUTIL_SOCKET_ERROR();
		bufferevent_free(d->bev);
		free(d);
		errno = e != 0 ? e : EINVAL;
		return NULL;
	}
	return d;
}

void ups_dial_cancel(struct ups_dial *d)
{
	if (d == NULL)
		return;
	bufferevent_free(d->bev);   /* no callback after this: it goes with its bufferevent */
	free(d);
}
