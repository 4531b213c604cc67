/* daemon/etcd/json.c - the gateway's JSON: keys and values in base64, int64s as strings (the
 *   proto3 JSON mapping), absent fields meaning zero, and its two shapes of error answer.
 * Threads: pure functions, any thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "etcd_int.h"

char *etcd_b64(const void *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

int etcd_unb64(const char *s, char **out, size_t *n)
{
	size_t len = strlen(s), pad = 0;
	*out = NULL;
	if (len % 4 != 0 || len > (size_t)INT32_MAX)
		return -1;
	char *buf = malloc(len / 4 * 3 + 1);
	if (buf == NULL)
		return -1;
	int r = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)s, (int)len);
	if (r < 0) {
		free(buf);
		return -1;
	}
	/* EVP_DecodeBlock counts the bytes padding stands for; they are not data. */
	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	*n = (size_t)r - pad;
	buf[*n] = '\0';
	*out = buf;
	return 0;
}

int64_t etcd_i64(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v))
		return (int64_t)strtoll(json_string_value(v), NULL, 10);
	return 0;
}

int etcd_set_i64(json_t *o, const char *name, int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%" PRId64, v);
	return json_object_set_new(o, name, json_string(buf));
}

int etcd_set_key(json_t *o, const char *name, const char *key)
{
	char *b = etcd_b64(key, strlen(key));
	if (b == NULL)
		return -1;
	int rc = json_object_set_new(o, name, json_string(b));
	free(b);
	return rc;
}

/* The prefix's range end: the key with its last byte below 0xff incremented and what follows
 * dropped; "\0" (to the end of the key space) when there is none. */
int etcd_set_range(json_t *o, const char *key, int match)
{
	if (etcd_set_key(o, "key", key) != 0)
		return -1;
	if (match != ETCD_PREFIX)
		return 0;
	size_t n = strlen(key);
	unsigned char *end = (unsigned char *)strdup(key);
	if (end == NULL)
		return -1;
	while (n > 0 && end[n - 1] == 0xff)
		n--;
	char *b;
	if (n == 0) {
		b = etcd_b64("", 1);
	} else {
		end[n - 1]++;
		b = etcd_b64(end, n);
	}
	free(end);
	if (b == NULL)
		return -1;
	int rc = json_object_set_new(o, "range_end", json_string(b));
	free(b);
	return rc;
}

void etcd_kv_clear(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof *kv);
}

int etcd_kv_from(const json_t *j, struct etcd_kv *kv)
{
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));
	size_t klen;
	memset(kv, 0, sizeof *kv);
	if (!json_is_object(j) || k == NULL || etcd_unb64(k, &kv->key, &klen) != 0)
		goto bad;
	if (etcd_unb64(v != NULL ? v : "", &kv->value, &kv->vlen) != 0)
		goto bad;
	kv->create_rev = etcd_i64(j, "create_revision");
	kv->mod_rev = etcd_i64(j, "mod_revision");
	kv->version = etcd_i64(j, "version");
	kv->lease = etcd_i64(j, "lease");
	return 0;
bad:
	etcd_kv_clear(kv);
	return -1;
}

void etcd_kvs_free(struct etcd_kvs *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		etcd_kv_clear(&r->kv[i]);
	free(r->kv);
	memset(r, 0, sizeof *r);
}

/* A RangeResponse (or a txn's response_range); out is cleared first. */
int etcd_kvs_from(const json_t *j, struct etcd_kvs *out)
{
	const json_t *kvs = json_object_get(j, "kvs");
	memset(out, 0, sizeof *out);
	out->count = etcd_i64(j, "count");
	out->more = json_is_true(json_object_get(j, "more"));
	out->revision = etcd_i64(json_object_get(j, "header"), "revision");
	if (kvs == NULL)
		return 0;
	if (!json_is_array(kvs))
		return -1;
	out->kv = calloc(json_array_size(kvs) + 1, sizeof *out->kv);
	if (out->kv == NULL)
		return -1;
	for (size_t i = 0; i < json_array_size(kvs); i++) {
		if (etcd_kv_from(json_array_get(kvs, i), &out->kv[i]) != 0) {
			etcd_kvs_free(out);
			return -1;
		}
		out->n++;
	}
	return 0;
}

/* snprintf() for messages, where a cut is fine (and GCC need not prove there is none). */
void etcd_fmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

void etcd_st_set(struct etcd_status *st, enum etcd_err e, const char *fmt, ...)
{
	va_list ap;
	st->err = e;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof st->msg, fmt, ap);
	va_end(ap);
}

/* grpc code 11 (OutOfRange) is what etcd answers for a compacted revision; its message says so. */
int etcd_error_from(const json_t *obj, int http, struct etcd_status *st)
{
	const json_t *e = json_object_get(obj, "error");
	const char *msg;
	int code;
	if (e == NULL)
		return -1;
	if (json_is_object(e)) {        /* inside a stream: {"error":{"grpc_code", "message"}} */
		msg = json_string_value(json_object_get(e, "message"));
		code = (int)etcd_i64(e, "grpc_code");
		if (http == 0 || http == 200)
			http = (int)etcd_i64(e, "http_code");
	} else {
		msg = json_string_value(json_object_get(obj, "message"));
		code = (int)etcd_i64(obj, "code");
	}
	if (msg == NULL)
		msg = json_is_string(e) ? json_string_value(e) : "(no message)";
	st->http = http;
	st->grpc = code;
	etcd_st_set(st, code == 11 && strstr(msg, "compacted") != NULL ? ETCD_E_COMPACTED
		: ETCD_E_SERVER, "etcd: http %d, grpc code %d: %s", http, code, msg);
	return 0;
}

const char *etcd_err_name(enum etcd_err e)
{
	static const char *const names[] = {
		[ETCD_OK] = "ok", [ETCD_E_UNREACHABLE] = "unreachable",
		[ETCD_E_TIMEOUT] = "timeout", [ETCD_E_LOST] = "lost",
		[ETCD_E_COMPACTED] = "compacted", [ETCD_E_SERVER] = "server error",
		[ETCD_E_PROTOCOL] = "protocol error", [ETCD_E_INVAL] = "invalid argument",
		[ETCD_E_NOMEM] = "out of memory", [ETCD_E_CLOSED] = "closed",
	};
	return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "?";
}
