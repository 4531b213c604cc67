/* daemon/proxy/rd.c - reading a proxied socket into its bufferevent's input (see rd.h). */
#include "rd.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "conn.h"
#include "tx.h"
#include "worker.h"

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ev is pending exactly while the owner wants to read and the input has room. */
void px_rd_sync(struct px_rd *r)
{
	int want = r->enabled && !r->full && r->started;
	struct timeval tv;
	if (want && !r->added) {
		event_add(&r->ev, px_timeout(r->w, &tv, r->timeout_ms));
		r->added = 1;
		if (r->tls != NULL && SSL_has_pending(r->tls->ssl))
			event_active(&r->ev, EV_READ, 1);   /* decrypted bytes wait: no readiness */
	} else if (!want && r->added) {
		event_del(&r->ev);
		r->added = 0;
	}
}

int px_rd_is_full(const struct px_rd *r)
{
	return r->high != 0 && evbuffer_get_length(r->in) >= r->high;
}

/* The first read of a readiness lands here and is copied: the input then allocates a chain
 * for what came (a small request fits the allocator's fast path), not for what might have (an
 * 8 KiB chain, allocated and freed for every request). */
static _Thread_local char rd_scratch[PX_RD_FIRST];

/* The input's end is thawed for our own writes only, as libevent does for its reads. Bytes read
 * (size at most PX_RD_FIRST), 0 at EOF, -1 with errno. */
static ssize_t rd_first(struct px_rd *r, evutil_socket_t fd, size_t size)
{
	ssize_t got = recv(fd, rd_scratch, size, 0);
	int err = errno, rc;
	if (got <= 0)
		return got;
	evbuffer_unfreeze(r->in, 0);
	rc = evbuffer_add(r->in, rd_scratch, (size_t)got);
	evbuffer_freeze(r->in, 0);
	if (rc != 0) {
		errno = ENOMEM;
		return -1;
	}
	r->bytes += (uint64_t)got;
	errno = err;
	return got;
}

/* One readv() of up to size bytes straight into space reserved at the input's end (the last
 * chain's rest and a new one). Bytes read, 0 at EOF, -1 with errno. */
static ssize_t rd_more(struct px_rd *r, evutil_socket_t fd, size_t size)
{
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	ssize_t got;
	size_t left;
	int n, err;
	evbuffer_unfreeze(r->in, 0);
	if ((n = evbuffer_reserve_space(r->in, (ev_ssize_t)size, v, 2)) <= 0) {
		evbuffer_freeze(r->in, 0);
		errno = ENOMEM;
		return -1;
	}
	left = size;
	for (int i = 0; i < n; i++) {
		v[i].iov_len = min_size(v[i].iov_len, left);
		left -= v[i].iov_len;
		iov[i] = (struct iovec){ v[i].iov_base, v[i].iov_len };
	}
	got = readv(fd, iov, n);
	err = errno;
	left = got > 0 ? (size_t)got : 0;
	for (int i = 0; i < n; i++) {
		v[i].iov_len = min_size(v[i].iov_len, left);
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(r->in, v, n);
	evbuffer_freeze(r->in, 0);
	if (got > 0)
		r->bytes += (uint64_t)got;
	errno = err;
	return got;
}

/* Reading ends on EOF, an error or a timeout: reported once, reads disabled first (the callback
 * may free r's owner). */
void px_rd_end(struct px_rd *r, short what, int err)
{
	r->enabled = 0;
	px_rd_sync(r);
	errno = err;
	r->on_event(BEV_EVENT_READING | what, r->arg);
}

static void rd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct px_rd *r = arg;
	size_t len = evbuffer_get_length(r->in);
	size_t room = r->high == 0 ? PX_RD_MORE : len < r->high ? r->high - len : 0;
	size_t first = min_size(room, PX_RD_FIRST);
	ssize_t got;
	if (r->on_read == NULL) {   /* between owners (a pooled connection being taken) */
		px_rd_disable(r);
		return;
	}
	if (r->tls != NULL) {       /* the transport's second implementation */
		px_tls_read(r, what);
		return;
	}
	if (what & EV_TIMEOUT) {
		px_rd_end(r, BEV_EVENT_TIMEOUT, ETIMEDOUT);
		return;
	}
	if (room == 0) {            /* the owner has not consumed what it has: wait for px_rd_room() */
		r->full = 1;
		px_rd_sync(r);
		return;
	}
	got = rd_first(r, fd, first);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (got <= 0) {
		px_rd_end(r, got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR, errno);
		return;
	}
	/* More is likely waiting. An EOF or error on this read stays with the socket (EOF is
	 * sticky, and a reset reads as EOF once reported): the next readiness reports it after
	 * the owner has what came before. */
	if ((size_t)got == first && room > first)
		(void)rd_more(r, fd, min_size(room - first, PX_RD_MORE));
	r->full = px_rd_is_full(r);
	r->on_read(r->arg);
}

void px_rd_init(struct px_rd *r, struct evbuffer *in, size_t high)
{
	*r = (struct px_rd){ .in = in, .high = high };
}

int px_rd_start(struct px_rd *r, struct px_worker *w, evutil_socket_t fd)
{
	if (event_assign(&r->ev, w->base, fd, EV_READ | EV_PERSIST, rd_cb, r) != 0)
		return -1;
	r->w = w;
	r->started = 1;
	px_rd_sync(r);
	return 0;
}

void px_rd_free(struct px_rd *r)
{
	if (r->started)
		event_del(&r->ev);  /* safe inside its own callback, as event_free() is */
	px_tls_free(r->tls);
	r->tls = NULL;
	r->started = r->added = 0;
}

void px_rd_setcb(struct px_rd *r, px_rd_read_fn *on_read, px_rd_event_fn *on_event, void *arg)
{
	r->on_read = on_read;
	r->on_event = on_event;
	r->arg = arg;
}

void px_rd_enable(struct px_rd *r)
{
	r->enabled = 1;
	r->full = px_rd_is_full(r);
	px_rd_sync(r);
}

void px_rd_disable(struct px_rd *r)
{
	r->enabled = 0;
	px_rd_sync(r);
}

void px_rd_timeout(struct px_rd *r, unsigned ms)
{
	struct timeval tv;
	if (r->timeout_ms == ms)
		return;
	r->timeout_ms = ms;
	if (!r->added)
		return;             /* rd_sync() applies it */
	if (ms != 0)
		event_add(&r->ev, px_timeout(r->w, &tv, ms));
	else
		event_remove_timer(&r->ev);
}

void px_rd_room(struct px_rd *r)
{
	if (!r->full && r->high == 0)
		return;
	r->full = px_rd_is_full(r);
	px_rd_sync(r);
}
