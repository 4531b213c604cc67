/* control/api.c - see api.h. Order of checks (spec 1.2, "verification order we use"): method,
 * common headers, signature, version, action, rate limit, body, then the action's own checks.
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actions.h"
#include "cfg.h"
#include "creds.h"
#include "ids.h"
#include "log.h"
#include "params.h"
#include "sign.h"

#define API_VERSION "2018-05-29"
#define MAX_SKEW_S 300

/* Token bucket per (action, SecretId): the action's rate in tokens per second, burst of as many. */
struct bucket {
	const struct ctl_action *action;
	char secret_id[CTL_SECRET_ID_MAX];
	double tokens;
	struct timespec last;
};

struct ctl_api {
	const struct ctl_deps *deps;
	struct bucket *buckets;
	size_t nbuckets;
};

/* What the checks before the action learn about a call. */
struct call_ctx {
	const char *action_name;
	const struct ctl_action *action;
	char secret_id[CTL_SECRET_ID_MAX];
};

struct ctl_api *ctl_api_new(const struct ctl_deps *deps)
{
	struct ctl_api *a = calloc(1, sizeof(*a));
	if (a != NULL)
		a->deps = deps;
	return a;
}

void ctl_api_destroy(struct ctl_api *a)
{
	if (a == NULL)
		return;
	free(a->buckets);
	free(a);
}

enum ctl_err ctl_fail(struct ctl_call *call, enum ctl_err e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
	return e;
}

static struct bucket *bucket_for(struct ctl_api *a, const struct ctl_action *action,
	const char *secret_id, unsigned limit)
{
	for (size_t i = 0; i < a->nbuckets; i++)
		if (a->buckets[i].action == action && strcmp(a->buckets[i].secret_id, secret_id) == 0)
			return &a->buckets[i];
	struct bucket *b = realloc(a->buckets, (a->nbuckets + 1) * sizeof(*b));
	if (b == NULL)
		return NULL;
	a->buckets = b;
	b = &a->buckets[a->nbuckets++];
	b->action = action;
	snprintf(b->secret_id, sizeof(b->secret_id), "%s", secret_id);
	b->tokens = limit;
	clock_gettime(CLOCK_MONOTONIC, &b->last);
	return b;
}

/* Buckets exist only for authenticated SecretIds, so their number is bounded by the credentials. */
static enum ctl_err rate_limit(struct ctl_api *a, const struct call_ctx *x, struct ctl_call *call)
{
	unsigned limit = cfg_rate_limit(a->deps->cfg, x->action->name);
	struct bucket *b = bucket_for(a, x->action, x->secret_id, limit);
	struct timespec now;
	if (b == NULL)
		return CTL_E_INTERNAL_ERROR;
	clock_gettime(CLOCK_MONOTONIC, &now);
	b->tokens += ((double)(now.tv_sec - b->last.tv_sec) +
		(double)(now.tv_nsec - b->last.tv_nsec) / 1e9) * limit;
	if (b->tokens > limit)
		b->tokens = limit;
	b->last = now;
	if (b->tokens < 1.0)
		return ctl_fail(call, CTL_E_REQUEST_LIMIT_EXCEEDED, "Your current request times exceeds "
			"the frequency limit `%u` per second for `%s`.", limit, x->action_name);
	b->tokens -= 1.0;
	return CTL_E_OK;
}

static enum ctl_err check_timestamp(const struct ctl_req *r, time_t now, struct ctl_call *call)
{
	const char *ts = ctl_req_header(r, "X-TC-Timestamp");
	uint64_t t;
	if (ts == NULL)
		return ctl_fail(call, CTL_E_MISSING_PARAMETER,
			"The request is missing a required parameter `Timestamp`.");
	if (ctl_parse_uint(ts, &t) != 0 || t > (uint64_t)INT64_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Parameter `Timestamp` type error.");
	if ((int64_t)t > (int64_t)now + MAX_SKEW_S || (int64_t)t < (int64_t)now - MAX_SKEW_S)
		return ctl_fail(call, CTL_E_AUTH_SIGNATURE_EXPIRE, "The signature is expired, please "
			"request again. (timestamp %s, server time %lld)", ts, (long long)now);
	return CTL_E_OK;
}

static enum ctl_err authenticate(struct ctl_api *a, const struct ctl_req *r, time_t now,
	struct call_ctx *x, struct ctl_call *call)
{
	const char *authz = ctl_req_header(r, "Authorization");
	const char *token = ctl_req_header(r, "X-TC-Token");
	struct ctl_tc3_auth auth;
	enum ctl_err e;
	if (authz == NULL)
		return ctl_fail(call, CTL_E_MISSING_PARAMETER,
			"The request is missing a required parameter `Authorization`.");
	if (ctl_tc3_parse(authz, &auth) != 0)
		return CTL_E_AUTH_INVALID_AUTHORIZATION;
	if ((e = check_timestamp(r, now, call)) != CTL_E_OK)
		return e;
	snprintf(x->secret_id, sizeof(x->secret_id), "%s", auth.secret_id);
	call->cred = ctl_creds_find(a->deps->creds, auth.secret_id);
	if (call->cred == NULL)
		return CTL_E_AUTH_SECRET_ID_NOT_FOUND;
	if ((e = ctl_tc3_check(r, &auth, call->cred->secret_key)) != CTL_E_OK)
		return e;
	if (token != NULL && *token != '\0')    /* no temporary credentials are issued here */
		return ctl_fail(call, CTL_E_AUTH_TOKEN_FAILURE,
			"The token is invalid: this endpoint issues no temporary credentials.");
	return CTL_E_OK;
}

static enum ctl_err find_action(const struct ctl_req *r, struct call_ctx *x, struct ctl_call *call)
{
	const char *version = ctl_req_header(r, "X-TC-Version");
	x->action_name = ctl_req_header(r, "X-TC-Action");
	if (x->action_name == NULL)
		return ctl_fail(call, CTL_E_MISSING_PARAMETER,
			"The request is missing a required parameter `Action`.");
	if (version == NULL)
		return ctl_fail(call, CTL_E_MISSING_PARAMETER,
			"The request is missing a required parameter `Version`.");
	if (strcmp(version, API_VERSION) != 0)
		return ctl_fail(call, CTL_E_NO_SUCH_VERSION, "The API version `%s` does not exist; "
			"this endpoint serves `" API_VERSION "`.", version);
	x->action = ctl_action_find(x->action_name);
	return x->action != NULL ? CTL_E_OK : CTL_E_INVALID_ACTION;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* application/x-www-form-urlencoded decoding of s[0..len) into out (at least len + 1 bytes). */
static int url_decode(const char *s, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[n++] = ' ';
		} else if (s[i] != '%') {
			out[n++] = s[i];
		} else if (i + 2 < len && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
			out[n++] = (char)(hex_digit(s[i + 1]) << 4 | hex_digit(s[i + 2]));
			i += 2;
		} else {
			return -1;
		}
	}
	out[n] = '\0';
	return 0;
}

/* GET: business parameters are the query string's pairs, all strings. */
static json_t *query_params(const char *q)
{
	json_t *o = json_object();
	char *key = malloc(strlen(q) + 1), *val = malloc(strlen(q) + 1);
	while (o != NULL && key != NULL && val != NULL && *q != '\0') {
		size_t len = strcspn(q, "&"), klen = strcspn(q, "=");
		if (klen > len)
			klen = len;
		if (len > 0 && (url_decode(q, klen, key) != 0 || url_decode(q + klen + (klen < len),
		    len - klen - (klen < len), val) != 0 || json_object_set_new(o, key, json_string(val)) != 0)) {
			json_decref(o);
			o = NULL;
		}
		q += len + (q[len] == '&');
	}
	if (key == NULL || val == NULL) {
		json_decref(o);
		o = NULL;
	}
	free(key);
	free(val);
	return o;
}

static enum ctl_err parse_params(const struct ctl_req *r, struct ctl_call *call)
{
	json_error_t je;
	if (strcmp(r->method, "GET") == 0) {
		call->params = query_params(r->query);
		return call->params != NULL ? CTL_E_OK : ctl_fail(call, CTL_E_INVALID_PARAMETER,
			"The query string is malformed.");
	}
	const char *ct = ctl_req_header(r, "Content-Type");
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "TC3 POST requests must be "
			"`Content-Type: application/json`, not `%s`.", ct ? ct : "");
	call->params = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (call->params == NULL || !json_is_object(call->params))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "The request body is not a JSON object%s%s",
			call->params ? "." : ": ", call->params ? "" : je.text);
	return CTL_E_OK;
}

static enum ctl_err process(struct ctl_api *a, const struct ctl_req *r, time_t now,
	struct call_ctx *x, struct ctl_call *call)
{
	enum ctl_err e;
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0)
		return ctl_fail(call, CTL_E_UNSUPPORTED_PROTOCOL, "The HTTP method `%s` is not "
			"supported; use GET or POST.", r->method);
	if (a->deps->cfg->auth == CFG_AUTH_SIGNATURE && (e = authenticate(a, r, now, x, call)) != CTL_E_OK)
		return e;
	if ((e = find_action(r, x, call)) != CTL_E_OK || (e = rate_limit(a, x, call)) != CTL_E_OK ||
	    (e = parse_params(r, call)) != CTL_E_OK)
		return e;
	return x->action->fn(call);
}

static char *envelope(json_t *response, const char *request_id)
{
	json_t *doc = json_object();
	char *text = NULL;
	if (doc != NULL && response != NULL &&
	    json_object_set_new(response, "RequestId", json_string(request_id)) == 0 &&
	    json_object_set(doc, "Response", response) == 0)
		text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	json_decref(response);
	return text;
}

static json_t *error_object(enum ctl_err e, const char *message)
{
	return json_pack("{s:{s:s, s:s}}", "Error", "Code", ctl_err_code(e),
		"Message", message != NULL && *message != '\0' ? message : ctl_err_message(e));
}

char *ctl_api_error_body(enum ctl_err e, const char *message)
{
	char request_id[CTL_UUID_LEN + 1];
	if (ctl_uuid_v4(request_id) != 0)
		return NULL;
	return envelope(error_object(e, message), request_id);
}

char *ctl_api_handle(struct ctl_api *a, const struct ctl_req *r, time_t now)
{
	struct ctl_call call = { .api = a, .deps = a->deps, .result = json_object() };
	struct call_ctx x = { .action_name = "" };
	char request_id[CTL_UUID_LEN + 1];
	if (call.result == NULL || ctl_uuid_v4(request_id) != 0) {
		json_decref(call.result);
		return NULL;
	}
	enum ctl_err e = process(a, r, now, &x, &call);
	LOG_INFO("api", "action=%s code=%s secret_id=%s request_id=%s%s%s",
		x.action_name ? x.action_name : "", e == CTL_E_OK ? "OK" : ctl_err_code(e),
		x.secret_id[0] ? x.secret_id : "-", request_id, call.message[0] ? " message=" : "",
		call.message);
	json_decref(call.params);
	if (e != CTL_E_OK) {
		json_decref(call.result);
		return envelope(error_object(e, call.message), request_id);
	}
	return envelope(call.result, request_id);
}
