/* daemon/tls/cert.c - certificates as CreateCertificate receives them (tls.h, spec §7.1): the
 *   checks of each type, what Describe shows of one, and whether a server certificate covers a
 *   domain (§3.1). Pure functions over PEM text: no state, any thread.
 * The words put in err may reach the API's caller and the log: they name what is wrong, never any
 *   part of the key (OpenSSL's own error strings are not passed on for the key for that reason).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define CERT_CHAIN_MAX 16           /* certificates in one content */
#define CERT_SECLEVEL 2             /* at least: RSA and DH >= 2048 bits, ECC >= 224 */

struct chain {
	X509 *x[CERT_CHAIN_MAX];
	size_t n;
};

static void chain_free(struct chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		X509_free(c->x[i]);
	c->n = 0;
}

static enum tls_cert_err fail(enum tls_cert_err e, char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	ERR_clear_error();
	return e;
}

/* Every PEM block of text, each a certificate, at least one (text between blocks is skipped,
 * as PEM readers do). */
static enum tls_cert_err read_chain(const char *text, struct chain *c, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(text, -1);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len;
	enum tls_cert_err e = TLS_CERT_OK;
	c->n = 0;
	if (b == NULL)
		return fail(TLS_CERT_E_NOMEM, err, errlen, "out of memory");
	while (e == TLS_CERT_OK && PEM_read_bio(b, &name, &header, &data, &len) == 1) {
		const unsigned char *p = data;
		X509 *x = NULL;
		if (strcmp(name, "CERTIFICATE") != 0 && strcmp(name, "X509 CERTIFICATE") != 0)
			e = fail(TLS_CERT_E_CONTENT, err, errlen, "a PEM block is not a certificate");
		else if (c->n == CERT_CHAIN_MAX)
			e = fail(TLS_CERT_E_CONTENT, err, errlen, "too many certificates");
		else if ((x = d2i_X509(NULL, &p, len)) == NULL || p != data + len)
			e = fail(TLS_CERT_E_CONTENT, err, errlen, "a certificate does not parse");
		if (e == TLS_CERT_OK)
			c->x[c->n++] = x;
		else
			X509_free(x);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
	}
	BIO_free(b);
	if (e == TLS_CERT_OK && c->n == 0)
		e = fail(TLS_CERT_E_CONTENT, err, errlen, "no PEM certificate (bad PEM or base64)");
	if (e != TLS_CERT_OK)
		chain_free(c);
	ERR_clear_error();      /* the end of the blocks reads as an error */
	return e;
}

/* -1 always: an encrypted key is refused, never asked a passphrase for. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static enum tls_cert_err read_key(const char *text, EVP_PKEY **out, char *err, size_t errlen)
{
	BIO *b;
	if (text == NULL || text[0] == '\0')
		return fail(TLS_CERT_E_KEY, err, errlen, "the certificate type needs a key");
	if (strstr(text, "ENCRYPTED") != NULL)
		return fail(TLS_CERT_E_KEY, err, errlen, "the key is encrypted");
	if ((b = BIO_new_mem_buf(text, -1)) == NULL)
		return fail(TLS_CERT_E_NOMEM, err, errlen, "out of memory");
	*out = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
	BIO_free(b);
	if (*out == NULL)
		return fail(TLS_CERT_E_KEY, err, errlen, "the key does not parse as an unencrypted "
			"PEM private key");
	ERR_clear_error();
	return TLS_CERT_OK;
}

/* Leaf first: each certificate is issued by the next one (by name and signature). */
static enum tls_cert_err check_order(const struct chain *c, char *err, size_t errlen)
{
	for (size_t i = 1; i < c->n; i++)
		if (X509_check_issued(c->x[i], c->x[i - 1]) != X509_V_OK)
			return fail(TLS_CERT_E_CONTENT, err, errlen, "the chain is not in order: leaf "
				"first, then each certificate's issuer");
	return TLS_CERT_OK;
}

/* The TLS library at a listener's security level must take leaf, chain and key as they are. */
static enum tls_cert_err check_usable(const struct chain *c, EVP_PKEY *k, char *err,
	size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	enum tls_cert_err e = TLS_CERT_OK;
	if (ctx == NULL)
		return fail(TLS_CERT_E_NOMEM, err, errlen, "out of memory");
	if (SSL_CTX_get_security_level(ctx) < CERT_SECLEVEL)
		SSL_CTX_set_security_level(ctx, CERT_SECLEVEL);
	if (!SSL_CTX_use_certificate(ctx, c->x[0]))
		e = fail(TLS_CERT_E_CONTENT, err, errlen, "the certificate is refused by the TLS "
			"library (too weak a key or signature at security level 2)");
	for (size_t i = 1; e == TLS_CERT_OK && i < c->n; i++)
		if (!SSL_CTX_add1_chain_cert(ctx, c->x[i]))
			e = fail(TLS_CERT_E_CONTENT, err, errlen, "a chain certificate is refused by "
				"the TLS library (too weak a key or signature)");
	if (e == TLS_CERT_OK && !X509_check_private_key(c->x[0], k))
		e = fail(TLS_CERT_E_MISMATCH, err, errlen, "the key does not belong to the first "
			"(leaf) certificate");
	if (e == TLS_CERT_OK && !SSL_CTX_use_PrivateKey(ctx, k))
		e = fail(TLS_CERT_E_KEY, err, errlen, "the key is refused by the TLS library");
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return e;
}

static int64_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

static void name_cn(const X509_NAME *n, char *out, size_t size)
{
	int i = n != NULL ? X509_NAME_get_index_by_NID(n, NID_commonName, -1) : -1;
	unsigned char *utf8 = NULL;
	int len;
	out[0] = '\0';
	if (i < 0)
		return;
	len = ASN1_STRING_to_UTF8(&utf8,
		X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (len > 0)
		snprintf(out, size, "%.*s", len, (const char *)utf8);
	OPENSSL_free(utf8);
}

static void leaf_info(X509 *x, struct tls_cert_info *info)
{
	info->x509 = 1;
	info->begin = asn1_time(X509_get0_notBefore(x));
	info->end = asn1_time(X509_get0_notAfter(x));
	name_cn(X509_get_subject_name(x), info->subject_cn, sizeof(info->subject_cn));
	name_cn(X509_get_issuer_name(x), info->issuer_cn, sizeof(info->issuer_cn));
}

/* Type 0: htpasswd lines, "user:hash" each (blank lines allowed), at least one. */
static enum tls_cert_err check_basic_auth(const char *text, char *err, size_t errlen)
{
	size_t users = 0;
	for (const char *p = text; *p != '\0';) {
		const char *end = strchr(p, '\n'), *colon;
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		colon = memchr(p, ':', len);
		for (size_t i = 0; i < len; i++)
			if (!isprint((unsigned char)p[i]) || p[i] == ' ')
				return fail(TLS_CERT_E_CONTENT, err, errlen, "a basic-auth line has "
					"a space or control character");
		if (len > 0 && (colon == NULL || colon == p || colon == p + len - 1))
			return fail(TLS_CERT_E_CONTENT, err, errlen, "a basic-auth line is not "
				"user:hash");
		users += len > 0;
		p += end != NULL ? (size_t)(end - p) + 1 : strlen(p);
	}
	if (users == 0)
		return fail(TLS_CERT_E_CONTENT, err, errlen, "no basic-auth line");
	return TLS_CERT_OK;
}

enum tls_cert_err tls_cert_check(int type, const char *content, const char *key,
	struct tls_cert_info *info, char *err, size_t errlen)
{
	struct chain c = { .n = 0 };
	EVP_PKEY *k = NULL;
	enum tls_cert_err e;
	int keyed = type == TLS_CERT_SERVER || type == TLS_CERT_GAAP;
	memset(info, 0, sizeof(*info));
	err[0] = '\0';
	if (type < TLS_CERT_BASIC_AUTH || type > TLS_CERT_GAAP)
		return fail(TLS_CERT_E_PARAM, err, errlen, "CertificateType must be 0 to 4");
	if (!keyed && key != NULL)
		return fail(TLS_CERT_E_PARAM, err, errlen, "a key is only taken for certificate "
			"types 2 and 4");
	if (content == NULL || strlen(content) > TLS_PEM_MAX)
		return fail(TLS_CERT_E_CONTENT, err, errlen, "the content is empty or over 64 KiB");
	if (key != NULL && strlen(key) > TLS_PEM_MAX)
		return fail(TLS_CERT_E_KEY, err, errlen, "the key is over 64 KiB");
	if (type == TLS_CERT_BASIC_AUTH)
		return check_basic_auth(content, err, errlen);
	if ((e = read_chain(content, &c, err, errlen)) != TLS_CERT_OK)
		return e;
	if (keyed && (e = check_order(&c, err, errlen)) == TLS_CERT_OK &&
	    (e = read_key(key, &k, err, errlen)) == TLS_CERT_OK)
		e = check_usable(&c, k, err, errlen);
	if (e == TLS_CERT_OK)
		leaf_info(c.x[0], info);
	EVP_PKEY_free(k);
	chain_free(&c);
	return e;
}

/* "*.example.com" covers "www.example.com", not "example.com" nor "a.b.example.com". */
static int name_covers(const char *pattern, size_t plen, const char *host)
{
	const char *dot;
	if (plen == strlen(host) && strncasecmp(pattern, host, plen) == 0)
		return 1;
	if (plen < 3 || pattern[0] != '*' || pattern[1] != '.' || (dot = strchr(host, '.')) == NULL
	    || dot == host)
		return 0;
	return plen - 1 == strlen(dot) && strncasecmp(pattern + 1, dot, plen - 1) == 0;
}

static int san_covers(X509 *x, const char *host, int *had_dns)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int hit = 0;
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && !hit; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_DNS)
			continue;
		*had_dns = 1;
		hit = name_covers((const char *)ASN1_STRING_get0_data(g->d.dNSName),
			(size_t)ASN1_STRING_length(g->d.dNSName), host);
	}
	GENERAL_NAMES_free(names);
	return hit;
}

int tls_cert_covers(const char *content, const char *host)
{
	BIO *b = BIO_new_mem_buf(content, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int had_dns = 0, hit = 0;
	char cn[256];
	if (x != NULL) {
		hit = san_covers(x, host, &had_dns);
		if (!hit && !had_dns) {
			name_cn(X509_get_subject_name(x), cn, sizeof(cn));
			hit = cn[0] != '\0' && name_covers(cn, strlen(cn), host);
		}
	}
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return hit;
}
