/* control/sign.c - TC3-HMAC-SHA256 (spec 1.2) and legacy v1 (spec 1.3) signatures.
 * Canonical strings are built in a small growable buffer; HMACs use OpenSSL 3's one-shot HMAC()
 * (HMAC_CTX_* is deprecated); every signature comparison is CRYPTO_memcmp().
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sign.h"

#define TC3_ALGORITHM "TC3-HMAC-SHA256"
#define TC3_TERMINATOR "tc3_request"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A growable string. An allocation failure sticks, so builders check once, in buf_take(). */
struct buf {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

static int buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap != 0 ? b->cap : 256;
	char *p;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed || (b->len + n + 1 > b->cap && buf_grow(b, b->len + n + 1) != 0))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* The finished string, which the caller frees; NULL (and nothing to free) after a failure. */
static char *buf_take(struct buf *b)
{
	if (b->failed || b->p == NULL) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	return b->p;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void ctl_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	/* Fails only without memory; an empty hash then matches no signature. */
	if (EVP_Digest(data != NULL ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		out[0] = '\0';
		return;
	}
	hex(md, sizeof(md), out);
}

static int hmac256(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 0;
	if (klen > INT_MAX)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) == NULL)
		return -1;
	return n == 32 ? 0 : -1;
}

/* SecretSigning of spec 1.2 into k[32]. The derived keys are secrets too: cleansed after use. */
static int derive_signing_key(const char *secret_key, const char *date, const char *service,
	unsigned char k[32])
{
	size_t n = strlen(secret_key);
	unsigned char t[32];
	char *tc3 = malloc(n + 4);
	int rc = -1;
	if (tc3 == NULL)
		return -1;
	memcpy(tc3, "TC3", 3);
	memcpy(tc3 + 3, secret_key, n + 1);
	/* Separate buffers: HMAC() is not documented to allow its output to alias its key. */
	if (hmac256(tc3, n + 3, date, t) == 0 && hmac256(t, sizeof(t), service, k) == 0
	    && hmac256(k, 32, TC3_TERMINATOR, t) == 0) {
		memcpy(k, t, sizeof(t));
		rc = 0;
	}
	OPENSSL_cleanse(t, sizeof(t));
	OPENSSL_cleanse(tc3, n + 3);
	free(tc3);
	return rc;
}

/* The last signing key this thread derived: a key changes once a day per secret and service, and
 * each derivation is three HMACs (OpenSSL 3's one-shot HMAC() fetches its algorithm every call:
 * some 50,000 instructions each). Secrets longer than the buffer are not kept. */
#define SIGNING_CACHE_SECRET 128
static _Thread_local struct {
	char secret[SIGNING_CACHE_SECRET];
	char date[11];
	char service[32];
	unsigned char key[32];
	int valid;
} signing_cache;

static int signing_key(const char *secret_key, const char *date, const char *service,
	unsigned char k[32])
{
	int cacheable = strlen(secret_key) < sizeof(signing_cache.secret) &&
		strlen(date) < sizeof(signing_cache.date) &&
		strlen(service) < sizeof(signing_cache.service);
	if (cacheable && signing_cache.valid && strcmp(signing_cache.secret, secret_key) == 0 &&
	    strcmp(signing_cache.date, date) == 0 && strcmp(signing_cache.service, service) == 0) {
		memcpy(k, signing_cache.key, 32);
		return 0;
	}
	if (derive_signing_key(secret_key, date, service, k) != 0)
		return -1;
	if (cacheable) {
		OPENSSL_cleanse(&signing_cache, sizeof(signing_cache));
		strcpy(signing_cache.secret, secret_key);
		strcpy(signing_cache.date, date);
		strcpy(signing_cache.service, service);
		memcpy(signing_cache.key, k, 32);
		signing_cache.valid = 1;
	}
	return 0;
}

static char *string_to_sign(const char *timestamp, const char *date, const char *service,
	const char *canonical)
{
	struct buf b = { 0 };
	char hash[65];
	ctl_sha256_hex(canonical, strlen(canonical), hash);
	buf_str(&b, TC3_ALGORITHM "\n");
	buf_str(&b, timestamp);
	buf_str(&b, "\n");
	buf_str(&b, date);
	buf_str(&b, "/");
	buf_str(&b, service);
	buf_str(&b, "/" TC3_TERMINATOR "\n");
	buf_str(&b, hash);
	return buf_take(&b);
}

int ctl_tc3_sign(const char *secret_key, const char *date, const char *service,
	const char *timestamp, const char *canonical, char out[65])
{
	unsigned char k[32], sig[32];
	char *sts = NULL;
	int rc = -1;
	out[0] = '\0';
	if (signing_key(secret_key, date, service, k) != 0)
		goto out;
	if ((sts = string_to_sign(timestamp, date, service, canonical)) == NULL)
		goto out;
	if (hmac256(k, sizeof(k), sts, sig) != 0)
		goto out;
	hex(sig, sizeof(sig), out);
	rc = 0;
out:
	OPENSSL_cleanse(k, sizeof(k));
	free(sts);
	return rc;
}

void ctl_utc_date(time_t t, char out[11])
{
	struct tm tm;
	/* Years past 9999 do not fit: an empty date then matches no scope. */
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		out[0] = '\0';
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of host without a ":port" suffix; "[v6]:port" keeps its brackets, a bare v6 address
 * (more than one ':') is left whole. */
static size_t host_len(const char *h, size_t n)
{
	const char *colon = NULL;
	if (n > 0 && h[0] == '[') {
		const char *close = memchr(h, ']', n);
		if (close == NULL)
			return n;
		colon = close + 1 < h + n ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return n;
	} else {
		for (size_t i = 0; i < n; i++)
			if (h[i] == ':') {
				if (colon != NULL)
					return n;
				colon = h + i;
			}
	}
	if (colon == NULL)
		return n;
	for (const char *d = colon + 1; d < h + n; d++)
		if (*d < '0' || *d > '9')
			return n;
	return (size_t)(colon - h);
}

/* "name:" + lowercase(trim(value)) + "\n"; -1 when r lacks the header. */
static int add_header(struct buf *b, const struct ctl_req *r, const char *name, int keeps_port)
{
	const char *v = ctl_req_header(r, name);
	size_t n, at;
	if (v == NULL)
		return -1;
	while (is_space(*v))
		v++;
	n = strlen(v);
	while (n > 0 && is_space(v[n - 1]))
		n--;
	if (!keeps_port && strcasecmp(name, "host") == 0)
		n = host_len(v, n);
	buf_str(b, name);
	buf_str(b, ":");
	at = b->len;
	buf_add(b, v, n);
	/* ASCII only: locale-dependent tolower() could disagree with the signer. */
	for (size_t i = at; !b->failed && i < b->len; i++)
		if (b->p[i] >= 'A' && b->p[i] <= 'Z')
			b->p[i] = (char)(b->p[i] - 'A' + 'a');
	buf_str(b, "\n");
	return 0;
}

/* One line per name in signed_headers, in the order given: an unsorted list then simply fails
 * to match the client's signature. -1 on an empty name or a header the request lacks. */
static int add_headers(struct buf *b, const struct ctl_req *r, const char *signed_headers, int keeps_port)
{
	const char *p = signed_headers;
	char name[sizeof(((struct ctl_tc3_auth *)0)->signed_headers)];
	for (;;) {
		size_t n = strcspn(p, ";");
		if (n == 0 || n >= sizeof(name))
			return -1;
		memcpy(name, p, n);
		name[n] = '\0';
		if (add_header(b, r, name, keeps_port) != 0)
			return -1;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

static void payload_hash(const struct ctl_req *r, char out[65])
{
	const char *h = ctl_req_header(r, "X-TC-Content-SHA256");
	if (h != NULL && strcmp(h, UNSIGNED_PAYLOAD) == 0)
		ctl_sha256_hex(UNSIGNED_PAYLOAD, strlen(UNSIGNED_PAYLOAD), out);
	else
		ctl_sha256_hex(r->body, r->body != NULL ? r->body_len : 0, out);
}

char *ctl_tc3_canonical(const struct ctl_req *r, const char *signed_headers, int host_keeps_port)
{
	struct buf b = { 0 };
	char hash[65];
	buf_str(&b, r->method);
	buf_str(&b, "\n/\n");
	/* POST signs an empty query even if one was sent; GET signs it as received (spec 1.2). */
	if (strcmp(r->method, "GET") == 0 && r->query != NULL)
		buf_str(&b, r->query);
	buf_str(&b, "\n");
	if (add_headers(&b, r, signed_headers, host_keeps_port) != 0) {
		free(b.p);
		return NULL;
	}
	buf_str(&b, "\n");
	buf_str(&b, signed_headers);
	buf_str(&b, "\n");
	payload_hash(r, hash);
	buf_str(&b, hash);
	return buf_take(&b);
}

static int skip_prefix(const char **p, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(*p, prefix, n) != 0)
		return 0;
	*p += n;
	return 1;
}

/* ", " between fields: SDKs send one space, hand-written clients sometimes none. */
static int skip_separator(const char **p)
{
	if (**p != ',')
		return 0;
	(*p)++;
	while (**p == ' ')
		(*p)++;
	return 1;
}

/* Copy the run of visible ASCII other than ',' at *p into dst: -1 when empty or too long. */
static int take(const char **p, char *dst, size_t size)
{
	const unsigned char *s = (const unsigned char *)*p;
	size_t n = 0;
	while (s[n] > ' ' && s[n] < 0x7f && s[n] != ',')
		n++;
	if (n == 0 || n >= size)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	*p += n;
	return 0;
}

/* Split s in place at each sep into exactly n parts; -1 on more or fewer. */
static int split(char *s, char sep, char **part, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		part[i] = s;
		if ((s = strchr(s, sep)) == NULL)
			return -1;
		*s++ = '\0';
	}
	part[n - 1] = s;
	return strchr(s, sep) == NULL ? 0 : -1;
}

static int copy_field(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n == 0 || n >= size)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int is_date(const char *s)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

/* ID/DATE/SERVICE/tc3_request */
static int parse_credential(const char **p, struct ctl_tc3_auth *out)
{
	char cred[CTL_SECRET_ID_MAX + sizeof(out->date) + sizeof(out->service) + sizeof(TC3_TERMINATOR)];
	char *part[4];
	if (take(p, cred, sizeof(cred)) != 0 || split(cred, '/', part, 4) != 0)
		return -1;
	if (copy_field(out->secret_id, sizeof(out->secret_id), part[0]) != 0 || !is_date(part[1]))
		return -1;
	memcpy(out->date, part[1], 11);
	if (copy_field(out->service, sizeof(out->service), part[2]) != 0)
		return -1;
	return strcmp(part[3], TC3_TERMINATOR) == 0 ? 0 : -1;
}

/* A header-name token character, lower case only: the canonical form requires lower case. */
static int header_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		|| (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int valid_signed_headers(const char *s)
{
	size_t run = 0;
	for (; *s != '\0'; s++) {
		if (*s == ';' && run > 0)
			run = 0;
		else if (header_char(*s))
			run++;
		else
			return 0;
	}
	return run > 0;
}

static int is_hex64(const char *s)
{
	size_t n = 0;
	while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))
		n++;
	return n == 64 && s[n] == '\0';
}

static int parse_fields(const char *p, struct ctl_tc3_auth *out)
{
	if (!skip_prefix(&p, TC3_ALGORITHM " "))
		return -1;
	while (*p == ' ')
		p++;
	if (!skip_prefix(&p, "Credential=") || parse_credential(&p, out) != 0)
		return -1;
	if (!skip_separator(&p) || !skip_prefix(&p, "SignedHeaders=")
	    || take(&p, out->signed_headers, sizeof(out->signed_headers)) != 0
	    || !valid_signed_headers(out->signed_headers))
		return -1;
	if (!skip_separator(&p) || !skip_prefix(&p, "Signature=")
	    || take(&p, out->signature, sizeof(out->signature)) != 0 || !is_hex64(out->signature))
		return -1;
	while (is_space(*p))
		p++;
	return *p == '\0' ? 0 : -1;
}

int ctl_tc3_parse(const char *value, struct ctl_tc3_auth *out)
{
	memset(out, 0, sizeof(*out));
	if (parse_fields(value, out) == 0)
		return 0;
	memset(out, 0, sizeof(*out));    /* no half-parsed fields for a careless caller */
	return -1;
}

static int has_token(const char *list, const char *token)
{
	size_t n = strlen(token);
	for (const char *p = list;; p++) {
		if (strncmp(p, token, n) == 0 && (p[n] == ';' || p[n] == '\0'))
			return 1;
		if ((p = strchr(p, ';')) == NULL)
			return 0;
	}
}

/* The scope date must be the UTC date of X-TC-Timestamp (a local-time signer breaks at midnight). */
static int date_matches(const char *timestamp, const char *date)
{
	char utc[11];
	long long t = 0;
	size_t n = timestamp != NULL ? strlen(timestamp) : 0;
	if (n == 0 || n > 18 || strspn(timestamp, "0123456789") != n)
		return 0;
	t = strtoll(timestamp, NULL, 10);
	ctl_utc_date((time_t)t, utc);
	return utc[0] != '\0' && strcmp(utc, date) == 0;
}

static int signature_matches(const struct ctl_req *r, const struct ctl_tc3_auth *a,
	const char *secret_key, const char *timestamp, int keeps_port)
{
	char sig[65];
	char *canonical = ctl_tc3_canonical(r, a->signed_headers, keeps_port);
	int ok;
	if (canonical == NULL)
		return 0;
	ok = ctl_tc3_sign(secret_key, a->date, a->service, timestamp, canonical, sig) == 0
		&& CRYPTO_memcmp(sig, a->signature, 64) == 0;
	free(canonical);
	return ok;
}

enum ctl_err ctl_tc3_check(const struct ctl_req *r, const struct ctl_tc3_auth *a,
	const char *secret_key)
{
	const char *timestamp = ctl_req_header(r, "X-TC-Timestamp");
	if (!has_token(a->signed_headers, "content-type") || !has_token(a->signed_headers, "host"))
		return CTL_E_AUTH_SIGNATURE_FAILURE;
	if (!date_matches(timestamp, a->date))
		return CTL_E_AUTH_SIGNATURE_FAILURE;
	/* SDKs disagree on the canonical host (spec 1.2): Node drops the port, Go/Python keep it. */
	if (signature_matches(r, a, secret_key, timestamp, 0)
	    || signature_matches(r, a, secret_key, timestamp, 1))
		return CTL_E_OK;
	return CTL_E_AUTH_SIGNATURE_FAILURE;
}

int ctl_tc3_authorization(const char *secret_id, const char *date, const char *service,
	const char *signed_headers, const char signature[65], char *out, size_t outlen)
{
	int n = snprintf(out, outlen, TC3_ALGORITHM " Credential=%s/%s/%s/" TC3_TERMINATOR
		", SignedHeaders=%s, Signature=%s", secret_id, date, service, signed_headers, signature);
	return n >= 0 && (size_t)n < outlen ? 0 : -1;
}

struct kv {
	const char *k;
	const char *v;
};

/* Byte order (strcmp compares as unsigned char): "InstanceIds.12" before "InstanceIds.2". */
static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c != 0 ? c : strcmp(x->v, y->v);
}

char *ctl_v1_string_to_sign(const char *method, const char *host, const char *const *keys,
	const char *const *values, size_t n)
{
	struct kv *kv = calloc(n != 0 ? n : 1, sizeof(*kv));
	struct buf b = { 0 };
	size_t m = 0;
	if (kv == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], "Signature") != 0) {
			kv[m].k = keys[i];
			kv[m].v = values[i];
			m++;
		}
	qsort(kv, m, sizeof(*kv), kv_cmp);
	buf_str(&b, method);
	buf_str(&b, host);
	buf_str(&b, "/?");
	for (size_t i = 0; i < m; i++) {
		buf_str(&b, i > 0 ? "&" : "");
		buf_str(&b, kv[i].k);
		buf_str(&b, "=");
		buf_str(&b, kv[i].v);
	}
	free(kv);
	return buf_take(&b);
}

int ctl_v1_sign(const char *method, const char *host, const char *const *keys,
	const char *const *values, size_t n, const char *sig_method, const char *secret_key,
	char *out, size_t outlen)
{
	const EVP_MD *md = sig_method != NULL && strcmp(sig_method, "HmacSHA256") == 0
		? EVP_sha256() : EVP_sha1();
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	size_t klen = strlen(secret_key);
	char *sts = NULL;
	int rc = -1;
	if (outlen < CTL_V1_SIG_MAX || klen > INT_MAX)
		return -1;
	if ((sts = ctl_v1_string_to_sign(method, host, keys, values, n)) == NULL)
		return -1;
	if (HMAC(md, secret_key, (int)klen, (const unsigned char *)sts, strlen(sts), mac, &len) != NULL) {
		EVP_EncodeBlock((unsigned char *)out, mac, (int)len);
		rc = 0;
	}
	free(sts);
	return rc;
}

enum ctl_err ctl_v1_check(const char *method, const char *host, const struct ctl_form *f,
	const char *secret_key)
{
	const char *given = ctl_form_get(f, "Signature");
	char sig[CTL_V1_SIG_MAX];
	size_t len;
	if (given == NULL || ctl_v1_sign(method, host, f->keys, f->values, f->n,
	    ctl_form_get(f, "SignatureMethod"), secret_key, sig, sizeof(sig)) != 0)
		return CTL_E_AUTH_SIGNATURE_FAILURE;
	/* The lengths are public (SignatureMethod sets them); the bytes are compared in constant time. */
	len = strlen(sig);
	if (strlen(given) != len || CRYPTO_memcmp(sig, given, len) != 0)
		return CTL_E_AUTH_SIGNATURE_FAILURE;
	return CTL_E_OK;
}
