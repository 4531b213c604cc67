/* daemon/etcd/etcd_int.h - the etcd client's insides, shared by its files.
 * Ownership: struct etcd owns its loop, its thread, the endpoint list, the task queue, and every
 *   exchange, watch and keepalive on it. Threads: all fields but the queue's (mu) are the client
 *   thread's.
 */
#ifndef GAAPD_ETCD_INT_H
#define GAAPD_ETCD_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <llhttp.h>

#include "etcd.h"

struct etcd_ep {
	char hostport[280];             /* the Host header */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* Work for the client's thread, queued by any thread. */
struct etcd_task {
	struct etcd_task *next;
	void (*run)(struct etcd *c, void *arg);
	void *arg;
};

struct etcd {
	struct etcd_ep *eps;
	size_t neps;
	size_t cur;                     /* the endpoint that answered last */
	unsigned dial_ms, req_ms;
	struct event_base *base;
	pthread_t thread;
	struct event *mbox;
	pthread_mutex_t mu;             /* the queue and closing */
	struct etcd_task *head, *tail;
	bool closing;
	struct etcd_xfer *xfers;        /* exchanges in flight (destroy fails them) */
	struct etcd_watch *watches;
	struct etcd_keep *keeps;
};

/* One HTTP exchange: POST path with a JSON body, on the current endpoint, failing over while
 * no connection is made. Unary: done() gets the status and the answer's JSON (NULL on error).
 * Stream (line set): line() gets each JSON line of the body as it comes, then done() once. */
struct etcd_xfer;
typedef void (*etcd_xfer_done)(struct etcd_xfer *x, const struct etcd_status *st, json_t *body,
	void *arg);
typedef void (*etcd_xfer_line)(struct etcd_xfer *x, json_t *obj, void *arg);

struct etcd_xfer {
	struct etcd_xfer *next, *prev;
	struct etcd *c;
	char *path;
	char *body;
	size_t blen;
	bool retry_sent;                /* reads: fail over after a sent request too */
	etcd_xfer_done done;
	etcd_xfer_line line;
	void *arg;
	size_t ep, tried;
	bool connected, sent, complete, finished, cancelled;
	struct event *later;            /* a failed dial, reported from the loop */
	int in_cb;
	struct bufferevent *bev;
	llhttp_t parser;
	int status;
	struct evbuffer *acc;           /* the body so far */
	char why[160];                  /* the last endpoint failure */
};

/* Loop thread. Starts the exchange; NULL on ENOMEM (done not called). Takes path and body
 * (malloc'ed; freed on error too). */
struct etcd_xfer *etcd_xfer_start(struct etcd *c, char *path, char *body, bool retry_sent,
	etcd_xfer_done done, etcd_xfer_line line, void *arg);
/* Loop thread: the next exchange starts elsewhere if ep is still the current endpoint (ep
 * answered badly: a watch ended by "no leader", a broken stream). */
void etcd_avoid(struct etcd *c, size_t ep);
/* Loop thread: end the exchange without calling done (safe from its own callbacks). */
void etcd_xfer_cancel(struct etcd_xfer *x);

/* Queue run(c, arg) for the client's thread; -1 when closing. */
int etcd_post(struct etcd *c, void (*run)(struct etcd *, void *), void *arg);
bool etcd_on_loop(const struct etcd *c);

/* POST req (stolen) to path and wait: 0 with *resp (the caller's) or -1 with st. retry_sent:
 * the call only reads, another endpoint may answer it after a broken connection. Not from the
 * client's thread. */
int etcd_call(struct etcd *c, const char *path, json_t *req, bool retry_sent, json_t **resp,
	struct etcd_status *st);
int etcd_nomem(json_t *req, struct etcd_status *st);             /* decrefs req; -1 */
int etcd_bad_answer(json_t *resp, const char *what, struct etcd_status *st);    /* -1 */

/* JSON helpers (json.c). */
char *etcd_b64(const void *p, size_t n);                /* NULL on ENOMEM */
/* Decodes s; *out malloc'ed and NUL-terminated; -1 when s is no base64. */
int etcd_unb64(const char *s, char **out, size_t *n);
int64_t etcd_i64(const json_t *obj, const char *name); /* "123", 123 or absent (0) */
int etcd_set_key(json_t *o, const char *name, const char *key);
int etcd_set_i64(json_t *o, const char *name, int64_t v);
/* "key" and, for ETCD_PREFIX, the prefix's "range_end"; -1 on ENOMEM. */
int etcd_set_range(json_t *o, const char *key, int match);
int etcd_kv_from(const json_t *j, struct etcd_kv *kv);
void etcd_kv_clear(struct etcd_kv *kv);
int etcd_kvs_from(const json_t *j, struct etcd_kvs *out);
/* An error answer ({"error","message","code"} or {"error":{grpc_code, http_code, message}}) into
 * st; 0 if obj is one. */
int etcd_error_from(const json_t *obj, int http, struct etcd_status *st);
void etcd_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void etcd_st_set(struct etcd_status *st, enum etcd_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
