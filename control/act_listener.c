/* control/act_listener.c - the HTTP listener actions (spec 2.2, 2.4-2.6).
 * A changing action checks its parameters, resolves the caller's target and rights, and hands
 * one change to the state machine (state/sm.h), which makes it whole or not at all; the outcome
 * is worded here as the API's error. Describe reads the listener table under its lock.
 * A group's listener is one record (GroupId set, ProxyId "") occupying its port on every member
 * proxy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_listener.h"
#include "actions.h"
#include "cfg.h"
#include "creds.h"
#include "ids.h"
#include "listener.h"
#include "log.h"
#include "params.h"
#include "state/sm.h"
#include "store.h"

#define DESCRIBE_LIMIT_MAX 100
#define DELETE_IDS_MAX 100

/* What a call's ProxyId / GroupId name: at most one of the two is set. */
struct target {
	const struct cfg_proxy *proxy;
	const struct cfg_group *group;
};

/* A ProxyId value: a proxy this node serves, not managed through a group, that the key may
 * manage. Group ids and grouped proxies are NotSupportProxyGroup: they are addressed by GroupId. */
static enum ctl_err resolve_proxy(struct ctl_call *call, const char *id, const struct cfg_proxy **out)
{
	const struct cfg *cfg = call->deps->cfg;
	if (cfg_find_group(cfg, id) != NULL)
		return ctl_fail(call, CTL_E_NOT_SUPPORT_PROXY_GROUP, "ProxyId(%s) is a proxy group; "
			"use GroupId.", id);
	if (!ctl_id_valid("link", id))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ProxyId(%s) is malformed.", id);
	if ((*out = cfg_find_proxy(cfg, id)) == NULL)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ProxyId(%s) Not Exist.", id);
	if ((*out)->group_id != NULL)
		return ctl_fail(call, CTL_E_NOT_SUPPORT_PROXY_GROUP, "ProxyId(%s) is managed through "
			"its group %s; use GroupId.", id, (*out)->group_id);
	if (!ctl_may_manage_proxy(call, id))
		return ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage "
			"proxy %s.", call->cred->secret_id, id);
	return CTL_E_OK;
}

static enum ctl_err resolve_group(struct ctl_call *call, const char *id, const struct cfg_group **out)
{
	if (!ctl_id_valid("lg", id))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "GroupId(%s) is malformed.", id);
	if ((*out = cfg_find_group(call->deps->cfg, id)) == NULL)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "GroupId(%s) Not Exist.", id);
	if (!ctl_may_manage_group(call, id))
		return ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage "
			"proxy group %s.", call->cred->secret_id, id);
	return CTL_E_OK;
}

/* ProxyId or GroupId, never both. With neither: an empty target when !required, else the node's
 * only proxy (a convenience for gaapctl users; SDK clients always name one). */
static enum ctl_err resolve_target(struct ctl_call *call, struct target *t, int required)
{
	const struct cfg *cfg = call->deps->cfg;
	const char *id = ctl_param_str(call, "ProxyId");
	const char *group = ctl_param_str(call, "GroupId");
	*t = (struct target){ NULL, NULL };
	if (id != NULL && group != NULL)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Specify either `ProxyId` or `GroupId`, not both.");
	if (group != NULL)
		return resolve_group(call, group, &t->group);
	if (id != NULL)
		return resolve_proxy(call, id, &t->proxy);
	if (!required)
		return CTL_E_OK;
	if (cfg->nproxies != 1)
		return ctl_fail(call, CTL_E_MISSING_PARAMETER, "The request is missing a required "
			"parameter `ProxyId` or `GroupId` (this node has %zu proxies).", cfg->nproxies);
	return resolve_proxy(call, cfg->proxies[0].id, &t->proxy);
}

static enum ctl_err bind_error(struct ctl_call *call, const struct cfg_proxy *p, unsigned port, int e)
{
	LOG_WARN("api", "proxy=%s port=%u: bind %s: %s", p->id, port, p->bind.text, strerror(e));
	switch (e) {
	case EADDRINUSE:
	case EACCES:
		return ctl_fail(call, CTL_E_INVALID_LISTENER_PORT, "Port %u cannot be used on %s: %s.",
			port, p->bind.text, strerror(e));
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
	case EADDRNOTAVAIL:
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "The listener cannot be opened on %s: %s.",
			p->bind.text, strerror(e));
	default:
		return ctl_fail(call, CTL_E_INTERNAL_ERROR, "bind: %s", strerror(e));
	}
}

/* ---- CreateHTTPListener ---- */

/* Target, statuses and reserved ports: everything that needs no lock. */
static enum ctl_err create_checks(struct ctl_call *call, struct target *t, uint64_t port)
{
	enum ctl_err e;
	if (port < 1 || port > 65535)
		return ctl_fail(call, CTL_E_INVALID_LISTENER_PORT, "Port %llu is outside 1-65535.",
			(unsigned long long)port);
	if ((e = resolve_target(call, t, 1)) != CTL_E_OK)
		return e;
	if (t->group != NULL && strcmp(t->group->status, "RUNNING") != 0)
		return ctl_fail(call, CTL_E_GROUP_STATUS_NOT_IN_RUNING, "Proxy group %s is %s, not "
			"RUNNING.", t->group->id, t->group->status);
	return CTL_E_OK;
}

/* The API's words for what the state machine refused. */
static enum ctl_err sm_error(struct ctl_call *call, const struct sm_change *c,
	const struct sm_outcome *o)
{
	const struct cfg_proxy *p = o->proxy;
	switch (o->err) {
	case SM_OK:
		return CTL_E_OK;
	case SM_E_PORT_RESERVED:
		return ctl_fail(call, CTL_E_INVALID_LISTENER_PORT, "Port %u is reserved on this "
			"node.", c->rec.port);
	case SM_E_GROUP_EMPTY:
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "Proxy group %s has no proxies to "
			"listen on.", c->rec.group_id);
	case SM_E_PROXY_NOT_RUNNING:
		return ctl_fail(call, CTL_E_PROXY_STATUS_NOT_IN_RUNING, "Proxy %s is %s, not "
			"RUNNING.", p->id, p->status);
	case SM_E_DUPLICATED_PORT:
		return ctl_fail(call, CTL_E_DUPLICATED_LISTENER_PORT, "Port %u already has a "
			"listener on proxy %s.", c->rec.port, p->id);
	case SM_E_LISTENER_LIMIT:
		return ctl_fail(call, CTL_E_LIMIT_NUM_OF_LISTENER, "Proxy %s already has its "
			"maximum of %u listeners.", p->id, p->max_listeners);
	case SM_E_BIND:
		return bind_error(call, p, c->rec.port, o->sys);
	case SM_E_STORE:
		return ctl_store_error(call, o->sys);
	case SM_E_NOT_FOUND:
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ListenerId(%s) Not Exist.", c->id);
	case SM_E_FORBIDDEN:
		return CTL_E_UNAUTHORIZED_OPERATION;     /* allowed() worded it */
	case SM_E_GROUP_LISTENER:
		return ctl_fail(call, CTL_E_NOT_SUPPORT_PROXY_GROUP, "Listener %s belongs to proxy "
			"group %s: HTTP listeners of proxy groups cannot be modified.", c->id, o->detail);
	case SM_E_DESTROYING:
		return ctl_fail(call, CTL_E_LISTENER_STATUS_ERROR, "Listener %s is being deleted.",
			c->id);
	case SM_E_NOT_HTTPS:
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ListenerId(%s) Not Exist.", c->id);
	case SM_E_CERT_UNKNOWN:
		return ctl_fail(call, CTL_E_INVALID_CERTIFICATE_ID, "CertificateId(%s) names no "
			"certificate of the type needed (server: 2, client CA: 1).", o->detail);
	case SM_E_CERT_PARAM:
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s.", o->detail);
	case SM_E_TLS:
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "The TLS library refused the listener's "
			"TLS settings: %s. Nothing was changed.", o->detail);
	case SM_E_RS_BOUND:             /* DeleteListeners, Force 0 */
		return ctl_fail(call, CTL_E_RS_ALREADY_BOUND, "Listener %s has real servers bound to "
			"its rules; unbind them first, or delete with Force 1.", o->detail);
	case SM_E_NOMEM:
	case SM_E_BAD_ADDRESS:          /* the real servers' (act_realserver.c) */
	case SM_E_DUPLICATE_RS:
	case SM_E_RS_LIMIT:
	case SM_E_NO_DOMAIN:            /* layer 7's (act_l7.c) */
	case SM_E_DOMAIN_EXISTS:
	case SM_E_DOMAIN_LIMIT:
	case SM_E_NO_RULE:
	case SM_E_RULE_EXISTS:
	case SM_E_RULE_LIMIT:
	case SM_E_RS_UNKNOWN:
	case SM_E_RS_MISMATCH:
	case SM_E_BIND_LIMIT:
	case SM_E_HEADER_LIMIT:
	case SM_E_CERT_NO_MATCH:        /* domains' (act_l7.c), certificates' (act_cert.c) */
	case SM_E_CERT_IN_USE:
		break;
	}
	return CTL_E_INTERNAL_ERROR;
}

enum ctl_err ctl_listener_sm_error(struct ctl_call *call, const struct sm_change *c,
	const struct sm_outcome *o)
{
	return sm_error(call, c, o);
}

enum ctl_err ctl_listener_resolve_proxy(struct ctl_call *call, const char *id,
	const struct cfg_proxy **out)
{
	return resolve_proxy(call, id, out);
}

enum ctl_err ctl_listener_create(struct ctl_call *call, struct sm_change *c)
{
	struct st_listener *rec = &c->rec;
	struct sm_outcome o;
	struct target t;
	uint64_t port;
	char err[160];
	enum ctl_err e;
	const char *name = ctl_param_str(call, "ListenerName");
	if (ctl_listener_name_check(name, err, sizeof(err)) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s", err);
	(void)ctl_param_uint(call, "Port", &port);
	if ((e = create_checks(call, &t, port)) != CTL_E_OK)
		return e;
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	snprintf(rec->proxy_id, sizeof(rec->proxy_id), "%s", t.proxy ? t.proxy->id : "");
	snprintf(rec->group_id, sizeof(rec->group_id), "%s", t.group ? t.group->id : "");
	rec->port = (unsigned)port;
	sm_apply(call->deps->sm, c, &o);
	if (o.err != SM_OK)
		return sm_error(call, c, &o);
	LOG_INFO("api", "listener=%s protocol=%s proxy=%s group=%s port=%u name=%s: created", o.id,
		rec->protocol, t.proxy ? t.proxy->id : "-", t.group ? t.group->id : "-", rec->port,
		rec->name);
	if (call->deps->created != NULL)
		call->deps->created(call->deps->created_arg, o.id);
	return json_object_set_new(call->result, "ListenerId", json_string(o.id)) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

enum ctl_err ctl_act_create_http_listener(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerName", CTL_P_STRING, 1 },
		{ "Port", CTL_P_UINT, 1 },
		{ "ProxyId", CTL_P_STRING, 0 },
		{ "GroupId", CTL_P_STRING, 0 },
	};
	struct sm_change c = { .op = SM_CREATE_LISTENER, .rec = { .protocol = "HTTP" } };
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	return e != CTL_E_OK ? e : ctl_listener_create(call, &c);
}

/* ---- DescribeHTTPListeners ---- */

struct filter {
	const char *protocol;       /* HTTP and HTTPS never appear in each other's Describe (§8) */
	const char *proxy_id, *group_id, *id, *name, *search;
	int has_port;
	uint64_t port;
};

/* SearchValue: a case-insensitive part of the name, or a part of the port's digits. */
static int search_matches(const struct st_listener *r, const char *s)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", r->port);
	return strcasestr(r->name, s) != NULL || strstr(port, s) != NULL;
}

static int matches(const struct st_listener *r, const struct filter *f)
{
	return strcmp(r->protocol, f->protocol) == 0 &&
		(f->proxy_id == NULL || strcmp(r->proxy_id, f->proxy_id) == 0) &&
		(f->group_id == NULL || strcmp(r->group_id, f->group_id) == 0) &&
		(f->id == NULL || strcmp(r->id, f->id) == 0) &&
		(f->name == NULL || strcmp(r->name, f->name) == 0) &&
		(!f->has_port || r->port == f->port) &&
		(f->search == NULL || search_matches(r, f->search));
}

int ctl_listener_status(const struct ctl_deps *d, const struct lsn *l)
{
	char why[160];
	if (d->fleet == NULL || l->status != LSN_RUNNING)
		return (int)l->status;
	if (l->nmembers == 0)
		return st_etcd_listener_status(d->fleet, l->rec.id, l->rec.proxy_id, why,
			sizeof(why)) == 1 ? LSN_CREATING : LSN_RUNNING;
	for (size_t i = 0; i < l->nmembers; i++)
		if (st_etcd_listener_status(d->fleet, l->rec.id, l->members[i], why, sizeof(why)) == 1)
			return LSN_CREATING;
	return LSN_RUNNING;
}

/* The HTTPListener of spec 2.4, with the JSON types of the published example. arg: the deps. */
static json_t *listener_json(const struct lsn *l, void *arg)
{
	const struct st_listener *r = &l->rec;
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:s?, s:s?}", "ListenerId", r->id,
		"ListenerName", r->name, "Port", (json_int_t)r->port, "CreateTime",
		(json_int_t)r->create_time, "Protocol", r->protocol, "ListenerStatus",
		(json_int_t)ctl_listener_status(arg, l), "ProxyId", r->proxy_id[0] ? r->proxy_id : NULL,
		"GroupId", r->group_id[0] ? r->group_id : NULL);
}

/* Under the table lock: the page [offset, offset + limit) of the matches, and their count. */
static enum ctl_err describe_locked(struct ctl_call *call, const struct filter *f, size_t offset,
	size_t limit, json_t *set, ctl_listener_json_fn json, void *arg)
{
	const struct lsn_table *t = call->deps->listeners;
	size_t total = 0;
	for (size_t i = 0; i < lsn_table_count(t); i++) {
		const struct lsn *l = lsn_table_get(t, i);
		if (!matches(&l->rec, f))
			continue;
		if (!ctl_may_manage_listener(call, &l->rec))     /* only a bare ListenerId gets here */
			return ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage "
				"listener %s.", call->cred->secret_id, l->rec.id);
		if (total >= offset && total - offset < limit &&
		    json_array_append_new(set, json(l, arg)) != 0)
			return CTL_E_INTERNAL_ERROR;
		total++;
	}
	return json_object_set_new(call->result, "TotalCount", json_integer((json_int_t)total)) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

/* The rules between the filters (spec 2.4), then the target they name. */
static enum ctl_err describe_filter(struct ctl_call *call, struct filter *f)
{
	struct target t;
	enum ctl_err e;
	*f = (struct filter){ .protocol = "", .id = ctl_param_str(call, "ListenerId"),
		.name = ctl_param_str(call, "ListenerName"), .search = ctl_param_str(call, "SearchValue") };
	f->has_port = ctl_param_uint(call, "Port", &f->port) == 0;
	if (f->id == NULL && ctl_param_str(call, "ProxyId") == NULL &&
	    ctl_param_str(call, "GroupId") == NULL)
		return ctl_fail(call, CTL_E_MISSING_PARAMETER, "The request is missing a required "
			"parameter: one of `ListenerId`, `ProxyId` and `GroupId`.");
	if (f->search != NULL && (f->name != NULL || f->has_port))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "`SearchValue` cannot be used with "
			"`ListenerName` or `Port`.");
	if ((e = resolve_target(call, &t, 0)) != CTL_E_OK)
		return e;
	f->proxy_id = t.proxy ? t.proxy->id : NULL;
	f->group_id = t.group ? t.group->id : NULL;
	return CTL_E_OK;
}

enum ctl_err ctl_listener_describe(struct ctl_call *call, const char *protocol, int none,
	ctl_listener_json_fn json, void *arg)
{
	struct filter f;
	size_t offset, limit;
	json_t *set = json_array();
	enum ctl_err e = describe_filter(call, &f);
	f.protocol = none ? "" : protocol;          /* "" matches no listener */
	if (e == CTL_E_OK && (e = ctl_page(call, DESCRIBE_LIMIT_MAX, &offset, &limit)) == CTL_E_OK) {
		lsn_table_lock(call->deps->listeners);
		e = set == NULL ? CTL_E_INTERNAL_ERROR :
			describe_locked(call, &f, offset, limit, set, json, arg);
		lsn_table_unlock(call->deps->listeners);
	}
	if (e == CTL_E_OK && json_object_set(call->result, "ListenerSet", set) != 0)
		e = CTL_E_INTERNAL_ERROR;
	json_decref(set);
	return e;
}

enum ctl_err ctl_act_describe_http_listeners(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ProxyId", CTL_P_STRING, 0 },
		{ "GroupId", CTL_P_STRING, 0 },
		{ "ListenerId", CTL_P_STRING, 0 },
		{ "ListenerName", CTL_P_STRING, 0 },
		{ "Port", CTL_P_UINT, 0 },
		{ "Offset", CTL_P_UINT, 0 },
		{ "Limit", CTL_P_UINT, 0 },
		{ "SearchValue", CTL_P_STRING, 0 },
	};
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	return e != CTL_E_OK ? e : ctl_listener_describe(call, "HTTP", 0, listener_json,
		(void *)call->deps);
}

/* ---- ModifyHTTPListenerAttribute ---- */

static int may_rename(const struct st_listener *r, void *arg)
{
	struct ctl_call *call = arg;
	if (ctl_may_manage_proxy(call, r->proxy_id))
		return 1;
	ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage proxy %s.",
		call->cred->secret_id, r->proxy_id);
	return 0;
}

static int is_https(struct ctl_call *call, const char *id)
{
	const struct lsn *l;
	int https;
	lsn_table_lock(call->deps->listeners);
	l = lsn_table_find(call->deps->listeners, id);
	https = l != NULL && strcmp(l->rec.protocol, "HTTPS") == 0;
	lsn_table_unlock(call->deps->listeners);
	return https;
}

enum ctl_err ctl_act_modify_http_listener_attribute(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "ListenerName", CTL_P_STRING, 1 },
		{ "ProxyId", CTL_P_STRING, 0 },
	};
	const struct cfg_proxy *p = NULL;
	struct sm_outcome o;
	char err[160];
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId"), *name = ctl_param_str(call, "ListenerName");
	const char *proxy = ctl_param_str(call, "ProxyId");
	struct sm_change c = { .op = SM_RENAME_LISTENER, .id = id, .name = name,
		.allowed = may_rename, .allowed_arg = call };
	if (ctl_listener_name_check(name, err, sizeof(err)) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s", err);
	if (is_https(call, id))             /* not an HTTP listener: none of that id (§8) */
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ListenerId(%s) Not Exist.", id);
	if (proxy != NULL && (e = resolve_proxy(call, proxy, &p)) != CTL_E_OK)
		return e;
	c.scope_proxy = p != NULL ? p->id : NULL;
	sm_apply(call->deps->sm, &c, &o);
	if (o.err != SM_OK)
		return sm_error(call, &c, &o);
	LOG_INFO("api", "listener=%s name=%s: renamed", id, name);
	return CTL_E_OK;
}

/* ---- DeleteListeners ---- */

/* The ids of one DeleteListeners call, and what the deletion did to each. */
struct deletion {
	const char *ids[DELETE_IDS_MAX];    /* requested, without repeats */
	size_t n;
	unsigned char verdicts[DELETE_IDS_MAX];     /* enum sm_verdict */
};

static int in(const char *const *set, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(set[i], id) == 0)
			return 1;
	return 0;
}

/* The three sets (spec 2.6): a listener deleted from the store but not yet stopped is
 * OperationFailed (a retry finishes it). */
static enum ctl_err delete_answer(struct ctl_call *call, const struct deletion *d)
{
	json_t *failed = json_array(), *ok = json_array(), *invalid = json_array();
	enum ctl_err e = CTL_E_INTERNAL_ERROR;
	if (failed == NULL || ok == NULL || invalid == NULL)
		goto out;
	for (size_t i = 0; i < d->n; i++) {
		json_t *set = d->verdicts[i] == SM_DELETED ? ok :
			d->verdicts[i] == SM_STILL_STOPPING ? failed : invalid;
		if (d->verdicts[i] != SM_NOT_IN_SCOPE)
			LOG_INFO("api", "listener=%s: %s", d->ids[i], set == ok ? "deleted" :
				"deleted from the store, but still stopping");
		if (json_array_append_new(set, json_string(d->ids[i])) != 0)
			goto out;
	}
	if (json_object_set(call->result, "OperationFailedListenerSet", failed) == 0 &&
	    json_object_set(call->result, "OperationSucceedListenerSet", ok) == 0 &&
	    json_object_set(call->result, "InvalidStatusListenerSet", invalid) == 0)
		e = CTL_E_OK;
out:
	json_decref(failed);
	json_decref(ok);
	json_decref(invalid);
	return e;
}

/* ListenerIds: 1 to DELETE_IDS_MAX strings; repeats count once. */
static enum ctl_err delete_ids(struct ctl_call *call, struct deletion *d)
{
	const json_t *ids = ctl_param_array(call, "ListenerIds");
	size_t i;
	json_t *v;
	if (json_array_size(ids) < 1 || json_array_size(ids) > DELETE_IDS_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ListenerIds must name 1 to %d "
			"listeners.", DELETE_IDS_MAX);
	d->n = 0;
	json_array_foreach(ids, i, v)
		if (!in(d->ids, d->n, json_string_value(v)))
			d->ids[d->n++] = json_string_value(v);
	return CTL_E_OK;
}

/* Force 1 deletes each listener with its domains, rules, bindings and headers; Force 0 refuses
 * the whole call when a named listener has a rule with bindings (l7-and-https.md §8). */
enum ctl_err ctl_act_delete_listeners(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerIds", CTL_P_STRING_ARRAY, 1 },
		{ "Force", CTL_P_UINT, 1 },
		{ "ProxyId", CTL_P_STRING, 0 },
		{ "GroupId", CTL_P_STRING, 0 },
	};
	struct deletion d;
	struct target t;
	uint64_t force;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = delete_ids(call, &d)) != CTL_E_OK)
		return e;
	(void)ctl_param_uint(call, "Force", &force);
	if (force > 1)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Force must be 0 or 1.");
	if ((e = resolve_target(call, &t, 1)) != CTL_E_OK)
		return e;
	if (t.group != NULL && strcmp(t.group->status, "RUNNING") != 0)
		return ctl_fail(call, CTL_E_GROUP_STATUS_NOT_IN_RUNING, "Proxy group %s is %s, not "
			"RUNNING.", t.group->id, t.group->status);
	struct sm_change c = { .op = SM_DELETE_LISTENERS, .ids = d.ids, .nids = d.n,
		.force = (int)force, .scope_proxy = t.proxy ? t.proxy->id : NULL,
		.scope_group = t.group ? t.group->id : NULL };
	struct sm_outcome o = { .verdicts = d.verdicts };
	sm_apply(call->deps->sm, &c, &o);
	return o.err != SM_OK ? sm_error(call, &c, &o) : delete_answer(call, &d);
}
