/* control/api.h - one API 3.0 call: request style (TC3 headers or v1 params), authentication,
 * replay and rate limits, the business parameters as JSON, dispatch to the action, and the JSON
 * envelope in the caller's language. Pure with respect to I/O: the server hands in a parsed request
 * and sends back the body this returns.
 * Ownership: ctl_api_new() borrows deps (ctl.h) for its lifetime and owns the rate-limit buckets and
 *   the v1 requests it has seen, per SecretId (both bounded); ctl_api_handle() returns a malloc'd JSON text the
 *   caller frees. Threads: the control thread only.
 */
#ifndef GAAPD_CTL_API_H
#define GAAPD_CTL_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ctl.h"
#include "errors.h"
#include "req.h"

/* The largest v1 query or form (GET requests are documented as <= 32 KB); a larger one gets
 * Tencent's own refusal (spec 1.3). It is also what a request without known credentials may make
 * the server buffer of its body (ctl_api_body_allowance()). */
#define CTL_API_V1_MAX_BYTES 32768

struct ctl_api;
struct ctl_cred;

/* What an action sees of its call. */
struct ctl_call {
	struct ctl_api *api;
	const struct ctl_deps *deps;
	const struct ctl_cred *cred;    /* who signed; NULL under auth: none */
	json_t *params;                 /* the business parameters as a JSON object (borrowed) */
	json_t *result;                 /* the action fills this object on success (owned by the call) */
	char message[256];              /* a precise error message (English); "" = the code's default */
	enum ctl_lang lang;             /* X-TC-Language / Language, for actions that word their own */
};

typedef enum ctl_err (*ctl_action_fn)(struct ctl_call *call);

struct ctl_api *ctl_api_new(const struct ctl_deps *deps);
void ctl_api_destroy(struct ctl_api *a);
/* After deps->creds changed (a reload), before the next call: the v1 replay tables of SecretIds
 * still there are kept, those of removed ones dropped (replay.h). On ENOMEM it logs, and v1 calls
 * are refused (InternalError) until a later reconfigure succeeds. */
void ctl_api_reconfigure(struct ctl_api *a);
char *ctl_api_handle(struct ctl_api *a, const struct ctl_req *r, time_t now);
/* The envelope of an error answered before a request could be parsed (size limits). */
char *ctl_api_error_body(enum ctl_err e, const char *message, enum ctl_lang lang);

/* Before a body is read: how many bytes of it are worth buffering for a request with this head
 * (its body not read yet). control.max_request_size when the head names credentials this endpoint
 * knows (an Authorization in the TC3 format with a known SecretId), or under auth: none; else at
 * most CTL_API_V1_MAX_BYTES: a v1 call, whose SecretId is in its form, is refused past that size
 * anyway, and a TC3 call with unknown credentials is refused whatever its body holds. */
size_t ctl_api_body_allowance(const struct ctl_api *a, const struct ctl_req *head);
/* The answer to a request whose body would exceed ctl_api_body_allowance(), decided from its head
 * alone: for a v1 call, Tencent's refusal of a large one; else ctl_api_handle() of the head with an
 * empty body, which fails authentication before the body matters (logged and counted as that
 * call; the v1 refusal is counted as one refused unparsed). A malloc'd JSON text the caller frees,
 * or NULL (ENOMEM). */
char *ctl_api_refuse_body(struct ctl_api *a, const struct ctl_req *head, time_t now);

/* Calls answered so far with code e (CTL_E_OK: success), for metrics. Row i < ctl_action_count()
 * is ctl_action_at(i)'s calls; row ctl_action_count() counts calls that named no action of this
 * endpoint (none, or an unknown one: clients cannot grow the set) and requests refused unparsed. */
uint64_t ctl_api_calls(const struct ctl_api *a, size_t row, enum ctl_err e);
/* Counts a request the server refused before it could be parsed (ctl_api_error_body()). */
void ctl_api_count_refused(struct ctl_api *a, enum ctl_err e);

/* Set call->message with printf formatting; returns e, for `return ctl_fail(call, E, ...)`. */
enum ctl_err ctl_fail(struct ctl_call *call, enum ctl_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
