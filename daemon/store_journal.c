/* daemon/store_journal.c - the journal back end of the state store (store.h) on jr_
 * (daemon/state/journal.h): a store record is a journal record, checked against its kind's
 * schema whenever it is read or written. Every change is one journal entry: durable before
 * st_write() returns (jr_commit), or at st_sync() after st_append() (jr_append, jr_sync: the
 * group commit of the control API). Compaction runs on a thread of the store's own, woken by
 * the change that made it due, so no API call waits for a snapshot.
 */
#include "store.h"
#include "journal.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct st_journal {
	struct st base;             /* first: a struct st * is a struct st_journal * */
	struct jr *j;
	pthread_t compactor;
	int running;                /* the compactor thread was started */
	pthread_mutex_t mu;         /* wake, quit */
	pthread_cond_t cv;
	int wake, quit;
};

/* jr_opts.check: every record read or written passes its kind's schema (store.c). */
static int check(const char *kind, const char *id, json_t *fields, void *arg, char *err,
	size_t errlen)
{
	(void)arg;
	return st_check(kind, id, fields, err, errlen);
}

static void *compactor(void *arg)
{
	struct st_journal *s = arg;
	char err[512];
	pthread_mutex_lock(&s->mu);
	while (!s->quit) {
		if (!s->wake) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		s->wake = 0;
		pthread_mutex_unlock(&s->mu);
		if (jr_compact(s->j, err, sizeof(err)) != 0)   /* the journal stays usable */
			LOG_ERR("state", "compaction failed: %s", err);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void wake_compactor(struct st_journal *s)
{
	pthread_mutex_lock(&s->mu);
	s->wake = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* One change: durable before it returns (seq NULL), or appended, durable at jr_sync(*seq). */
static int journal_write(struct st *base, const struct st_op *ops, size_t n, uint64_t *seq,
	char *err, size_t errlen)
{
	struct st_journal *s = (struct st_journal *)base;
	struct jr_op *jops;
	int rc, e;
	if (n == 0) {
		if (seq != NULL)
			*seq = 0;
		return 0;
	}
	if ((jops = calloc(n, sizeof(*jops))) == NULL) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		jops[i] = (struct jr_op){ .type = ops[i].type == ST_PUT ? JR_PUT : JR_DEL,
			.kind = ops[i].kind, .id = ops[i].id, .fields = ops[i].fields };
	rc = seq != NULL ? jr_append(s->j, jops, n, seq, err, errlen) :
		jr_commit(s->j, jops, n, err, errlen);
	e = errno;
	free(jops);
	if (rc == 0 && jr_compact_due(s->j))
		wake_compactor(s);
	errno = e;
	return rc;
}

static int journal_sync(struct st *base, uint64_t seq, char *err, size_t errlen)
{
	return jr_sync(((struct st_journal *)base)->j, seq, err, errlen);
}

static int journal_each(struct st *base, const char *kind, st_each_fn fn, void *arg)
{
	return jr_each(((struct st_journal *)base)->j, kind, fn, arg);
}

static void journal_close(struct st *base)
{
	struct st_journal *s = (struct st_journal *)base;
	if (s->running) {
		pthread_mutex_lock(&s->mu);
		s->quit = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->compactor, NULL);
	}
	jr_close(s->j);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* The compactor never takes process signals: they go to the main thread, which acts on a SIGHUP
 * before it reads another API call (lifecycle.c); faults the thread causes stay its own. */
static int start_compactor(struct st_journal *s)
{
	sigset_t old;
	util_block_process_signals(&old);
	int rc = pthread_create(&s->compactor, NULL, compactor, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static const struct st_ops journal_ops = {
	.write = journal_write, .sync = journal_sync, .each = journal_each, .close = journal_close,
};

struct st *st_open_journal(const char *dir, size_t compact_min, char *err, size_t errlen)
{
	struct st_journal *s = calloc(1, sizeof(*s));
	struct jr_opts o = { .check = check, .compact_min = compact_min };
	if (s == NULL) {
		snprintf(err, errlen, "state: out of memory");
		return NULL;
	}
	s->base.ops = &journal_ops;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((s->j = jr_open(dir, &o, err, errlen)) == NULL) {
		journal_close(&s->base);
		return NULL;
	}
	if (start_compactor(s) != 0) {
		snprintf(err, errlen, "state: cannot start the compaction thread");
		journal_close(&s->base);
		return NULL;
	}
	s->running = 1;
	if (jr_compact_due(s->j))
		wake_compactor(s);
	return &s->base;
}
