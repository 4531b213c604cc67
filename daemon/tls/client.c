/* daemon/tls/client.c - the client side towards HTTPS real servers (see tls.h): one SSL_CTX for
 * the node, verifying against tls.origin_ca when it is set. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

struct tls_client {
	atomic_uint refs;
	SSL_CTX *ctx;
	int verify;
};

struct tls_client *tls_client_new(const char *ca_file, char *err, size_t errlen)
{
	struct tls_client *t = calloc(1, sizeof *t);
	if (t == NULL || (t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(t);
		return NULL;
	}
	atomic_init(&t->refs, 1);
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_protos(t->ctx, (const unsigned char *)"\x08http/1.1", 9);
	if (ca_file != NULL) {
		if (!SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)) {
			unsigned long e = ERR_peek_last_error();
			snprintf(err, errlen, "%s: %s", ca_file, e ? ERR_reason_error_string(e) : "refused");
			ERR_clear_error();
			tls_client_unref(t);
			return NULL;
		}
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
		t->verify = 1;
	}
	return t;
}

struct tls_client *tls_client_ref(struct tls_client *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void tls_client_unref(struct tls_client *t)
{
	if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

static int is_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

SSL *tls_client_ssl(struct tls_client *t, const char *name, size_t len, const char *ip)
{
	SSL *ssl = SSL_new(t->ctx);
	char host[256] = "";
	if (ssl == NULL)
		return NULL;
	if (name != NULL && len > 0 && len < sizeof host) {
		memcpy(host, name, len);
		host[len] = '\0';
		if (is_ip(host))
			host[0] = '\0';     /* an address is no server name (RFC 6066 3) */
	}
	if (host[0] != '\0' && !SSL_set_tlsext_host_name(ssl, host))
		goto fail;
	if (!t->verify)
		return ssl;
	/* the name the origin is addressed by, else its address */
	if (host[0] != '\0' ? !SSL_set1_host(ssl, host) :
	    ip == NULL || !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip))
		goto fail;
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}
