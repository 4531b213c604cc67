/* control/actions.h - the actions, one file per action family (act_<family>.c); the table in
 * actions.c names them, and api.c dispatches through it. Also the few rules the families share:
 * who may manage what, and paging.
 */
#ifndef GAAPD_CTL_ACTIONS_H
#define GAAPD_CTL_ACTIONS_H

#include <stddef.h>

#include "api.h"

struct cfg_group;
struct st_listener;

struct ctl_action {
	const char *name;           /* as in X-TC-Action / Action */
	ctl_action_fn fn;
};

/* The action called name (case-sensitive, as Tencent's API is), or NULL. */
const struct ctl_action *ctl_action_find(const char *name);
/* The table, for per-action counters: ctl_action_count() actions, the i-th in table order (NULL
 * past the end), and an action's index. */
size_t ctl_action_count(void);
const struct ctl_action *ctl_action_at(size_t i);
size_t ctl_action_index(const struct ctl_action *a);

/* act_listener.c (spec 2.2, 2.4-2.6) */
enum ctl_err ctl_act_create_http_listener(struct ctl_call *call);
enum ctl_err ctl_act_describe_http_listeners(struct ctl_call *call);
enum ctl_err ctl_act_modify_http_listener_attribute(struct ctl_call *call);
enum ctl_err ctl_act_delete_listeners(struct ctl_call *call);
/* act_realserver.c (l7-and-https.md 2) */
enum ctl_err ctl_act_add_real_servers(struct ctl_call *call);
enum ctl_err ctl_act_describe_real_servers(struct ctl_call *call);
enum ctl_err ctl_act_remove_real_servers(struct ctl_call *call);
enum ctl_err ctl_act_modify_real_server_name(struct ctl_call *call);
enum ctl_err ctl_act_describe_real_servers_status(struct ctl_call *call);
/* act_domain.c (l7-and-https.md 3, 4.6) */
enum ctl_err ctl_act_create_domain(struct ctl_call *call);
enum ctl_err ctl_act_modify_domain(struct ctl_call *call);
enum ctl_err ctl_act_delete_domain(struct ctl_call *call);
enum ctl_err ctl_act_describe_rules(struct ctl_call *call);
/* act_rule.c (l7-and-https.md 4.2-4.4, 4.7) */
enum ctl_err ctl_act_create_rule(struct ctl_call *call);
enum ctl_err ctl_act_modify_rule_attribute(struct ctl_call *call);
enum ctl_err ctl_act_delete_rule(struct ctl_call *call);
enum ctl_err ctl_act_describe_rules_by_rule_ids(struct ctl_call *call);
/* act_bind.c (l7-and-https.md 4.8, 4.9, 5) */
enum ctl_err ctl_act_bind_rule_real_servers(struct ctl_call *call);
enum ctl_err ctl_act_describe_rule_real_servers(struct ctl_call *call);
enum ctl_err ctl_act_create_custom_header(struct ctl_call *call);
enum ctl_err ctl_act_describe_custom_header(struct ctl_call *call);
/* act_https.c (l7-and-https.md 6, 7.7) */
enum ctl_err ctl_act_create_https_listener(struct ctl_call *call);
enum ctl_err ctl_act_describe_https_listeners(struct ctl_call *call);
enum ctl_err ctl_act_modify_https_listener_attribute(struct ctl_call *call);
enum ctl_err ctl_act_set_tls_version(struct ctl_call *call);
/* act_cert.c (l7-and-https.md 7.1-7.6) */
enum ctl_err ctl_act_create_certificate(struct ctl_call *call);
enum ctl_err ctl_act_describe_certificates(struct ctl_call *call);
enum ctl_err ctl_act_describe_certificate_detail(struct ctl_call *call);
enum ctl_err ctl_act_modify_certificate(struct ctl_call *call);
enum ctl_err ctl_act_modify_certificate_attributes(struct ctl_call *call);
enum ctl_err ctl_act_delete_certificate(struct ctl_call *call);
/* act_proxy.c (spec 2.9) */
enum ctl_err ctl_act_describe_proxies(struct ctl_call *call);
enum ctl_err ctl_act_describe_proxy_group_list(struct ctl_call *call);

/* 1 when the call's key may manage the proxy: always under auth none, else per the credentials
 * file's `proxies =` list. */
int ctl_may_manage_proxy(const struct ctl_call *call, const char *proxy_id);
/* 1 when the key may manage the group: it names the group itself, or it may manage every member
 * (a group with no members, or unknown to the configuration, only by name). */
int ctl_may_manage_group(const struct ctl_call *call, const char *group_id);
/* 1 when the key may manage the listener: its group's or its proxy's rule. Its domains, rules,
 * bindings and headers follow it (l7-and-https.md §1.3). */
int ctl_may_manage_listener(const struct ctl_call *call, const struct st_listener *rec);

/* The state store failed with errno e: InstanceStatusNotInRuning when its disk or directory is
 * unavailable (full, read-only, gone), FailedOperation for a resource shortage, else
 * InternalError; each says that nothing was changed. */
enum ctl_err ctl_store_error(struct ctl_call *call, int e);

/* Offset (default 0) and Limit (default 20, 1 to max) of a Describe action, after
 * ctl_params_check(); InvalidParameterValue for a Limit out of range. */
enum ctl_err ctl_page(struct ctl_call *call, size_t max, size_t *offset, size_t *limit);

#endif
