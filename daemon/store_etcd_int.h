/* daemon/store_etcd_int.h - the etcd back end's insides (store.h), shared by its files:
 *   store_etcd.c (open, close, writes, drain), store_etcd_txn.c (the txn of a write),
 *   store_etcd_feed.c (the back end's thread: resync, watch), store_etcd_node.c (registration,
 *   statuses), store_etcd_view.c (the view of P).
 * Ownership: struct se owns the etcd client, the cache (a journal store), the view, the queues.
 * Threads and locks: mu guards the view, ready, the batches and the counters; the writing
 *   caller holds wmu for a whole write (writes are one at a time per store) and keeps writing
 *   set while its txn is in flight, so the feed thread never reads a watch event of this node's
 *   own txn before the view knows the txn's revision. qmu guards the watch messages the client's
 *   thread queues (its callbacks must not block on mu: a writer waits on that thread's loop);
 *   rmu guards the status reports.
 */
#ifndef GAAPD_STORE_ETCD_INT_H
#define GAAPD_STORE_ETCD_INT_H

#include "store.h"
#include "etcd.h"

#include <pthread.h>
#include <stdbool.h>

#define SE_KEY_MAX 512
#define SE_PLACES_MAX 64        /* proxies one listener may occupy (a group's) */
#define SE_RETRIES 50           /* counter compares lost in a row before giving up */

/* One key of P as etcd last showed it to this node. live 0: deleted at mod_rev (a tombstone,
 * so that the watch event of this node's own delete is recognised). */
struct se_ent {
	char *key;
	char *val;
	size_t vlen;
	int64_t mod_rev;
	bool live, seen;
};
struct se_view {
	struct se_ent *e;           /* sorted by key */
	size_t n, cap;
	size_t deaths;              /* tombstones made since the last purge */
};
struct se_ent *vw_find(struct se_view *v, const char *key);
/* val NULL: a tombstone. 0, or -1 on ENOMEM. */
int vw_set(struct se_view *v, const char *key, const char *val, size_t vlen, int64_t mod_rev);
/* The index of the first key >= prefix. */
size_t vw_lower(struct se_view *v, const char *prefix);
void vw_drop_unseen(struct se_view *v, const char *prefix);
/* Tombstones at or before upto (the watch delivered upto: no event of theirs can come). */
void vw_purge(struct se_view *v, int64_t upto);
void vw_free(struct se_view *v);

/* A batch for st_etcd_drain(): one etcd revision's changes of records (kind, id owned). */
struct se_batch {
	struct se_batch *next;
	struct st_op *ops;
	size_t n, cap;
	int64_t rev;                /* the revision it brings the records to */
};
int se_batch_add(struct se_batch *b, enum st_op_type t, const char *kind, const char *id,
	json_t *fields);        /* fields stolen; 0 or -1 */
void se_batch_free(struct se_batch *b);

/* A watch message, copied off the client's thread. */
struct se_wev {
	bool del;
	char *key, *val;
	size_t vlen;
	int64_t mod_rev;
};
struct se_wmsg {
	struct se_wmsg *next;
	enum etcd_wkind kind;
	int64_t rev;
	struct se_wev *ev;
	size_t n;
};

/* This node's status of one listener; val NULL: to delete. */
struct se_report {
	char listener[ST_ID_MAX];
	char *val;
	bool dirty;
};

struct se {
	struct st base;             /* first */
	struct st *cache;
	struct etcd *c;
	char prefix[256];
	char node[ST_NAME_MAX];
	json_t *node_proxies;       /* array of proxy ids */
	st_places_fn places;
	void *places_arg;
	void (*wake)(void *arg);
	void *wake_arg;

	pthread_mutex_t wmu;
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* writing dropped to 0, work for the thread */
	struct se_view view;
	int writing;
	bool ready, synced, watch_up, quit;
	struct se_batch *bhead, *btail;
	struct st_conflict conflict;
	bool has_conflict;
	struct st_etcd_counts counts;

	pthread_mutex_t qmu;
	struct se_wmsg *qhead, *qtail;
	bool lease_lost;
	bool lost_msg;              /* a watch message could not be queued (ENOMEM): resync */

	pthread_mutex_t rmu;
	struct se_report *reports;
	size_t nreports, capreports;
	bool reports_dirty;

	pthread_t thread;
	bool running;
	struct etcd_watch *watch;
	struct etcd_keep *keep;
	int64_t lease;
	int64_t started;
};

/* Keys: into buf (SE_KEY_MAX); -1 when too long. */
int se_key(char *buf, const struct se *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "rec/<kind>/<id>" of a key under P: kind and id into the buffers; -1 when not a record key. */
int se_rec_of(const struct se *s, const char *key, char *kind, size_t klen, char *id,
	size_t ilen);

/* The write path (store_etcd_txn.c): the txn, settled, the view updated; not the cache. */
int se_txn_write(struct se *s, const struct st_op *ops, size_t n, char *err, size_t errlen);

/* Feed (store_etcd_feed.c): the thread; a wake-up for it. */
int se_feed_start(struct se *s);
void se_feed_stop(struct se *s);
void se_kick(struct se *s);

/* The node (store_etcd_node.c). A status to write (val) or delete (del), latest wins; with a
 * kick (se_report), or without (se_report_set: the feed thread, which may hold mu). The feed
 * thread's: register under a new lease (0 or -1), write the dirty statuses. */
void se_report(struct se *s, const char *listener, const char *val, bool del);
void se_report_set(struct se *s, const char *listener, const char *val, bool del);
int se_register(struct se *s);
void se_flush_reports(struct se *s);

#endif
