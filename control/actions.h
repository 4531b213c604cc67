/* control/actions.h - the actions, one file per family (act_<family>.c); api.c dispatches by name. */
#ifndef GAAPD_CTL_ACTIONS_H
#define GAAPD_CTL_ACTIONS_H

#include "api.h"

enum ctl_err ctl_act_create_http_listener(struct ctl_call *call);

#endif
