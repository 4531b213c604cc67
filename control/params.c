/* control/params.c - see params.h. */
#include "params.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unictype.h>

int ctl_parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == '\0' || strlen(s) > 20)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int ctl_parse_int(const char *s, int64_t *out)
{
	uint64_t u;
	int neg = *s == '-';
	if (ctl_parse_uint(s + neg, &u) != 0 || u > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -1;
	*out = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
	return 0;
}

/* v as an int64: a JSON integer as it is (*repl NULL), a decimal string as a new integer in *repl.
 * 0 or -1. */
static int as_int(const json_t *v, json_t **repl)
{
	int64_t i;
	if (json_is_integer(v))
		return 0;
	if (!json_is_string(v) || ctl_parse_int(json_string_value(v), &i) != 0)
		return -1;
	return (*repl = json_integer((json_int_t)i)) != NULL ? 0 : -1;
}

/* JSON integers top out at INT64_MAX in jansson; bigger uint64 values are refused as a type error
 * rather than wrapped. */
static int as_uint(const json_t *v, json_t **repl)
{
	uint64_t u;
	if (json_is_integer(v))
		return json_integer_value(v) >= 0 ? 0 : -1;
	if (!json_is_string(v) || ctl_parse_uint(json_string_value(v), &u) != 0 || u > INT64_MAX)
		return -1;
	return (*repl = json_integer((json_int_t)u)) != NULL ? 0 : -1;
}

/* A boolean: JSON true/false, or (GET/form, where every value is a string) its spelling or 1/0. */
static int as_bool(const json_t *v, json_t **repl)
{
	const char *s = json_string_value(v);
	if (json_is_boolean(v))
		return 0;
	if (s == NULL)
		return -1;
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*repl = json_true();
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*repl = json_false();
	return *repl != NULL ? 0 : -1;
}

/* Every element a uint64, normalised in place. */
static int uint_array(json_t *v)
{
	size_t i;
	json_t *item;
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, item) {
		json_t *repl = NULL;
		if (as_uint(item, &repl) != 0 || (repl != NULL && json_array_set_new(v, i, repl) != 0))
			return -1;
	}
	return 0;
}

static int string_array(const json_t *v)
{
	size_t i;
	json_t *item;
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, item)
		if (!json_is_string(item))
			return -1;
	return 0;
}

/* Filters (spec 2.9): objects with exactly Name (string) and Values (strings). */
static int filters(const json_t *v)
{
	size_t i;
	json_t *f;
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, f)
		if (!json_is_object(f) || json_object_size(f) != 2 ||
		    !json_is_string(json_object_get(f, "Name")) ||
		    string_array(json_object_get(f, "Values")) != 0)
			return -1;
	return 0;
}

/* TagSet: objects with exactly TagKey and TagValue, both strings. */
static int tags(const json_t *v)
{
	size_t i;
	json_t *t;
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, t)
		if (!json_is_object(t) || json_object_size(t) != 2 ||
		    !json_is_string(json_object_get(t, "TagKey")) ||
		    !json_is_string(json_object_get(t, "TagValue")))
			return -1;
	return 0;
}

/* The object parameters' members of one check. */
struct objects {
	const struct ctl_object *objs;
	size_t n;
};

static enum ctl_err check_members(struct ctl_call *call, const struct objects *o, json_t *obj,
	const struct ctl_param *schema, size_t n, const char *prefix);

static const struct ctl_object *object_of(const struct objects *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->objs[i].name, name) == 0)
			return &o->objs[i];
	return NULL;
}

static enum ctl_err type_error(struct ctl_call *call, const char *path)
{
	return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Parameter `%s` type error.", path);
}

/* Each element of an object array per its members, named path.i. */
static enum ctl_err object_array(struct ctl_call *call, const struct objects *o,
	const struct ctl_object *m, json_t *v, const char *path)
{
	char sub[288];
	size_t i;
	json_t *item;
	enum ctl_err e;
	if (!json_is_array(v))
		return type_error(call, path);
	json_array_foreach(v, i, item) {
		snprintf(sub, sizeof(sub), "%s.%zu", path, i);
		if (!json_is_object(item))
			return type_error(call, sub);
		if ((e = check_members(call, o, item, m->members, m->nmembers, sub)) != CTL_E_OK)
			return e;
	}
	return CTL_E_OK;
}

/* v, the value of p (named path), checked; a normalised scalar replaces it in *repl. */
static enum ctl_err check_value(struct ctl_call *call, const struct objects *o,
	const struct ctl_param *p, json_t *v, const char *path, json_t **repl)
{
	const struct ctl_object *m = object_of(o, p->name);
	int rc = -1;
	switch (p->type) {
	case CTL_P_STRING:
		rc = json_is_string(v) ? 0 : -1;
		break;
	case CTL_P_UINT:
		rc = as_uint(v, repl);
		break;
	case CTL_P_INT:
		rc = as_int(v, repl);
		break;
	case CTL_P_BOOL:
		rc = as_bool(v, repl);
		break;
	case CTL_P_STRING_ARRAY:
		rc = string_array(v);
		break;
	case CTL_P_UINT_ARRAY:
		rc = uint_array(v);
		break;
	case CTL_P_FILTERS:
		rc = filters(v);
		break;
	case CTL_P_TAGS:
		rc = tags(v);
		break;
	case CTL_P_OBJECT:
		if (!json_is_object(v) || m == NULL)
			break;
		return check_members(call, o, v, m->members, m->nmembers, path);
	case CTL_P_OBJECT_ARRAY:
		if (m == NULL)
			break;
		return object_array(call, o, m, v, path);
	}
	return rc == 0 ? CTL_E_OK : type_error(call, path);
}

static const struct ctl_param *find(const struct ctl_param *schema, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(schema[i].name, name) == 0)
			return &schema[i];
	return NULL;
}

/* obj's members against schema; prefix "" at the top level, else the object's path. */
static enum ctl_err check_members(struct ctl_call *call, const struct objects *o, json_t *obj,
	const struct ctl_param *schema, size_t n, const char *prefix)
{
	const char *key, *dot = *prefix != '\0' ? "." : "";
	char path[256];
	json_t *v;
	enum ctl_err e;
	json_object_foreach(obj, key, v)
		if (find(schema, n, key) == NULL)
			return ctl_fail(call, CTL_E_UNKNOWN_PARAMETER,
				"The parameter `%s%s%s` is not recognized.", prefix, dot, key);
	for (size_t i = 0; i < n; i++) {
		json_t *repl = NULL;
		snprintf(path, sizeof(path), "%s%s%s", prefix, dot, schema[i].name);
		v = json_object_get(obj, schema[i].name);
		if (v == NULL || json_is_null(v)) {
			if (schema[i].required)
				return ctl_fail(call, CTL_E_MISSING_PARAMETER,
					"The request is missing a required parameter `%s`.", path);
			json_object_del(obj, schema[i].name);
			continue;
		}
		if ((e = check_value(call, o, &schema[i], v, path, &repl)) != CTL_E_OK)
			return e;
		if (repl != NULL && json_object_set_new(obj, schema[i].name, repl) != 0)
			return CTL_E_INTERNAL_ERROR;
	}
	return CTL_E_OK;
}

enum ctl_err ctl_params_check_objects(struct ctl_call *call, const struct ctl_param *schema,
	size_t n, const struct ctl_object *objs, size_t nobjs)
{
	struct objects o = { objs, nobjs };
	return check_members(call, &o, call->params, schema, n, "");
}

enum ctl_err ctl_params_check(struct ctl_call *call, const struct ctl_param *schema, size_t n)
{
	return ctl_params_check_objects(call, schema, n, NULL, 0);
}

const char *ctl_param_str(const struct ctl_call *call, const char *name)
{
	return json_string_value(json_object_get(call->params, name));
}

int ctl_param_uint(const struct ctl_call *call, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(call->params, name);
	if (!json_is_integer(v))
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int ctl_param_int(const struct ctl_call *call, const char *name, int64_t *out)
{
	json_t *v = json_object_get(call->params, name);
	if (!json_is_integer(v))
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

const json_t *ctl_param_array(const struct ctl_call *call, const char *name)
{
	json_t *v = json_object_get(call->params, name);
	return json_is_array(v) ? v : NULL;
}

int ctl_param_bool(const struct ctl_call *call, const char *name, int *out)
{
	json_t *v = json_object_get(call->params, name);
	if (!json_is_boolean(v))
		return -1;
	*out = json_is_true(v);
	return 0;
}

const json_t *ctl_param_object(const struct ctl_call *call, const char *name)
{
	json_t *v = json_object_get(call->params, name);
	return json_is_object(v) ? v : NULL;
}

#define LISTENER_NAME_MAX_CHARS 30

/* A name's character: a letter or a digit of any script by its Unicode general category (L*, N*),
 * or '-', '_', '.'. Everything else is refused, above all what a console or a log renders as
 * nothing or as something else: format characters (U+200B zero width space, U+202E right-to-left
 * override, U+FEFF), separators (U+00A0, U+2028, U+2029) and control characters. */
static int name_char(ucs4_t uc)
{
	return uc == '-' || uc == '_' || uc == '.' || uc_is_general_category(uc, UC_LETTER) ||
		uc_is_general_category(uc, UC_NUMBER);
}

#define NAME_RULE "%s must be 1 to 30 characters: letters, digits, '-', '_' and '.'"

/* Console rules: 1-30 characters; letters (any script), digits, '-', '_', '.'. UTF-8 validity is
 * util_utf8_seq()'s (the rule the JSON side applies), the categories libunistring's. The message
 * names a refused character by its code point: most of them cannot be seen. */
int ctl_name_check(const char *field, const char *name, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)name;
	long chars = 0;
	for (size_t len; *p != '\0'; p += len, chars++) {
		unsigned uc;
		if ((len = util_utf8_seq(p)) == 0) {
			snprintf(err, errlen, NAME_RULE "; this one is not valid UTF-8.", field);
			return -1;
		}
		if (!name_char(uc = util_utf8_value(p, len))) {
			snprintf(err, errlen, NAME_RULE "; U+%04X (character %ld) is none of them.", field,
				uc, chars + 1);
			return -1;
		}
	}
	if (chars < 1 || chars > LISTENER_NAME_MAX_CHARS) {
		snprintf(err, errlen, NAME_RULE "; this one has %ld.", field, chars);
		return -1;
	}
	return 0;
}

int ctl_listener_name_check(const char *name, char *err, size_t errlen)
{
	return ctl_name_check("ListenerName", name, err, errlen);
}

int ctl_listener_name_valid(const char *name)
{
	char err[160];
	return ctl_listener_name_check(name, err, sizeof(err)) == 0;
}
