/* control/errors.c - the code and default message of each enum ctl_err (errors.h). */
#include "errors.h"

static const struct {
	const char *code;
	const char *message;
} table[] = {
#define CTL_ERR_ROW(name, code, msg) [CTL_E_##name] = { code, msg },
	CTL_ERRORS(CTL_ERR_ROW)
#undef CTL_ERR_ROW
};

const char *ctl_err_code(enum ctl_err e)
{
	return (unsigned)e < CTL_E__COUNT ? table[e].code : "InternalError";
}

const char *ctl_err_message(enum ctl_err e)
{
	return (unsigned)e < CTL_E__COUNT ? table[e].message : "An internal error occurred.";
}
