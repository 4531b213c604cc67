/* control/replay.c - see replay.h. A key's table: an array of entries (indices stay valid when it
 * grows), hash chains over them by (sig, timestamp), and a timing wheel of expiry lists. An entry
 * expires at timestamp + skew + 1, at most 2 * skew + 1 seconds ahead, and the wheel has more slots
 * than that: a slot holds one second's entries, and each call drops the slots its clock passed.
 * Only a clock stepped back can put two turns of the wheel in one slot; entries are dropped by
 * their own expiry, never by their slot, so that costs time, not correctness.
 */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"

#define NIL UINT32_MAX
#define FIRST_CAP 64
#define FREE_TS INT64_MIN           /* marks an entry on the free list */

struct entry {
	uint64_t sig;
	int64_t ts;
	uint32_t hnext;                 /* next in its hash chain */
	uint32_t wnext;                 /* next in its wheel slot, or in the free list */
};

struct table {
	char id[sizeof(((struct ctl_cred *)0)->secret_id)];
	struct entry *e;                /* cap entries; NULL until the key's first v1 call */
	uint32_t *chain;                /* cap heads of hash chains (cap is a power of two) */
	uint32_t *wheel;                /* wheel_size heads of expiry lists */
	uint32_t cap, n, free;
	int64_t swept;                  /* entries expiring at or before this second are gone */
	int kept;                       /* ctl_replay_sync(): found among the new credentials */
};

struct ctl_replay {
	int64_t skew;
	uint32_t wheel_size;            /* a power of two > 2 * skew + 1 */
	struct table **keys;            /* nkeys, by index in the synced credentials */
	size_t nkeys;
	int broken;                     /* the last sync failed: refuse everything */
};

struct ctl_replay *ctl_replay_new(unsigned skew_s)
{
	struct ctl_replay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->skew = skew_s;
	r->wheel_size = 1;
	while (r->wheel_size <= 2 * (uint32_t)skew_s + 1)
		r->wheel_size *= 2;
	return r;
}

static void table_destroy(struct table *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t->chain);
	free(t->wheel);
	free(t);
}

static void drop_all(struct ctl_replay *r)
{
	for (size_t i = 0; i < r->nkeys; i++)
		table_destroy(r->keys[i]);
	free(r->keys);
	r->keys = NULL;
	r->nkeys = 0;
}

void ctl_replay_destroy(struct ctl_replay *r)
{
	if (r == NULL)
		return;
	drop_all(r);
	free(r);
}

/* --- one key's table --- */

static int64_t expiry(const struct ctl_replay *r, int64_t ts)
{
	return ts + r->skew + 1;        /* the first second the timestamp check refuses it */
}

static uint32_t *slot(const struct ctl_replay *r, struct table *t, int64_t second)
{
	return &t->wheel[(uint64_t)second & (r->wheel_size - 1)];
}

static uint32_t bucket(const struct table *t, uint64_t sig, int64_t ts)
{
	uint64_t h = sig ^ (uint64_t)ts * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h & (t->cap - 1);
}

static void chain_in(struct table *t, uint32_t i)
{
	uint32_t *head = &t->chain[bucket(t, t->e[i].sig, t->e[i].ts)];
	t->e[i].hnext = *head;
	*head = i;
}

/* Back to the free list; the caller has unlinked it from its wheel slot. */
static void release(struct table *t, uint32_t i)
{
	uint32_t *p = &t->chain[bucket(t, t->e[i].sig, t->e[i].ts)];
	while (*p != i)
		p = &t->e[*p].hnext;
	*p = t->e[i].hnext;
	t->e[i].ts = FREE_TS;
	t->e[i].wnext = t->free;
	t->free = i;
	t->n--;
}

static void expire_slot(const struct ctl_replay *r, struct table *t, int64_t second, int64_t now)
{
	uint32_t *p = slot(r, t, second);
	while (*p != NIL) {
		uint32_t i = *p;
		if (expiry(r, t->e[i].ts) <= now) {
			*p = t->e[i].wnext;
			release(t, i);
		} else {
			p = &t->e[i].wnext;
		}
	}
}

/* Drop what expired since the last call: each slot passed once, a whole turn at most. Every live
 * entry expires after t->swept, so a slot behind it holds nothing that is due. */
static void advance(const struct ctl_replay *r, struct table *t, int64_t now)
{
	if (t->n > 0 && now > t->swept) {
		int64_t from = now - t->swept > r->wheel_size ? now - r->wheel_size + 1 : t->swept + 1;
		for (int64_t s = from; s <= now; s++)
			expire_slot(r, t, s, now);
	}
	t->swept = now;                 /* stepped back: those seconds are swept again later */
}

static int seen(const struct table *t, uint64_t sig, int64_t ts)
{
	if (t->cap == 0)
		return 0;
	for (uint32_t i = t->chain[bucket(t, sig, ts)]; i != NIL; i = t->e[i].hnext)
		if (t->e[i].sig == sig && t->e[i].ts == ts)
			return 1;
	return 0;
}

/* Double the entries (the new ones go on the free list) and rebuild the chains for the new mask;
 * wheel lists hold indices, which stay. Called with every entry in use, n < limit, so cap never
 * passes limit rounded up to a power of two. Amortised O(1) per insertion. */
static int grow(const struct ctl_replay *r, struct table *t)
{
	uint32_t cap = t->cap > 0 ? t->cap * 2 : FIRST_CAP;
	struct entry *e;
	uint32_t *chain;
	if (t->wheel == NULL) {
		if ((t->wheel = malloc(r->wheel_size * sizeof(*t->wheel))) == NULL)
			return -1;
		memset(t->wheel, 0xff, r->wheel_size * sizeof(*t->wheel));
	}
	if ((chain = malloc(cap * sizeof(*chain))) == NULL)
		return -1;
	if ((e = realloc(t->e, cap * sizeof(*e))) == NULL) {
		free(chain);
		return -1;
	}
	t->e = e;
	free(t->chain);
	t->chain = chain;
	memset(chain, 0xff, cap * sizeof(*chain));
	for (uint32_t i = cap; i-- > t->cap;) {
		t->e[i].ts = FREE_TS;
		t->e[i].wnext = t->free;
		t->free = i;
	}
	uint32_t old = t->cap;
	t->cap = cap;
	for (uint32_t i = 0; i < old; i++)
		if (t->e[i].ts != FREE_TS)
			chain_in(t, i);
	return 0;
}

static int insert(const struct ctl_replay *r, struct table *t, uint64_t sig, int64_t ts)
{
	if (t->free == NIL && grow(r, t) != 0)
		return -1;
	uint32_t i = t->free;
	uint32_t *w = slot(r, t, expiry(r, ts));
	t->free = t->e[i].wnext;
	t->e[i].sig = sig;
	t->e[i].ts = ts;
	chain_in(t, i);
	t->e[i].wnext = *w;
	*w = i;
	t->n++;
	return 0;
}

/* Seconds until the earliest entry expires: the first slot ahead with an entry due that very
 * second; past a whole turn (only after the clock stepped back), the earliest of all. */
static int64_t next_room(const struct ctl_replay *r, struct table *t, int64_t now)
{
	int64_t first = INT64_MAX;
	for (int64_t s = now + 1; s <= now + r->wheel_size; s++)
		for (uint32_t i = *slot(r, t, s); i != NIL; i = t->e[i].wnext)
			if (expiry(r, t->e[i].ts) == s)
				return s - now;
	for (uint32_t i = 0; i < t->cap; i++)
		if (t->e[i].ts != FREE_TS && expiry(r, t->e[i].ts) < first)
			first = expiry(r, t->e[i].ts);
	return first - now;
}

enum ctl_replay_verdict ctl_replay_check(struct ctl_replay *r, size_t key, uint64_t sig,
	int64_t ts, int64_t now, size_t limit, int64_t *wait_s)
{
	struct table *t;
	if (r->broken || key >= r->nkeys)
		return CTL_REPLAY_NOMEM;
	if (ts < now - r->skew || ts > now + r->skew)
		return CTL_REPLAY_SEEN;         /* could not be remembered for as long as it is valid */
	t = r->keys[key];
	advance(r, t, now);
	if (seen(t, sig, ts))
		return CTL_REPLAY_SEEN;
	if (t->n >= limit) {
		if (wait_s != NULL)
			*wait_s = next_room(r, t, now);
		return CTL_REPLAY_FULL;
	}
	return insert(r, t, sig, ts) == 0 ? CTL_REPLAY_NEW : CTL_REPLAY_NOMEM;
}

size_t ctl_replay_count(const struct ctl_replay *r, size_t key)
{
	return key < r->nkeys ? r->keys[key]->n : 0;
}

/* --- following the credentials --- */

static int by_id(const void *a, const void *b)
{
	return strcmp((*(struct table *const *)a)->id, (*(struct table *const *)b)->id);
}

/* The old table of this SecretId (marked kept), or a new empty one; NULL on ENOMEM. r->keys is
 * sorted by id. */
static struct table *table_for(struct ctl_replay *r, const char *id)
{
	struct table probe, *p = &probe, **old = NULL, *t;
	snprintf(probe.id, sizeof(probe.id), "%s", id);
	if (r->nkeys > 0)
		old = bsearch(&p, r->keys, r->nkeys, sizeof(*r->keys), by_id);
	if (old != NULL) {
		(*old)->kept = 1;
		return *old;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->free = NIL;
	return t;
}

/* Failed: the new tables go, and all the old ones too (kept or not): refusing is safe. */
static int sync_failed(struct ctl_replay *r, struct table **next, size_t made)
{
	for (size_t i = 0; i < made; i++)
		if (!next[i]->kept)
			table_destroy(next[i]);
	free(next);
	drop_all(r);
	r->broken = 1;
	return -1;
}

int ctl_replay_sync(struct ctl_replay *r, const struct ctl_creds *creds)
{
	size_t n = creds != NULL ? creds->n : 0;
	struct table **next = calloc(n > 0 ? n : 1, sizeof(*next));
	if (next == NULL)
		return sync_failed(r, NULL, 0);
	if (r->nkeys > 0)
		qsort(r->keys, r->nkeys, sizeof(*r->keys), by_id);
	for (size_t i = 0; i < n; i++)
		if ((next[i] = table_for(r, creds->items[i].secret_id)) == NULL)
			return sync_failed(r, next, i);
	for (size_t i = 0; i < r->nkeys; i++)
		if (r->keys[i]->kept)
			r->keys[i] = NULL;      /* moved to next */
	drop_all(r);                    /* the tables of removed keys */
	for (size_t i = 0; i < n; i++)
		next[i]->kept = 0;
	r->keys = next;
	r->nkeys = n;
	r->broken = 0;
	return 0;
}
