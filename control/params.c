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

static int normalise_int(json_t *params, const char *name, json_t *v)
{
	int64_t i;
	if (json_is_integer(v))
		return 0;
	if (!json_is_string(v) || ctl_parse_int(json_string_value(v), &i) != 0)
		return -1;
	return json_object_set_new(params, name, json_integer((json_int_t)i));
}

/* JSON integers top out at INT64_MAX in jansson; bigger uint64 values are refused as a type error
 * rather than wrapped. */
static int normalise_uint(json_t *params, const char *name, json_t *v)
{
	uint64_t u;
	if (json_is_integer(v))
		return json_integer_value(v) >= 0 ? 0 : -1;
	if (!json_is_string(v) || ctl_parse_uint(json_string_value(v), &u) != 0 || u > INT64_MAX)
		return -1;
	return json_object_set_new(params, name, json_integer((json_int_t)u));
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

static int check_type(json_t *params, const struct ctl_param *p, json_t *v)
{
	switch (p->type) {
	case CTL_P_STRING:
		return json_is_string(v) ? 0 : -1;
	case CTL_P_UINT:
		return normalise_uint(params, p->name, v);
	case CTL_P_INT:
		return normalise_int(params, p->name, v);
	case CTL_P_STRING_ARRAY:
		return string_array(v);
	case CTL_P_FILTERS:
		return filters(v);
	case CTL_P_TAGS:
		return tags(v);
	}
	return -1;
}

static const struct ctl_param *find(const struct ctl_param *schema, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(schema[i].name, name) == 0)
			return &schema[i];
	return NULL;
}

enum ctl_err ctl_params_check(struct ctl_call *call, const struct ctl_param *schema, size_t n)
{
	const char *key;
	json_t *v;
	json_object_foreach(call->params, key, v)
		if (find(schema, n, key) == NULL)
			return ctl_fail(call, CTL_E_UNKNOWN_PARAMETER,
				"The parameter `%s` is not recognized.", key);
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(call->params, schema[i].name);
		if (v == NULL || json_is_null(v)) {
			if (schema[i].required)
				return ctl_fail(call, CTL_E_MISSING_PARAMETER,
					"The request is missing a required parameter `%s`.", schema[i].name);
			json_object_del(call->params, schema[i].name);
			continue;
		}
		if (check_type(call->params, &schema[i], v) != 0)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER,
				"Parameter `%s` type error.", schema[i].name);
	}
	return CTL_E_OK;
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
