/* daemon/store_journal.c - the journal back end of the state store (store.h) on jr_
 * (daemon/state/journal.h). A listener is a record of kind "listener" whose fields are the JSON
 * object the v1 file held per listener (ListenerId, ListenerName, Protocol, ProxyId, GroupId, Port,
 * CreateTime), so that a v1 listeners.json migrates as it is. Every change is one journal entry:
 * durable before st_apply() returns (jr_commit), or at st_sync() after st_append() (jr_append,
 * jr_sync: the group commit of the control API). Compaction runs on a thread of the store's own, woken by
 * the change that made it due, so no API call waits for a snapshot.
 */
#include "store.h"
#include "journal.h"
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND "listener"

struct st_journal {
	struct st base;             /* first: a struct st * is a struct st_journal * */
	struct jr *j;
	pthread_t compactor;
	int running;                /* the compactor thread was started */
	pthread_mutex_t mu;         /* wake, quit */
	pthread_cond_t cv;
	int wake, quit;
};

static json_t *rec_to_json(const struct st_listener *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
		"ListenerId", r->id, "ListenerName", r->name, "Protocol", r->protocol,
		"ProxyId", r->proxy_id, "GroupId", r->group_id,
		"Port", (json_int_t)r->port, "CreateTime", (json_int_t)r->create_time);
}

static int copy_field(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);
	if (len >= size)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

static int rec_from_json(json_t *j, struct st_listener *r)
{
	const char *id, *name, *proto, *proxy, *group;
	json_int_t port, ctime;
	memset(r, 0, sizeof(*r));
	if (json_unpack(j, "{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "ListenerId", &id,
	    "ListenerName", &name, "Protocol", &proto, "ProxyId", &proxy, "GroupId", &group,
	    "Port", &port, "CreateTime", &ctime) != 0)
		return -1;
	if (port < 1 || port > 65535 || copy_field(r->id, sizeof(r->id), id) != 0 ||
	    copy_field(r->name, sizeof(r->name), name) != 0 ||
	    copy_field(r->protocol, sizeof(r->protocol), proto) != 0 ||
	    copy_field(r->proxy_id, sizeof(r->proxy_id), proxy) != 0 ||
	    copy_field(r->group_id, sizeof(r->group_id), group) != 0)
		return -1;
	r->port = (unsigned)port;
	r->create_time = (int64_t)ctime;
	return 0;
}

/* jr_opts.check: a listener record must decode, under its own id; other kinds are not ours. */
static int check(const char *kind, const char *id, json_t *fields, void *arg, char *err,
	size_t errlen)
{
	struct st_listener r;
	(void)arg;
	if (strcmp(kind, KIND) != 0)
		return 0;
	if (rec_from_json(fields, &r) == 0 && strcmp(r.id, id) == 0)
		return 0;
	snprintf(err, errlen, "listener %.80s: fields missing or out of range", id);
	return -1;
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
static int journal_write(struct st *base, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen)
{
	struct st_journal *s = (struct st_journal *)base;
	size_t n = ndels + nputs;
	struct jr_op *ops = n > 0 ? calloc(n, sizeof(*ops)) : NULL;
	int rc = -1, e = ENOMEM;
	if (n == 0) {
		if (seq != NULL)
			*seq = 0;
		return 0;
	}
	if (ops == NULL)
		goto out;
	for (size_t i = 0; i < ndels; i++)      /* store.h: dels first, then puts */
		ops[i] = (struct jr_op){ .type = JR_DEL, .kind = KIND, .id = dels[i] };
	for (size_t i = 0; i < nputs; i++) {
		ops[ndels + i] = (struct jr_op){ .type = JR_PUT, .kind = KIND, .id = puts[i].id,
			.fields = rec_to_json(&puts[i]) };
		if (ops[ndels + i].fields == NULL)
			goto out;
	}
	rc = seq != NULL ? jr_append(s->j, ops, n, seq, err, errlen) :
		jr_commit(s->j, ops, n, err, errlen);
	e = errno;
out:
	if (rc != 0 && e == ENOMEM)
		snprintf(err, errlen, "state: out of memory");
	for (size_t i = 0; ops != NULL && i < n; i++)
		json_decref(ops[i].fields);
	free(ops);
	if (rc == 0 && jr_compact_due(s->j))
		wake_compactor(s);
	errno = e;
	return rc;
}

static int journal_apply(struct st *base, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, char *err, size_t errlen)
{
	return journal_write(base, puts, nputs, dels, ndels, NULL, err, errlen);
}

static int journal_append(struct st *base, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen)
{
	return journal_write(base, puts, nputs, dels, ndels, seq, err, errlen);
}

static int journal_sync(struct st *base, uint64_t seq, char *err, size_t errlen)
{
	return jr_sync(((struct st_journal *)base)->j, seq, err, errlen);
}

struct load_ctx {
	int (*fn)(const struct st_listener *rec, void *arg);
	void *arg;
};

static int load_one(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct load_ctx *c = arg;
	struct st_listener r;
	(void)kind;
	(void)id;
	if (rec_from_json(fields, &r) != 0)
		return -1;              /* check() let it in: cannot happen */
	return c->fn(&r, c->arg) != 0 ? -1 : 0;
}

static int journal_load(struct st *base, int (*fn)(const struct st_listener *, void *), void *arg,
	char *err, size_t errlen)
{
	struct st_journal *s = (struct st_journal *)base;
	struct load_ctx c = { .fn = fn, .arg = arg };
	(void)err;
	(void)errlen;
	return jr_each(s->j, KIND, load_one, &c) != 0 ? -1 : 0;
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
	static const int own[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS };
	sigset_t set, old;
	sigfillset(&set);
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		sigdelset(&set, own[i]);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	int rc = pthread_create(&s->compactor, NULL, compactor, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static const struct st_ops journal_ops = {
	.apply = journal_apply, .load = journal_load, .close = journal_close,
	.append = journal_append, .sync = journal_sync,
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
