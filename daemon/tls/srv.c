/* daemon/tls/srv.c - the server side of one HTTPS listener as of one state (see tls.h).
 * Layout: ctx[0] presents the listener's certificate, ctx[1..] one per domain with its own; a
 *   domain's entry names its ctx and its CA set. CA sets (AuthType 1) are deduplicated by content:
 *   set 0 is the listener's, a domain with the very same CAs shares its set, so that the 421 check
 *   (tls_srv_host_ca_set) compares sets, not names.
 * Per handshake, the client-hello callback picks the domain by SNI, switches to its ctx, and sets
 *   the verification (store, CA names, mode) and a session id context on the SSL itself: sessions
 *   never resume across listeners or CA sets, yet survive a certificate swap.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "tls_int.h"

struct srv_caset {
	X509_STORE *store;
	STACK_OF(X509_NAME) *names;     /* sent in the CertificateRequest */
	unsigned char sid[SSL_MAX_SID_CTX_LENGTH];  /* SHA-256(listener id, CA PEMs) */
	char **pems;                    /* for deduplication at build */
	size_t npems;
};

struct srv_domain {
	char *name;
	size_t ctx;                     /* index into ctx[] */
	size_t caset;                   /* index into sets[] */
};

struct tls_srv {
	atomic_uint refs;
	char *listener_id;
	int auth_type;
	int forward_https;
	unsigned handshake_timeout_ms;
	SSL_CTX **ctx;
	size_t nctx;
	struct srv_caset *sets;
	size_t nsets;
	struct srv_domain *domains;
	size_t ndomains;
	struct tls_tickets *tickets;    /* a reference; NULL: OpenSSL's own keys per SSL_CTX */
};

static int ex_caset = -1;           /* SSL ex data: the CA set index + 1 the handshake used */
static CRYPTO_ONCE ex_once = CRYPTO_ONCE_STATIC_INIT;

static void ex_init(void)
{
	ex_caset = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* The packages of §7.7 for TLS <= 1.2; TLS 1.3's suites are OpenSSL's default three. */
static const char *const cipher_lists[] = {
	[TLS_CIPHERS_STRICT] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:HIGH:!aNULL:!eNULL",
	[TLS_CIPHERS_GENERAL] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:HIGH:MEDIUM:"
		"!aNULL:!eNULL",
	[TLS_CIPHERS_WIDE] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:HIGH:MEDIUM:DEFAULT:"
		"ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:!aNULL:!eNULL",
};

static void ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[200] = "";
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

/* --- per handshake --- */

/* The SNI host name of the ClientHello into name (lower case); 0, or -1 when there is none. */
static int hello_sni(SSL *ssl, char *name, size_t len)
{
	const unsigned char *p;
	size_t n, l;
	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) || n < 5)
		return -1;
	/* list length (2), then entries: type (1), length (2), name */
	if (((size_t)p[0] << 8 | p[1]) != n - 2 || p[2] != TLSEXT_NAMETYPE_host_name)
		return -1;
	l = (size_t)p[3] << 8 | p[4];
	if (l == 0 || l + 5 > n || l >= len)
		return -1;
	for (size_t i = 0; i < l; i++)
		name[i] = (char)tolower(p[5 + i]);
	name[l] = '\0';
	if (l > 0 && name[l - 1] == '.')
		name[l - 1] = '\0';
	return 0;
}

static const struct srv_domain *find_domain(const struct tls_srv *s, const char *host)
{
	for (size_t i = 0; i < s->ndomains; i++)
		if (strcasecmp(s->domains[i].name, host) == 0)
			return &s->domains[i];
	return NULL;
}

static int use_caset(SSL *ssl, const struct tls_srv *s, size_t set)
{
	struct srv_caset *c = &s->sets[set];
	SSL_set_ex_data(ssl, ex_caset, (void *)(uintptr_t)(set + 1));
	if (!SSL_set_session_id_context(ssl, c->sid, sizeof c->sid))
		return -1;
	if (s->auth_type != 1)
		return 0;
	STACK_OF(X509_NAME) *names = SSL_dup_CA_list(c->names);
	if (names == NULL || !SSL_set1_verify_cert_store(ssl, c->store)) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		return -1;
	}
	SSL_set_client_CA_list(ssl, names);
	SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

static int hello_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_srv *s = arg;
	const struct srv_domain *d = NULL;
	char name[256];
	if (hello_sni(ssl, name, sizeof name) == 0)
		d = find_domain(s, name);
	if (d != NULL && d->ctx != 0 && SSL_set_SSL_CTX(ssl, s->ctx[d->ctx]) == NULL)
		goto fail;
	if (use_caset(ssl, s, d != NULL ? d->caset : 0) != 0)
		goto fail;
	return SSL_CLIENT_HELLO_SUCCESS;
fail:
	*alert = SSL_AD_INTERNAL_ERROR;
	return SSL_CLIENT_HELLO_ERROR;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
	const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, h11, sizeof h11 - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;    /* h2 only: go on without ALPN; HTTP/1.1 it is */
	return SSL_TLSEXT_ERR_OK;
}

/* --- build --- */

static int set_versions(SSL_CTX *ctx, unsigned v)
{
	static const struct { unsigned bit; int ver; uint64_t no; } all[] = {
		{ TLS_V10, TLS1_VERSION, SSL_OP_NO_TLSv1 },
		{ TLS_V11, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1 },
		{ TLS_V12, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2 },
		{ TLS_V13, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3 },
	};
	int lo = 0, hi = 0;
	for (size_t i = 0; i < 4; i++) {
		if (!(v & all[i].bit))
			continue;
		if (lo == 0)
			lo = all[i].ver;
		hi = all[i].ver;
	}
	if (lo == 0 || !SSL_CTX_set_min_proto_version(ctx, lo) ||
	    !SSL_CTX_set_max_proto_version(ctx, hi))
		return -1;
	for (size_t i = 0; i < 4; i++)      /* a hole in the range: {1.0, 1.2} */
		if (all[i].ver > lo && all[i].ver < hi && !(v & all[i].bit))
			SSL_CTX_set_options(ctx, all[i].no);
	return 0;
}

static int set_ciphers(SSL_CTX *ctx, unsigned v, enum tls_ciphers c)
{
	char list[1024];
	if ((unsigned)c > TLS_CIPHERS_WIDE)
		return -1;
	/* TLS 1.0/1.1 sign with SHA-1 and MD5: OpenSSL 3 refuses them above level 0 */
	snprintf(list, sizeof list, "%s%s", cipher_lists[c],
		(v & (TLS_V10 | TLS_V11)) ? ":@SECLEVEL=0" : "");
	return SSL_CTX_set_cipher_list(ctx, list) ? 0 : -1;
}

static int load_pair(SSL_CTX *ctx, const struct tls_pem_pair *p, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(p->cert, -1);
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int rc = -1;
	if (b == NULL || (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    !SSL_CTX_use_certificate(ctx, x)) {
		ssl_err(err, errlen, "server certificate refused");
		goto out;
	}
	X509 *ca;
	while ((ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!SSL_CTX_add0_chain_cert(ctx, ca)) {
			X509_free(ca);
			ssl_err(err, errlen, "intermediate certificate refused");
			goto out;
		}
	ERR_clear_error();      /* the end of the chain reads as an error */
	BIO_free(b);
	if ((b = BIO_new_mem_buf(p->key, -1)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL ||
	    !SSL_CTX_use_PrivateKey(ctx, k) || !SSL_CTX_check_private_key(ctx)) {
		ssl_err(err, errlen, "server key refused");
		goto out;
	}
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(b);
	return rc;
}

static SSL_CTX *ctx_new(struct tls_srv *s, const struct tls_srv_in *in,
	const struct tls_pem_pair *pair, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ssl_err(err, errlen, "out of memory");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
		SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
		SSL_MODE_RELEASE_BUFFERS);
	/* a record in one read(), not its 5-byte header and then its body (as nginx): px_rd
	 * comes back for what is read ahead through SSL_has_pending() */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* tickets only: stateless, so any worker resumes any session, no cache to lock */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_timeout(ctx, tls_tickets_keep_s(s->tickets));
	SSL_CTX_set_client_hello_cb(ctx, hello_cb, s);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, s);
	if (s->tickets != NULL && tls_tickets_attach(s->tickets, ctx) != 0) {
		ssl_err(err, errlen, "session tickets");
		goto fail;
	}
	if (set_versions(ctx, in->versions) != 0) {
		snprintf(err, errlen, "no TLS version");
		goto fail;
	}
	if (set_ciphers(ctx, in->versions, in->ciphers) != 0) {
		ssl_err(err, errlen, "ciphers refused");
		goto fail;
	}
	if (load_pair(ctx, pair, err, errlen) != 0)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static void sid_of(const char *listener_id, const char *const *pems, size_t n,
	unsigned char out[SSL_MAX_SID_CTX_LENGTH])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned len = 0;
	memset(out, 0, SSL_MAX_SID_CTX_LENGTH);
	if (m == NULL || !EVP_DigestInit_ex(m, EVP_sha256(), NULL))
		goto out;
	EVP_DigestUpdate(m, listener_id, strlen(listener_id) + 1);
	for (size_t i = 0; i < n; i++)
		EVP_DigestUpdate(m, pems[i], strlen(pems[i]) + 1);
	EVP_DigestFinal_ex(m, out, &len);
out:
	EVP_MD_CTX_free(m);
}

/* Adds every certificate of pem to the store and the name list. */
static int caset_add_pem(struct srv_caset *c, const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;
	if (b == NULL)
		return -1;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
		int ok = X509_STORE_add_cert(c->store, x) && nm != NULL &&
			sk_X509_NAME_push(c->names, nm);
		X509_free(x);
		if (!ok) {
			X509_NAME_free(nm);
			BIO_free(b);
			return -1;
		}
		n++;
	}
	ERR_clear_error();
	BIO_free(b);
	return n > 0 ? 0 : -1;
}

static int same_pems(const struct srv_caset *c, const char *const *pems, size_t n)
{
	if (c->npems != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(c->pems[i], pems[i]) != 0)
			return 0;
	return 1;
}

/* The index of the CA set for pems (found or made): 0.., or -1. */
static long caset_get(struct tls_srv *s, const char *const *pems, size_t n, char *err,
	size_t errlen)
{
	for (size_t i = 0; i < s->nsets; i++)
		if (same_pems(&s->sets[i], pems, n))
			return (long)i;
	struct srv_caset *c = &s->sets[s->nsets];
	sid_of(s->listener_id, pems, n, c->sid);
	s->nsets++;
	if (s->auth_type != 1)
		return (long)s->nsets - 1;
	c->store = X509_STORE_new();
	c->names = sk_X509_NAME_new_null();
	c->pems = calloc(n + 1, sizeof *c->pems);
	if (c->store == NULL || c->names == NULL || c->pems == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((c->pems[i] = strdup(pems[i])) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->npems++;
		if (caset_add_pem(c, pems[i]) != 0) {
			ssl_err(err, errlen, "client CA certificate refused");
			return -1;
		}
	}
	return (long)s->nsets - 1;
}

static int add_domain(struct tls_srv *s, const struct tls_srv_in *in,
	const struct tls_srv_domain_in *di, char *err, size_t errlen)
{
	struct srv_domain *d = &s->domains[s->ndomains];
	long set = 0;
	if ((d->name = strdup(di->name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->ndomains++;
	/* "default" stands for the listener: its certificate and its CAs (§9.1) */
	if (strcasecmp(di->name, "default") == 0)
		return 0;
	if (di->cert != NULL) {
		if ((s->ctx[s->nctx] = ctx_new(s, in, di->cert, err, errlen)) == NULL)
			return -1;
		d->ctx = s->nctx++;
	}
	if (s->auth_type == 1 && di->client_cas != NULL && di->nclient_cas > 0)
		set = caset_get(s, di->client_cas, di->nclient_cas, err, errlen);
	if (set < 0)
		return -1;
	d->caset = (size_t)set;
	return 0;
}

static int srv_build(struct tls_srv *s, const struct tls_srv_in *in, char *err, size_t errlen)
{
	if (in->versions == 0 || (in->auth_type == 1 && in->nclient_cas == 0)) {
		snprintf(err, errlen, in->versions == 0 ? "no TLS version" : "no client CA");
		return -1;
	}
	if ((s->ctx[0] = ctx_new(s, in, &in->cert, err, errlen)) == NULL)
		return -1;
	s->nctx = 1;
	if (caset_get(s, in->client_cas, in->nclient_cas, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < in->ndomains; i++)
		if (add_domain(s, in, &in->domains[i], err, errlen) != 0)
			return -1;
	return 0;
}

struct tls_srv *tls_srv_new(const struct tls_srv_in *in, char *err, size_t errlen)
{
	struct tls_srv *s = calloc(1, sizeof *s);
	CRYPTO_THREAD_run_once(&ex_once, ex_init);
	if (s == NULL || ex_caset < 0)
		goto nomem;
	atomic_init(&s->refs, 1);
	s->auth_type = in->auth_type;
	s->forward_https = in->forward_https;
	s->handshake_timeout_ms = in->handshake_timeout_ms ? in->handshake_timeout_ms : 10000;
	s->tickets = in->tickets != NULL ? tls_tickets_ref(in->tickets) : NULL;
	s->listener_id = strdup(in->listener_id != NULL ? in->listener_id : "");
	s->ctx = calloc(in->ndomains + 1, sizeof *s->ctx);
	s->sets = calloc(in->ndomains + 1, sizeof *s->sets);
	s->domains = calloc(in->ndomains + 1, sizeof *s->domains);
	if (s->listener_id == NULL || s->ctx == NULL || s->sets == NULL || s->domains == NULL)
		goto nomem;
	if (srv_build(s, in, err, errlen) != 0) {
		tls_srv_unref(s);
		return NULL;
	}
	return s;
nomem:
	snprintf(err, errlen, "out of memory");
	tls_srv_unref(s);
	return NULL;
}

struct tls_srv *tls_srv_ref(struct tls_srv *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

static void caset_free(struct srv_caset *c)
{
	X509_STORE_free(c->store);
	sk_X509_NAME_pop_free(c->names, X509_NAME_free);
	for (size_t i = 0; i < c->npems; i++)
		free(c->pems[i]);
	free(c->pems);
}

void tls_srv_unref(struct tls_srv *s)
{
	if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; s->ctx != NULL && i < s->nctx; i++)
		SSL_CTX_free(s->ctx[i]);
	for (size_t i = 0; s->sets != NULL && i < s->nsets; i++)
		caset_free(&s->sets[i]);
	for (size_t i = 0; s->domains != NULL && i < s->ndomains; i++)
		free(s->domains[i].name);
	tls_tickets_unref(s->tickets);
	free(s->ctx);
	free(s->sets);
	free(s->domains);
	free(s->listener_id);
	free(s);
}

/* --- what the proxy core asks --- */

SSL *tls_srv_ssl(struct tls_srv *s, int fd)
{
	SSL *ssl = SSL_new(s->ctx[0]);
	if (ssl == NULL)
		return NULL;
	if (!SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

unsigned tls_srv_handshake_timeout(const struct tls_srv *s)
{
	return s->handshake_timeout_ms;
}

int tls_srv_mutual(const struct tls_srv *s)
{
	return s->auth_type == 1;
}

int tls_srv_forward_https(const struct tls_srv *s)
{
	return s->forward_https;
}

int tls_srv_caset(const SSL *ssl)
{
	return (int)(uintptr_t)SSL_get_ex_data(ssl, ex_caset) - 1;
}

int tls_srv_host_caset(const struct tls_srv *s, const char *host, size_t len)
{
	char name[256];
	if (len >= sizeof name)
		return 0;
	memcpy(name, host, len);
	name[len] = '\0';
	const struct srv_domain *d = find_domain(s, name);
	return d != NULL ? (int)d->caset : 0;
}

int tls_peer_dn(const SSL *ssl, char *out, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	BIO *b;
	int n, rc = -1;
	if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK || len == 0)
		return -1;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_read(b, out, (int)len - 1)) >= 0) {
		out[n] = '\0';
		rc = 0;
	}
	BIO_free(b);
	return rc;
}
