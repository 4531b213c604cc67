/* control/api.c - see api.h. The request style decides where the common params are: TC3 sends them
 * as X-TC-* headers with an Authorization header; v1 sends them among the query or form params.
 * Order of checks (spec 1.2, "verification order we use", and the same for v1): the v1 form (size,
 * encoding), the language, the method, authentication (malformed, missing, expired, unknown
 * SecretId, signature, v1 replay, token), version and action, rate limit, the business params as
 * JSON, then the action's own checks. An unauthenticated caller learns nothing past AuthFailure.
 */
#include "api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actions.h"
#include "cfg.h"
#include "creds.h"
#include "flat.h"
#include "ids.h"
#include "log.h"
#include "params.h"
#include "replay.h"
#include "sign.h"
#include "util.h"

#define API_VERSION "2018-05-29"
#define MAX_SKEW_S 300
#define V1_MAX_BYTES CTL_API_V1_MAX_BYTES
#define MAX_BUCKETS 4096            /* (action, caller) pairs with a partly used rate */

/* Token bucket per (action, caller): the action's rate in tokens per second, burst of as many. */
struct bucket {
	const struct ctl_action *action;
	char who[CTL_SECRET_ID_MAX];    /* the SecretId; the client's IP under auth: none */
	double tokens;
	struct timespec last;
};

struct ctl_api {
	const struct ctl_deps *deps;
	struct bucket *buckets;
	size_t nbuckets;
	struct ctl_replay *replay;      /* v1 requests seen, per SecretId of deps->creds */
	/* Answers by action and code: (ctl_action_count() + 1) rows of CTL_E__COUNT (ctl_api_calls) */
	uint64_t *calls;
};

/* What the checks before the action learn about a call. */
struct call_ctx {
	int v1;                         /* common params in the query or form, not in headers */
	struct ctl_form form;           /* v1, or TC3 GET: the decoded params */
	const char *action_name;
	const struct ctl_action *action;
	char secret_id[CTL_SECRET_ID_MAX];
	char who[CTL_SECRET_ID_MAX];    /* whom the rate limit counts */
};

/* Tencent's answer to a v1 request over V1_MAX_BYTES, word for word (spec 1.3). */
static const char v1_too_large[] = "The provided credentials could not be validated because of "
	"exceeding request size limit, please use new signature method `TC3-HMAC-SHA256`.";

/* The common params of v1 (spec 1.1); the rest of the form is the action's. */
static const char *const v1_common[] = {
	"Action", "Version", "Timestamp", "Nonce", "SecretId", "Signature", "SignatureMethod",
	"Region", "Token", "Language", "RequestClient", NULL,
};

struct ctl_api *ctl_api_new(const struct ctl_deps *deps)
{
	struct ctl_api *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->deps = deps;
	if ((a->calls = calloc((ctl_action_count() + 1) * CTL_E__COUNT, sizeof(*a->calls))) == NULL ||
	    (a->replay = ctl_replay_new(MAX_SKEW_S)) == NULL ||
	    ctl_replay_sync(a->replay, deps->creds) != 0) {
		ctl_api_destroy(a);
		return NULL;
	}
	return a;
}

void ctl_api_reconfigure(struct ctl_api *a)
{
	if (ctl_replay_sync(a->replay, a->deps->creds) != 0)
		LOG_ERR("api", "out of memory following the new credentials: v1 calls are refused "
			"(InternalError) until the next reload");
}

void ctl_api_destroy(struct ctl_api *a)
{
	if (a == NULL)
		return;
	free(a->buckets);
	ctl_replay_destroy(a->replay);
	free(a->calls);
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

static enum ctl_err missing(struct ctl_call *call, const char *name)
{
	return ctl_fail(call, CTL_E_MISSING_PARAMETER,
		"The request is missing a required parameter `%s`.", name);
}

/* --- rate limit --- */

static void refill(struct bucket *b, unsigned limit, const struct timespec *now)
{
	b->tokens += ((double)(now->tv_sec - b->last.tv_sec) +
		(double)(now->tv_nsec - b->last.tv_nsec) / 1e9) * limit;
	if (b->tokens > limit)
		b->tokens = limit;
	b->last = *now;
}

/* A full bucket answers as a new one would: dropping those bounds the table, changing no answer. */
static void sweep(struct ctl_api *a, const struct timespec *now)
{
	size_t n = 0;
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct bucket *b = &a->buckets[i];
		unsigned limit = cfg_rate_limit(a->deps->cfg, b->action->name);
		refill(b, limit, now);
		if (b->tokens < limit)
			a->buckets[n++] = *b;
	}
	a->nbuckets = n;
}

/* NULL on ENOMEM, or when MAX_BUCKETS callers are all mid-burst. */
static struct bucket *bucket_for(struct ctl_api *a, const struct ctl_action *action,
	const char *who, unsigned limit, const struct timespec *now)
{
	for (size_t i = 0; i < a->nbuckets; i++)
		if (a->buckets[i].action == action && strcmp(a->buckets[i].who, who) == 0)
			return &a->buckets[i];
	if (a->nbuckets >= MAX_BUCKETS)
		sweep(a, now);
	if (a->nbuckets >= MAX_BUCKETS)
		return NULL;
	struct bucket *b = realloc(a->buckets, (a->nbuckets + 1) * sizeof(*b));
	if (b == NULL)
		return NULL;
	a->buckets = b;
	b = &a->buckets[a->nbuckets++];
	b->action = action;
	snprintf(b->who, sizeof(b->who), "%s", who);
	b->tokens = limit;
	b->last = *now;
	return b;
}

static enum ctl_err rate_limit(struct ctl_api *a, const struct call_ctx *x, struct ctl_call *call)
{
	unsigned limit = cfg_rate_limit(a->deps->cfg, x->action->name);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	struct bucket *b = bucket_for(a, x->action, x->who, limit, &now);
	if (b == NULL)
		return a->nbuckets >= MAX_BUCKETS ? ctl_fail(call, CTL_E_REQUEST_LIMIT_EXCEEDED,
			"Too many callers are using their full request rate at once.") : CTL_E_INTERNAL_ERROR;
	refill(b, limit, &now);
	if (b->tokens < 1.0)
		return ctl_fail(call, CTL_E_REQUEST_LIMIT_EXCEEDED, "Your current request times exceeds "
			"the frequency limit `%u` per second for `%s`.", limit, x->action->name);
	b->tokens -= 1.0;
	return CTL_E_OK;
}

/* The client's address: whom the rate limit counts when there are no SecretIds. */
static void client_ip(const struct ctl_req *r, char *out, size_t outlen)
{
	const struct sockaddr_storage *ss = &r->peer;
	const void *addr = NULL;
	if (ss->ss_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	else if (ss->ss_family == AF_INET)
		addr = &((const struct sockaddr_in *)ss)->sin_addr;
	if (addr == NULL || inet_ntop(ss->ss_family, addr, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "-");
}

/* --- v1 replay --- */

/* A v1 request is known by its Signature: a replay is the same signed request, while (SecretId,
 * Nonce, Timestamp) is not unique in practice (the Node SDK draws Nonce from 0-65535, so a busy
 * client repeats one within a second). The Signature is an HMAC, so 64 bits of a hash of it tell
 * requests apart as well as the whole would. */

/* The first time a correctly signed request comes, CTL_E_OK: it is now remembered. Forged
 * requests never get here, so they cannot fill the signer's table. */
static enum ctl_err check_replay(struct ctl_api *a, const char *signature, int64_t ts, time_t now,
	struct ctl_call *call)
{
	size_t key = (size_t)(call->cred - a->deps->creds->items);
	unsigned limit = a->deps->cfg->v1_replay_limit;
	int64_t wait = 0;
	switch (ctl_replay_check(a->replay, key, util_fnv1a(signature), ts, now, limit, &wait)) {
	case CTL_REPLAY_NEW:
		return CTL_E_OK;
	case CTL_REPLAY_SEEN:
		return ctl_fail(call, CTL_E_AUTH_SIGNATURE_FAILURE, "This signed request was already "
			"received; sign each request with a new `Nonce`.");
	case CTL_REPLAY_FULL:
		return ctl_fail(call, CTL_E_REQUEST_LIMIT_EXCEEDED, "This SecretId already has %u "
			"HmacSHA1/HmacSHA256-signed requests in the 5-minute timestamp window, its limit "
			"(control.v1_replay_limit); a new one is accepted in %lld s. TC3-HMAC-SHA256 calls "
			"are not limited this way.", limit, (long long)wait);
	case CTL_REPLAY_NOMEM:
		break;
	}
	return CTL_E_INTERNAL_ERROR;
}

/* --- authentication --- */

/* A common parameter: the X-TC-<name> header of a TC3 call, the <name> param of a v1 one. */
static const char *common(const struct ctl_req *r, const struct call_ctx *x, const char *name)
{
	char header[32];
	if (x->v1)
		return ctl_form_get(&x->form, name);
	snprintf(header, sizeof(header), "X-TC-%s", name);
	return ctl_req_header(r, header);
}

static enum ctl_err check_timestamp(const char *ts, time_t now, int64_t *out, struct ctl_call *call)
{
	uint64_t t;
	if (ts == NULL)
		return missing(call, "Timestamp");
	if (ctl_parse_uint(ts, &t) != 0 || t > (uint64_t)INT64_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Parameter `Timestamp` type error.");
	if ((int64_t)t > (int64_t)now + MAX_SKEW_S || (int64_t)t < (int64_t)now - MAX_SKEW_S)
		return ctl_fail(call, CTL_E_AUTH_SIGNATURE_EXPIRE, "The signature is expired, please "
			"request again. (timestamp %s, server time %lld)", ts, (long long)now);
	*out = (int64_t)t;
	return CTL_E_OK;
}

/* Checked last: only a correctly signed caller learns that its token is the problem. */
static enum ctl_err check_token(const char *token, struct ctl_call *call)
{
	if (token != NULL && *token != '\0')    /* no temporary credentials are issued here */
		return ctl_fail(call, CTL_E_AUTH_TOKEN_FAILURE,
			"The token is invalid: this endpoint issues no temporary credentials.");
	return CTL_E_OK;
}

static enum ctl_err find_cred(struct ctl_api *a, const char *secret_id, struct call_ctx *x,
	struct ctl_call *call)
{
	snprintf(x->secret_id, sizeof(x->secret_id), "%s", secret_id);
	snprintf(x->who, sizeof(x->who), "%s", secret_id);
	call->cred = ctl_creds_find(a->deps->creds, secret_id);
	return call->cred != NULL ? CTL_E_OK : CTL_E_AUTH_SECRET_ID_NOT_FOUND;
}

static enum ctl_err authenticate_tc3(struct ctl_api *a, const struct ctl_req *r, time_t now,
	struct call_ctx *x, struct ctl_call *call)
{
	const char *authz = ctl_req_header(r, "Authorization");
	struct ctl_tc3_auth auth;
	int64_t ts;
	enum ctl_err e;
	if (authz == NULL)
		return missing(call, "Authorization");
	if (ctl_tc3_parse(authz, &auth) != 0)
		return CTL_E_AUTH_INVALID_AUTHORIZATION;
	if ((e = check_timestamp(common(r, x, "Timestamp"), now, &ts, call)) != CTL_E_OK ||
	    (e = find_cred(a, auth.secret_id, x, call)) != CTL_E_OK ||
	    (e = ctl_tc3_check(r, &auth, call->cred->secret_key)) != CTL_E_OK)
		return e;
	return check_token(common(r, x, "Token"), call);
}

/* Nonce is documented as a positive integer, but the Node SDK sends Math.round(random * 65535),
 * which is 0 once in 131070 calls: 0 is let through rather than fail the official client. */
static enum ctl_err v1_required(const struct ctl_form *f, struct ctl_call *call)
{
	static const char *const required[] = { "SecretId", "Timestamp", "Nonce", "Signature" };
	uint64_t nonce;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (ctl_form_get(f, required[i]) == NULL)
			return missing(call, required[i]);
	if (ctl_parse_uint(ctl_form_get(f, "Nonce"), &nonce) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Parameter `Nonce` type error.");
	return CTL_E_OK;
}

static enum ctl_err authenticate_v1(struct ctl_api *a, const struct ctl_req *r, time_t now,
	struct call_ctx *x, struct ctl_call *call)
{
	const struct ctl_form *f = &x->form;
	const char *host = ctl_req_header(r, "Host");
	int64_t ts;
	enum ctl_err e;
	if ((e = v1_required(f, call)) != CTL_E_OK ||
	    (e = check_timestamp(ctl_form_get(f, "Timestamp"), now, &ts, call)) != CTL_E_OK ||
	    (e = find_cred(a, ctl_form_get(f, "SecretId"), x, call)) != CTL_E_OK ||
	    (e = ctl_v1_check(r->method, host != NULL ? host : "", f, call->cred->secret_key)) != CTL_E_OK ||
	    (e = check_replay(a, ctl_form_get(f, "Signature"), ts, now, call)) != CTL_E_OK)
		return e;
	return check_token(ctl_form_get(f, "Token"), call);
}

/* --- request style, language, action --- */

/* 1 when the Content-Type's media type (before any ';' parameters) is type. */
static int media_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	if (ct == NULL || strncasecmp(ct, type, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* TC3 names itself with its headers; without them a GET query or a form POST is v1. */
static int is_v1(const struct ctl_req *r)
{
	if (ctl_req_header(r, "Authorization") != NULL || ctl_req_header(r, "X-TC-Action") != NULL)
		return 0;
	if (strcmp(r->method, "GET") == 0)
		return 1;
	return strcmp(r->method, "POST") == 0 &&
		media_type_is(ctl_req_header(r, "Content-Type"), "application/x-www-form-urlencoded");
}

/* A v1 call's params, with the common ones among them, decoded into x->form. */
static enum ctl_err load_v1_form(const struct ctl_req *r, struct call_ctx *x, struct ctl_call *call)
{
	int get = strcmp(r->method, "GET") == 0;
	if ((x->v1 = is_v1(r)) == 0)
		return CTL_E_OK;
	const char *text = get ? r->query : r->body != NULL ? r->body : "";
	size_t len = get ? strlen(r->query) : r->body != NULL ? r->body_len : 0;
	if (len > V1_MAX_BYTES)
		return ctl_fail(call, CTL_E_AUTH_SIGNATURE_FAILURE, "%s", v1_too_large);
	if (ctl_form_parse(text, len, &x->form) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "The %s is not valid "
			"x-www-form-urlencoded text.", get ? "query string" : "form body");
	for (size_t i = 0; v1_common[i] != NULL; i++)
		if (ctl_form_count(&x->form, v1_common[i]) > 1)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Parameter `%s` is given more "
				"than once.", v1_common[i]);
	return CTL_E_OK;
}

static enum ctl_err pick_language(const struct ctl_req *r, const struct call_ctx *x,
	struct ctl_call *call)
{
	const char *lang = common(r, x, "Language");
	if (ctl_lang_parse(lang, &call->lang) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "The value `%s` of parameter "
			"`Language` is not supported; use `zh-CN` or `en-US`.", lang);
	return CTL_E_OK;
}

static enum ctl_err find_action(const struct ctl_req *r, struct call_ctx *x, struct ctl_call *call)
{
	const char *version = common(r, x, "Version");
	x->action_name = common(r, x, "Action");
	if (x->action_name == NULL)
		return missing(call, "Action");
	if (version == NULL)
		return missing(call, "Version");
	if (strcmp(version, API_VERSION) != 0)
		return ctl_fail(call, CTL_E_NO_SUCH_VERSION, "The API version `%s` does not exist; "
			"this endpoint serves `" API_VERSION "`.", version);
	x->action = ctl_action_find(x->action_name);
	return x->action != NULL ? CTL_E_OK : CTL_E_INVALID_ACTION;
}

/* --- the call --- */

static enum ctl_err json_body(const struct ctl_req *r, struct ctl_call *call)
{
	const char *ct = ctl_req_header(r, "Content-Type");
	json_error_t je;
	if (!media_type_is(ct, "application/json"))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "TC3 POST requests must be "
			"`Content-Type: application/json`, not `%s`.", ct ? ct : "");
	call->params = json_loadb(r->body != NULL ? r->body : "", r->body != NULL ? r->body_len : 0,
		JSON_REJECT_DUPLICATES, &je);
	if (call->params == NULL || !json_is_object(call->params))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "The request body is not a JSON object%s%s",
			call->params ? "." : ": ", call->params ? "" : je.text);
	return CTL_E_OK;
}

/* TC3 POST: the JSON body. TC3 GET: the query's params. v1: the form's, less the common ones. */
static enum ctl_err parse_params(const struct ctl_req *r, struct call_ctx *x, struct ctl_call *call)
{
	char err[sizeof(call->message)];
	if (!x->v1 && strcmp(r->method, "GET") != 0)
		return json_body(r, call);
	if (!x->v1 && ctl_form_parse(r->query, strlen(r->query), &x->form) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER,
			"The query string is not valid x-www-form-urlencoded text.");
	call->params = ctl_form_to_json(&x->form, x->v1 ? v1_common : NULL, err, sizeof(err));
	return call->params != NULL ? CTL_E_OK : ctl_fail(call, CTL_E_INVALID_PARAMETER, "%s", err);
}

static enum ctl_err authenticate(struct ctl_api *a, const struct ctl_req *r, time_t now,
	struct call_ctx *x, struct ctl_call *call)
{
	if (a->deps->cfg->auth == CFG_AUTH_NONE) {
		client_ip(r, x->who, sizeof(x->who));
		return CTL_E_OK;
	}
	return x->v1 ? authenticate_v1(a, r, now, x, call) : authenticate_tc3(a, r, now, x, call);
}

static enum ctl_err process(struct ctl_api *a, const struct ctl_req *r, time_t now,
	struct call_ctx *x, struct ctl_call *call)
{
	enum ctl_err e;
	if ((e = load_v1_form(r, x, call)) != CTL_E_OK || (e = pick_language(r, x, call)) != CTL_E_OK)
		return e;
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0)
		return ctl_fail(call, CTL_E_UNSUPPORTED_PROTOCOL, "The HTTP method `%s` is not "
			"supported; use GET or POST.", r->method);
	if ((e = authenticate(a, r, now, x, call)) != CTL_E_OK ||
	    (e = find_action(r, x, call)) != CTL_E_OK || (e = rate_limit(a, x, call)) != CTL_E_OK ||
	    (e = parse_params(r, x, call)) != CTL_E_OK)
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

static json_t *error_object(enum ctl_err e, const char *message, enum ctl_lang lang)
{
	char text[sizeof(((struct ctl_call *)0)->message) + 256];
	ctl_err_text(e, lang, message, text, sizeof(text));
	return json_pack("{s:{s:s, s:s}}", "Error", "Code", ctl_err_code(e), "Message", text);
}

char *ctl_api_error_body(enum ctl_err e, const char *message, enum ctl_lang lang)
{
	char request_id[CTL_UUID_LEN + 1];
	if (ctl_uuid_v4(request_id) != 0)
		return NULL;
	return envelope(error_object(e, message, lang), request_id);
}

static void log_call(const struct call_ctx *x, const struct ctl_call *call, enum ctl_err e,
	const char *request_id)
{
	/* log_write() escapes the fields (a decoded v1 param can hold a newline) */
	LOG_INFO("api", "action=%s code=%s secret_id=%s request_id=%s%s%s",
		x->action_name != NULL && x->action_name[0] ? x->action_name : "-",
		e == CTL_E_OK ? "OK" : ctl_err_code(e),
		x->secret_id[0] ? x->secret_id : "-", request_id,
		call->message[0] ? " message=" : "", call->message);
}

uint64_t ctl_api_calls(const struct ctl_api *a, size_t row, enum ctl_err e)
{
	if (row > ctl_action_count() || (unsigned)e >= CTL_E__COUNT)
		return 0;
	return a->calls[row * CTL_E__COUNT + e];
}

void ctl_api_count_refused(struct ctl_api *a, enum ctl_err e)
{
	if ((unsigned)e < CTL_E__COUNT)
		a->calls[ctl_action_count() * CTL_E__COUNT + e]++;
}

/* A call that failed before its action was looked up (AuthFailure, say) still counts under the
 * action it named, when this endpoint has one by that name. */
static void count_call(struct ctl_api *a, const struct ctl_req *r, const struct call_ctx *x,
	enum ctl_err e)
{
	const struct ctl_action *action = x->action;
	const char *name;
	if (action == NULL && (name = common(r, x, "Action")) != NULL)
		action = ctl_action_find(name);
	a->calls[(action != NULL ? ctl_action_index(action) : ctl_action_count()) * CTL_E__COUNT + e]++;
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
	log_call(&x, &call, e, request_id);
	count_call(a, r, &x, e);
	json_decref(call.params);
	ctl_form_free(&x.form);
	if (e != CTL_E_OK) {
		json_decref(call.result);
		return envelope(error_object(e, call.message, call.lang), request_id);
	}
	return envelope(call.result, request_id);
}

size_t ctl_api_body_allowance(const struct ctl_api *a, const struct ctl_req *head)
{
	const struct cfg *cfg = a->deps->cfg;
	const char *authz = ctl_req_header(head, "Authorization");
	struct ctl_tc3_auth auth;
	if (cfg->auth == CFG_AUTH_NONE || (authz != NULL && ctl_tc3_parse(authz, &auth) == 0 &&
	    ctl_creds_find(a->deps->creds, auth.secret_id) != NULL))
		return cfg->max_request_size;
	return cfg->max_request_size < V1_MAX_BYTES ? cfg->max_request_size : V1_MAX_BYTES;
}

char *ctl_api_refuse_body(struct ctl_api *a, const struct ctl_req *head, time_t now)
{
	static char empty[1];
	struct ctl_req r = *head;
	if (is_v1(head)) {
		ctl_api_count_refused(a, CTL_E_AUTH_SIGNATURE_FAILURE);
		return ctl_api_error_body(CTL_E_AUTH_SIGNATURE_FAILURE, v1_too_large, CTL_LANG_EN_US);
	}
	/* Its authentication fails before the signature, the one check that reads the body (this
	 * head names no known SecretId): judged without the body, it gets the same answer. */
	r.body = empty;
	r.body_len = 0;
	return ctl_api_handle(a, &r, now);
}
