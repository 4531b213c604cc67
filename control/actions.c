/* control/actions.c - the table of actions (actions.h). */
#include "actions.h"

#include <string.h>

static const struct ctl_action actions[] = {
	{ "CreateHTTPListener", ctl_act_create_http_listener },
};

const struct ctl_action *ctl_action_find(const char *name)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}
