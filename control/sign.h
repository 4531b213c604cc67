/* control/sign.h - Tencent Cloud API request signatures: TC3-HMAC-SHA256 (spec 1.2) and legacy v1
 * (spec 1.3), shared by the server (verification) and gaapctl (signing). Functions over a
 * struct ctl_req or its decoded params; no I/O. Keys are borrowed for the call; the one state kept
 * is each thread's last derived TC3 signing key (with the secret, date and service it came from).
 * Output buffers are the caller's.
 */
#ifndef GAAPD_CTL_SIGN_H
#define GAAPD_CTL_SIGN_H

#include <stddef.h>
#include <time.h>

#include "errors.h"
#include "req.h"

#define CTL_SECRET_ID_MAX 128

/* The fields of "TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=hex". */
struct ctl_tc3_auth {
	char secret_id[CTL_SECRET_ID_MAX];
	char date[16];              /* yyyy-mm-dd */
	char service[128];          /* taken from the header: SDKs disagree (spec 1.2) */
	char signed_headers[512];   /* lower-case, ';'-separated as sent */
	char signature[65];         /* lower-case hex */
};

/* 0, or -1 when value is not in the TC3 format (-> AuthFailure.InvalidAuthorization). */
int ctl_tc3_parse(const char *value, struct ctl_tc3_auth *out);

/* The canonical request of spec 1.2 for r with a's SignedHeaders; the host value with or without
 * its ":port" (SDKs disagree). Returns a malloc'd string the caller frees, or NULL (ENOMEM, or a
 * signed header that the request lacks). */
char *ctl_tc3_canonical(const struct ctl_req *r, const char *signed_headers, int host_keeps_port);

/* hex(HMAC chain over string-to-sign) into out[65]. timestamp as sent in X-TC-Timestamp. */
int ctl_tc3_sign(const char *secret_key, const char *date, const char *service,
	const char *timestamp, const char *canonical, char out[65]);

/* UTC yyyy-mm-dd of a Unix time into out[11]. */
void ctl_utc_date(time_t t, char out[11]);

/* Check r's signature against secret_key: tries the host with and without the port.
 * CTL_E_OK, or CTL_E_AUTH_SIGNATURE_FAILURE. Constant-time comparison. */
enum ctl_err ctl_tc3_check(const struct ctl_req *r, const struct ctl_tc3_auth *a,
	const char *secret_key);

/* Lower-case hex SHA-256 of data into out[65]. */
void ctl_sha256_hex(const void *data, size_t len, char out[65]);

/* The Authorization value for these fields (the format ctl_tc3_parse() accepts), for signers.
 * 0, or -1 when outlen is too small. */
int ctl_tc3_authorization(const char *secret_id, const char *date, const char *service,
	const char *signed_headers, const char signature[65], char *out, size_t outlen);

/* Legacy v1 signature (spec 1.3). Params are n key/value pairs, values raw (decoded); any
 * "Signature" key is left out. method is used as given (callers pass "GET"/"POST"); host as the
 * client wrote it, port included. */
#define CTL_V1_SIG_MAX 45           /* base64 of a SHA-256 HMAC, with its NUL */

/* "METHOD" host "/?" k=v&... with keys in byte order: malloc'd, caller frees; NULL on ENOMEM. */
char *ctl_v1_string_to_sign(const char *method, const char *host, const char *const *keys,
	const char *const *values, size_t n);
/* base64 HMAC of the string to sign into out. sig_method "HmacSHA256" selects SHA-256; NULL or
 * anything else means HmacSHA1, as the spec says for an absent SignatureMethod. 0, or -1 (ENOMEM,
 * outlen < CTL_V1_SIG_MAX). */
int ctl_v1_sign(const char *method, const char *host, const char *const *keys,
	const char *const *values, size_t n, const char *sig_method, const char *secret_key,
	char *out, size_t outlen);

/* Check the v1 Signature of a request: f holds every decoded param, Signature among them (it is
 * left out of the string to sign); SignatureMethod picks the HMAC as ctl_v1_sign() does; method and
 * host as received. CTL_E_OK, or CTL_E_AUTH_SIGNATURE_FAILURE (also when f has no Signature).
 * Constant-time comparison. */
enum ctl_err ctl_v1_check(const char *method, const char *host, const struct ctl_form *f,
	const char *secret_key);

#endif
