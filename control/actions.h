/* control/actions.h - the actions, one file per family (act_<family>.c); the table in actions.c
 * names them, and api.c dispatches through it. */
#ifndef GAAPD_CTL_ACTIONS_H
#define GAAPD_CTL_ACTIONS_H

#include "api.h"

struct ctl_action {
	const char *name;           /* as in X-TC-Action / Action */
	ctl_action_fn fn;
};

/* The action called name (case-sensitive, as Tencent's API is), or NULL. */
const struct ctl_action *ctl_action_find(const char *name);

enum ctl_err ctl_act_create_http_listener(struct ctl_call *call);

#endif
