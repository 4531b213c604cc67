/* daemon/proxy/tx.c - TLS under a proxied socket (see tx.h). */
#include "tx.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>   /* timeout_write: the bufferevent's own, applied here */
#include <event2/event.h>
#include <openssl/err.h>

#include "log.h"
#include "rd.h"
#include "stats.h"
#include "tls/tls.h"
#include "worker.h"

#define TX_RECORD 16384             /* one TLS record's plaintext at most */

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static void wev_cb(evutil_socket_t fd, short what, void *arg);

static void wev_add(struct px_tls *t)
{
	const struct timeval *tv = &t->bev->timeout_write;
	event_add(&t->wev, evutil_timerisset(tv) ? tv : NULL);
	t->wev_added = 1;
}

static void wev_del(struct px_tls *t)
{
	if (t->wev_added)
		event_del(&t->wev);
	t->wev_added = 0;
}

static int tls_attach(struct px_rd *r, struct bufferevent *bev, SSL *ssl)
{
	struct px_tls *t = calloc(1, sizeof *t);
	if (t == NULL)
		return -1;
	if (event_assign(&t->wev, r->w->base, event_get_fd(&r->ev), EV_WRITE, wev_cb, t) != 0) {
		free(t);
		return -1;
	}
	t->ssl = ssl;
	t->rd = r;
	t->bev = bev;
	r->tls = t;
	return 0;
}

int px_tls_accept(struct px_rd *r, struct bufferevent *bev, struct tls_srv *srv,
	struct px_stats *stats)
{
	SSL *ssl = tls_srv_ssl(srv, event_get_fd(&r->ev));
	if (ssl == NULL)
		return -1;
	if (tls_attach(r, bev, ssl) != 0) {
		SSL_free(ssl);
		return -1;
	}
	r->tls->srv = tls_srv_ref(srv);
	r->tls->stats = stats;
	px_rd_timeout(r, tls_srv_handshake_timeout(srv));
	return 0;
}

int px_tls_connect(struct px_rd *r, struct bufferevent *bev, SSL *ssl, unsigned timeout_ms)
{
	if (!SSL_set_fd(ssl, event_get_fd(&r->ev)) || tls_attach(r, bev, ssl) != 0) {
		SSL_free(ssl);
		return -1;
	}
	SSL_set_connect_state(ssl);
	px_rd_timeout(r, timeout_ms);
	event_active(&r->tls->wev, EV_WRITE, 1);    /* the ClientHello, once the socket connects */
	return 0;
}

void px_tls_free(struct px_tls *t)
{
	if (t == NULL)
		return;
	wev_del(t);
	if (t->hs_done && !t->failed && !t->shut) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);     /* close_notify if the socket takes it; never waits */
	}
	ERR_clear_error();
	SSL_free(t->ssl);
	tls_srv_unref(t->srv);
	free(t);
}

void px_tls_shut_wr(struct px_tls *t)
{
	if (t->hs_done && !t->failed && !t->shut) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		t->shut = 1;
	}
	shutdown(event_get_fd(&t->wev), SHUT_WR);
}

/* An SSL error that ends the connection: no close_notify after it. */
static void tls_fail(struct px_tls *t)
{
	t->failed = 1;
	ERR_clear_error();
}

/* 1: done (and counted), 0: waiting for the socket, -1: failed (reported: t may be gone). */
static int handshake(struct px_tls *t)
{
	int rc, e, err;
	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_do_handshake(t->ssl)) == 1) {
		t->hs_done = 1;
		if (t->srv != NULL) {
			px_stats_tls(t->stats, SSL_session_reused(t->ssl) ? PX_TLS_RESUMED : PX_TLS_OK);
			px_rd_timeout(t->rd, 0);    /* from here on the connection's own timeouts */
		} else {
			bufferevent_trigger_event(t->bev, BEV_EVENT_CONNECTED, 0);
		}
		return 1;
	}
	e = SSL_get_error(t->ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		wev_add(t);
		return 0;
	}
	err = e == SSL_ERROR_SYSCALL && errno != 0 ? errno : EPROTO;
	if (t->srv != NULL) {
		px_stats_tls(t->stats, PX_TLS_FAILED);
	} else if (SSL_get_verify_result(t->ssl) != X509_V_OK) {
		LOG_WARN("px", "origin certificate refused: %s",
			X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
	}
	tls_fail(t);
	px_rd_end(t->rd, BEV_EVENT_ERROR, err);
	return -1;
}

/* A record's plaintext lands here and is copied, as px_rd's first read: a small request gets a
 * small chain, not a 16 KiB one allocated and freed per request. */
static _Thread_local unsigned char tx_scratch[TX_RECORD];

/* SSL_read_ex into the input's end, up to cap bytes. Bytes read; *e the SSL error that stopped
 * it (SSL_ERROR_NONE when cap was reached). */
static size_t read_into(struct px_tls *t, size_t cap, int *e)
{
	struct evbuffer *in = t->rd->in;
	size_t total = 0;
	*e = SSL_ERROR_NONE;
	evbuffer_unfreeze(in, 0);
	while (total < cap) {
		size_t got = 0;
		ERR_clear_error();
		if (!SSL_read_ex(t->ssl, tx_scratch, min_size(cap - total, TX_RECORD), &got)) {
			*e = SSL_get_error(t->ssl, 0);
			break;
		}
		if (evbuffer_add(in, tx_scratch, got) != 0) {
			*e = SSL_ERROR_SYSCALL;
			errno = ENOMEM;
			break;
		}
		total += got;
	}
	evbuffer_freeze(in, 0);
	return total;
}

/* What an SSL error that stopped reading means: 0 wait, else the bufferevent event to report. */
static short read_end(struct px_tls *t, int e)
{
	unsigned long err = ERR_peek_error();
	switch (e) {
	case SSL_ERROR_NONE:
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		t->read_wants_write = 1;
		wev_add(t);
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return BEV_EVENT_EOF;
	}
	tls_fail(t);
	/* a peer that closes without close_notify (most clients): an EOF, as over plain TCP */
	if ((e == SSL_ERROR_SYSCALL && errno == 0) ||
	    (e == SSL_ERROR_SSL && ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		return BEV_EVENT_EOF;
	return BEV_EVENT_ERROR;
}

/* Reads what the SSL has for the input, as px_rd does for a plain socket. */
static void read_some(struct px_rd *r)
{
	struct px_tls *t = r->tls;
	size_t len = evbuffer_get_length(r->in);
	size_t room = r->high == 0 ? PX_RD_MORE : len < r->high ? r->high - len : 0;
	size_t cap = min_size(room, PX_RD_MORE), got;
	short end;
	int e;
	if (room == 0) {            /* wait for px_rd_room(): it comes back for SSL_pending() */
		r->full = 1;
		px_rd_sync(r);
		return;
	}
	errno = 0;
	got = read_into(t, cap, &e);
	end = read_end(t, e);
	if (got == 0) {
		if (end != 0)
			px_rd_end(r, end, end == BEV_EVENT_EOF ? 0 : EPROTO);
		return;
	}
	r->bytes += got;
	/* decrypted bytes wait in the SSL with no readiness to come back for them, or an end
	 * waits for the next turn: after the owner has what came before it */
	t->end = end;
	if ((end != 0 || (got == cap && SSL_has_pending(t->ssl))) && r->added)
		event_active(&r->ev, EV_READ, 1);
	r->full = px_rd_is_full(r);
	px_rd_sync(r);
	r->on_read(r->arg);
}

void px_tls_read(struct px_rd *r, short what)
{
	struct px_tls *t = r->tls;
	if (what & EV_TIMEOUT) {
		if (!t->hs_done && t->srv != NULL)
			px_stats_tls(t->stats, PX_TLS_TIMEOUT);
		px_rd_end(r, BEV_EVENT_TIMEOUT, ETIMEDOUT);
		return;
	}
	if (!r->added)              /* an activation for a reader that stopped meanwhile */
		return;
	if (t->end != 0) {          /* an end seen by the last read, reported now */
		px_rd_end(r, t->end, t->end == BEV_EVENT_EOF ? 0 : EPROTO);
		return;
	}
	if (!t->hs_done) {
		if (handshake(t) != 1)
			return;
		t->write_wants_read = 1;    /* what was queued meanwhile (a request to an origin) */
	}
	if (t->write_wants_read) {
		t->write_wants_read = 0;
		if (px_tls_flush(t) != 0)
			return;
	}
	read_some(r);
}

static int write_end(struct px_tls *t, int e)
{
	if (e == SSL_ERROR_WANT_WRITE) {
		wev_add(t);
		return 0;
	}
	if (e == SSL_ERROR_WANT_READ) {     /* a post-handshake message: the next read resumes */
		t->write_wants_read = 1;
		return 0;
	}
	tls_fail(t);
	bufferevent_trigger_event(t->bev, BEV_EVENT_WRITING | BEV_EVENT_ERROR, 0);
	return -1;
}

/* Output for an SSL that failed (a read error, or a peer's EOF without close_notify: OpenSSL
 * writes nothing after either) can never go out. The caller sets its conn broken on -1 and
 * waits for the event callback to close it: report, as a write error would, once. Nothing to
 * write is no error yet: a half-closed client waits for its answer. */
static int failed_flush(struct px_tls *t, struct evbuffer *out)
{
	if (evbuffer_get_length(out) == 0)
		return 0;
	if (!t->told) {
		t->told = 1;
		bufferevent_trigger_event(t->bev, BEV_EVENT_WRITING | BEV_EVENT_ERROR, 0);
	}
	return -1;
}

int px_tls_flush(struct px_tls *t)
{
	struct evbuffer *out = bufferevent_get_output(t->bev);
	size_t len, total = 0, low = 0;
	int e = SSL_ERROR_NONE;
	if (t->failed)
		return failed_flush(t, out);
	if (!t->hs_done || t->wev_added || t->write_wants_read)
		return 0;               /* after the handshake, or when the socket has room again */
	evbuffer_unfreeze(out, 1);
	while ((len = evbuffer_get_length(out)) > 0) {
		size_t n = min_size(len, TX_RECORD), w = 0;
		unsigned char *p = evbuffer_pullup(out, (ev_ssize_t)n);    /* full records */
		ERR_clear_error();
		if (p == NULL || !SSL_write_ex(t->ssl, p, n, &w)) {
			e = p == NULL ? SSL_ERROR_SSL : SSL_get_error(t->ssl, 0);
			break;
		}
		evbuffer_drain(out, w);
		total += w;
	}
	evbuffer_freeze(out, 1);
	if (e != SSL_ERROR_NONE && write_end(t, e) != 0)
		return -1;
	bufferevent_getwatermark(t->bev, EV_WRITE, &low, NULL);
	if (total > 0 && low != 0)
		bufferevent_trigger(t->bev, EV_WRITE, 0);
	return 0;
}

static void wev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct px_tls *t = arg;
	struct evbuffer *out = bufferevent_get_output(t->bev);
	size_t before = evbuffer_get_length(out);
	(void)fd;
	t->wev_added = 0;
	if (what & EV_TIMEOUT) {
		bufferevent_trigger_event(t->bev, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT, 0);
		return;
	}
	if (t->read_wants_write) {
		t->read_wants_write = 0;
		if (t->rd->added)
			event_active(&t->rd->ev, EV_READ, 1);
	}
	if (!t->hs_done) {
		if (handshake(t) != 1)
			return;             /* waiting, or failed and reported (t may be gone) */
		if (t->rd->added)
			event_active(&t->rd->ev, EV_READ, 1);  /* what came with it, and the rest */
	}
	if (px_tls_flush(t) != 0)
		return;
	if (before > 0 && evbuffer_get_length(out) < before)
		bufferevent_trigger(t->bev, EV_WRITE, 0);  /* at or below low: the write callback */
}
