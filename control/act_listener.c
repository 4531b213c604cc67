/* control/act_listener.c - the HTTP listener actions (spec 2.2-2.6).
 * CreateHTTPListener: every check that can refuse runs before anything changes; then, under the
 * listener table's lock: bind, write the store, hand to the workers. A failure at any step undoes
 * the earlier ones, so no call leaves a socket without a record or a record without a socket.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "cfg.h"
#include "creds.h"
#include "ids.h"
#include "listener.h"
#include "log.h"
#include "params.h"
#include "store.h"

/* The proxy a create targets: ProxyId, or the only proxy of the node when it is omitted. */
static enum ctl_err resolve_proxy(struct ctl_call *call, const struct cfg_proxy **out)
{
	const struct cfg *cfg = call->deps->cfg;
	const char *id = ctl_param_str(call, "ProxyId");
	const char *group = ctl_param_str(call, "GroupId");
	if (id != NULL && group != NULL)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Specify either `ProxyId` or `GroupId`, not both.");
	if (group != NULL)
		return ctl_fail(call, cfg_find_group(cfg, group) ? CTL_E_NOT_SUPPORT_PROXY_GROUP :
			CTL_E_RESOURCE_NOT_FOUND, "GroupId(%s): HTTP listeners on proxy groups are not "
			"supported by this node.", group);
	if (id == NULL) {
		if (cfg->nproxies != 1)
			return ctl_fail(call, CTL_E_MISSING_PARAMETER, "The request is missing a required "
				"parameter `ProxyId` (this node has %zu proxies).", cfg->nproxies);
		*out = &cfg->proxies[0];
		return CTL_E_OK;
	}
	if (cfg_find_group(cfg, id) != NULL)
		return ctl_fail(call, CTL_E_NOT_SUPPORT_PROXY_GROUP, "ProxyId(%s) is a proxy group.", id);
	if (!ctl_id_valid("link", id))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ProxyId(%s) is malformed.", id);
	if ((*out = cfg_find_proxy(cfg, id)) == NULL)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ProxyId(%s) Not Exist.", id);
	if ((*out)->group_id != NULL)
		return ctl_fail(call, CTL_E_NOT_SUPPORT_PROXY_GROUP, "ProxyId(%s) is managed through "
			"its group %s.", id, (*out)->group_id);
	return CTL_E_OK;
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

/* The store failing for want of its disk or directory means this node cannot take changes now;
 * anything else is unexpected. Either way nothing was changed. */
static enum ctl_err store_error(struct ctl_call *call, int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ENOSPC:
	case EDQUOT:
	case EROFS:
	case EIO:
	case EACCES:
	case EPERM:
		return ctl_fail(call, CTL_E_INSTANCE_STATUS_NOT_IN_RUNING, "The state store is "
			"unavailable (%s); nothing was changed.", strerror(e));
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "The state store cannot be written (%s); "
			"nothing was changed.", strerror(e));
	default:
		return ctl_fail(call, CTL_E_INTERNAL_ERROR, "The state store failed (%s); nothing "
			"was changed.", strerror(e));
	}
}

static int new_listener_id(const struct lsn_table *t, char *out, size_t len)
{
	for (int tries = 0; tries < 16; tries++)
		if (ctl_id_new("listener", out, len) == 0 && lsn_table_find(t, out) == NULL)
			return 0;
	return -1;
}

/* Under the table lock: the checks that depend on other listeners, then bind, store, serve. */
static enum ctl_err create_locked(struct ctl_call *call, const struct cfg_proxy *p,
	struct st_listener *rec)
{
	struct lsn_table *t = call->deps->listeners;
	char err[256];
	if (lsn_table_find_port(t, p->id, rec->port) != NULL)
		return ctl_fail(call, CTL_E_DUPLICATED_LISTENER_PORT, "Port %u already has a listener "
			"on proxy %s.", rec->port, p->id);
	if (lsn_table_count_proxy(t, p->id) >= p->max_listeners)
		return ctl_fail(call, CTL_E_LIMIT_NUM_OF_LISTENER, "Proxy %s already has its maximum of "
			"%u listeners.", p->id, p->max_listeners);
	if (lsn_table_reserve(t) != 0 || new_listener_id(t, rec->id, sizeof(rec->id)) != 0)
		return CTL_E_INTERNAL_ERROR;
	int fd = lsn_socket(&p->bind, rec->port);
	if (fd < 0)
		return bind_error(call, p, rec->port, -fd);
	struct lsn *l = lsn_new(t, rec, fd, p, &call->deps->cfg->http);
	if (l == NULL) {
		int e = errno;
		close(fd);
		return bind_error(call, p, rec->port, e);
	}
	if (st_put(call->deps->store, rec, err, sizeof(err)) != 0) {
		int e = errno;
		LOG_ERR("api", "listener=%s: %s; create rolled back", rec->id, err);
		lsn_discard(l);         /* closes the socket: the port is free again */
		return store_error(call, e);
	}
	lsn_table_add(t, l);
	return CTL_E_OK;
}

enum ctl_err ctl_act_create_http_listener(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerName", CTL_P_STRING, 1 },
		{ "Port", CTL_P_UINT, 1 },
		{ "ProxyId", CTL_P_STRING, 0 },
		{ "GroupId", CTL_P_STRING, 0 },
	};
	struct st_listener rec = { .protocol = "HTTP" };
	const struct cfg_proxy *p = NULL;
	uint64_t port;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	const char *name = ctl_param_str(call, "ListenerName");
	if (!ctl_listener_name_valid(name))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ListenerName must be 1 to 30 "
			"characters: letters, digits, '-', '_' and '.'.");
	(void)ctl_param_uint(call, "Port", &port);
	if (port < 1 || port > 65535)
		return ctl_fail(call, CTL_E_INVALID_LISTENER_PORT, "Port %llu is outside 1-65535.",
			(unsigned long long)port);
	if ((e = resolve_proxy(call, &p)) != CTL_E_OK)
		return e;
	if (call->cred != NULL && !ctl_cred_allows(call->cred, p->id))
		return ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage "
			"proxy %s.", call->cred->secret_id, p->id);
	if (strcmp(p->status, "RUNNING") != 0)
		return ctl_fail(call, CTL_E_PROXY_STATUS_NOT_IN_RUNING, "Proxy %s is %s, not RUNNING.",
			p->id, p->status);
	if (cfg_port_reserved(call->deps->cfg, (unsigned)port))
		return ctl_fail(call, CTL_E_INVALID_LISTENER_PORT, "Port %llu is reserved on this node.",
			(unsigned long long)port);
	snprintf(rec.name, sizeof(rec.name), "%s", name);
	snprintf(rec.proxy_id, sizeof(rec.proxy_id), "%s", p->id);
	rec.port = (unsigned)port;
	rec.create_time = (int64_t)time(NULL);
	lsn_table_lock(call->deps->listeners);
	e = create_locked(call, p, &rec);
	lsn_table_unlock(call->deps->listeners);
	if (e != CTL_E_OK)
		return e;
	LOG_INFO("api", "listener=%s proxy=%s port=%u name=%s: created", rec.id, p->id, rec.port, rec.name);
	return json_object_set_new(call->result, "ListenerId", json_string(rec.id)) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}
