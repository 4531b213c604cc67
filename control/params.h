/* control/params.h - an action's parameters checked against its schema (spec 2.x types).
 * Integer parameters arrive as JSON numbers or decimal strings (the published example sends
 * "Port": "443"; GET values are always strings): the check rewrites them in place as JSON integers,
 * so actions read one type. Threads: the control thread; params is the call's object.
 */
#ifndef GAAPD_CTL_PARAMS_H
#define GAAPD_CTL_PARAMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

enum ctl_ptype {
	CTL_P_STRING,
	CTL_P_UINT,                 /* uint64 */
	CTL_P_STRING_ARRAY,
	CTL_P_INT,                  /* int64 (ProjectId: -1 means all projects) */
	CTL_P_FILTERS,              /* [{"Name": string, "Values": [string, ...]}, ...] */
	CTL_P_TAGS,                 /* [{"TagKey": string, "TagValue": string}, ...] */
	CTL_P_BOOL,                 /* JSON true/false; as a string (GET/form) "true"/"false"/"1"/"0" */
	CTL_P_UINT_ARRAY,           /* [uint64, ...] (each as CTL_P_UINT) */
	CTL_P_OBJECT,               /* {member: ...}: the members' schema (CheckParams) */
	CTL_P_OBJECT_ARRAY,         /* [{member: ...}, ...]: each element per the members' schema */
};

/* A parameter, or a member of an object parameter. */
struct ctl_param {
	const char *name;
	enum ctl_ptype type;
	int required;
};

/* The members of the CTL_P_OBJECT or CTL_P_OBJECT_ARRAY parameter called name: checked as the top
 * level is (unknown, missing, type), the messages naming them by their flattened path
 * ("CheckParams.DelayLoop", "Headers.1.HeaderName"). */
struct ctl_object {
	const char *name;
	const struct ctl_param *members;
	size_t nmembers;
};

/* UnknownParameter for a name not in the schema, MissingParameter for a required one absent (or
 * null), InvalidParameter for a wrong type; CTL_E_OK and params normalised otherwise. */
enum ctl_err ctl_params_check(struct ctl_call *call, const struct ctl_param *schema, size_t n);
/* The same with object parameters, whose members objs (nobjs of them) describe by name. */
enum ctl_err ctl_params_check_objects(struct ctl_call *call, const struct ctl_param *schema,
	size_t n, const struct ctl_object *objs, size_t nobjs);

/* After a successful check: the value, or NULL / -1 when the optional parameter is absent. */
const char *ctl_param_str(const struct ctl_call *call, const char *name);
int ctl_param_uint(const struct ctl_call *call, const char *name, uint64_t *out);
int ctl_param_int(const struct ctl_call *call, const char *name, int64_t *out);
/* A CTL_P_STRING_ARRAY, CTL_P_FILTERS or CTL_P_TAGS parameter (borrowed from the call), or NULL
 * when absent. */
const json_t *ctl_param_array(const struct ctl_call *call, const char *name);
/* A CTL_P_BOOL parameter: 0 or 1 into *out, or -1 when absent. */
int ctl_param_bool(const struct ctl_call *call, const char *name, int *out);
/* A CTL_P_OBJECT parameter (borrowed), or NULL when absent. */
const json_t *ctl_param_object(const struct ctl_call *call, const char *name);

/* "123" -> 123. 0 or -1 (not decimal digits only, or above UINT64_MAX). */
int ctl_parse_uint(const char *s, uint64_t *out);
/* "-1" -> -1: an optional '-' and decimal digits within int64. 0 or -1. */
int ctl_parse_int(const char *s, int64_t *out);

/* ListenerName: 1 to 30 characters of valid UTF-8; letters and digits of any script (Unicode
 * general categories L* and N*), '-', '_', '.' (the console's rule); nothing else: no spaces,
 * separators, format or control characters, symbols or other punctuation. */
int ctl_listener_name_valid(const char *name);
/* The same rule: 0, or -1 with the message for InvalidParameterValue in err (the refused
 * character by its code point, or the length). */
int ctl_listener_name_check(const char *name, char *err, size_t errlen);
/* The rule for any name field (RealServerName ...), the message naming field. */
int ctl_name_check(const char *field, const char *name, char *err, size_t errlen);

#endif
