/* daemon/store_etcd_node.c - the etcd back end's node (store.h): its registration under a
 * lease the client keeps alive (registered again when etcd says the lease is gone), and its
 * listener statuses, queued by st_etcd_report() and by deletes, written under the lease by the
 * back end's thread (store_etcd_feed.c calls se_register() and se_flush_reports()). */
#include "store_etcd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_TTL 10

void se_report_set(struct se *s, const char *listener, const char *val, bool del)
{
	struct se_report *r = NULL;
	pthread_mutex_lock(&s->rmu);
	for (size_t i = 0; i < s->nreports && r == NULL; i++)
		if (strcmp(s->reports[i].listener, listener) == 0)
			r = &s->reports[i];
	if (r == NULL && !del && s->nreports == s->capreports) {
		size_t cap = s->capreports != 0 ? s->capreports * 2 : 16;
		struct se_report *n = realloc(s->reports, cap * sizeof(*n));
		if (n != NULL) {
			s->reports = n;
			s->capreports = cap;
		}
	}
	if (r == NULL && !del && s->nreports < s->capreports) {
		r = &s->reports[s->nreports++];
		*r = (struct se_report){ 0 };
		snprintf(r->listener, sizeof(r->listener), "%s", listener);
	}
	if (r != NULL && (del || r->val == NULL || strcmp(r->val, val) != 0)) {
		free(r->val);
		r->val = del ? NULL : strdup(val);
		r->dirty = s->reports_dirty = true;
	}
	pthread_mutex_unlock(&s->rmu);
}

void se_report(struct se *s, const char *listener, const char *val, bool del)
{
	se_report_set(s, listener, val, del);
	se_kick(s);
}


static void lease_lost(void *arg, int64_t id)
{
	struct se *s = arg;
	(void)id;
	pthread_mutex_lock(&s->mu);
	s->lease_lost = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void all_dirty(struct se *s)
{
	pthread_mutex_lock(&s->rmu);
	for (size_t i = 0; i < s->nreports; i++)
		s->reports[i].dirty = true;
	s->reports_dirty = true;
	pthread_mutex_unlock(&s->rmu);
}

int se_register(struct se *s)
{
	char key[SE_KEY_MAX], *val;
	struct etcd_status st;
	int64_t id, ttl;
	json_t *j = json_pack("{s:O, s:I}", "Proxies", s->node_proxies, "Started",
		(json_int_t)s->started);
	if (j == NULL || se_key(key, s, "node/%s", s->node) != 0 ||
	    (val = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	int rc = etcd_lease_grant(s->c, LEASE_TTL, &id, &ttl, &st);
	if (rc == 0 && (rc = etcd_put(s->c, key, val, strlen(val), id, NULL, &st)) == 0) {
		s->lease = id;
		s->keep = etcd_keep(s->c, id, ttl, lease_lost, s);
		all_dirty(s);
	}
	free(val);
	return rc;
}

/* One dirty status: put under the lease, or deleted. 0 or -1. */
static int write_status(struct se *s, const char *listener, const char *val)
{
	char key[SE_KEY_MAX];
	struct etcd_status st;
	if (se_key(key, s, "status/%s/%s", listener, s->node) != 0)
		return 0;
	if (val == NULL)
		return etcd_delete(s->c, key, ETCD_KEY, NULL, NULL, &st);
	return etcd_put(s->c, key, val, strlen(val), s->lease, NULL, &st);
}

/* A status write failed: try it again on a later round (unless it changed meanwhile). */
static void redirty(struct se *s, const char *listener)
{
	pthread_mutex_lock(&s->rmu);
	for (size_t i = 0; i < s->nreports; i++)
		if (strcmp(s->reports[i].listener, listener) == 0)
			s->reports[i].dirty = s->reports_dirty = true;
	pthread_mutex_unlock(&s->rmu);
}

/* Takes the first dirty report: 1 with listener and *val (owned; NULL: delete), else 0. */
static int take_dirty(struct se *s, char *listener, char **val)
{
	int found = 0;
	pthread_mutex_lock(&s->rmu);
	for (size_t i = 0; i < s->nreports && !found; i++) {
		struct se_report *r = &s->reports[i];
		if (!r->dirty)
			continue;
		found = 1;
		r->dirty = false;
		snprintf(listener, ST_ID_MAX, "%s", r->listener);
		*val = r->val != NULL ? strdup(r->val) : NULL;
		if (r->val == NULL)         /* a delete: the entry goes */
			s->reports[i] = s->reports[--s->nreports];
	}
	s->reports_dirty = found;
	pthread_mutex_unlock(&s->rmu);
	return found;
}

void se_flush_reports(struct se *s)
{
	char listener[ST_ID_MAX], *val;
	size_t failed = 0;
	while (s->lease != 0 && failed == 0 && take_dirty(s, listener, &val)) {
		if (write_status(s, listener, val) != 0 && val != NULL) {
			redirty(s, listener);
			failed++;
		}
		free(val);
	}
}
