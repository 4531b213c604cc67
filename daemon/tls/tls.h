/* daemon/tls/tls.h - TLS for gaapd (prefix tls_): certificates as the API receives them, the server
 *   side of an HTTPS listener and the client side towards HTTPS real servers.
 * Certificates (cert.c): what CreateCertificate accepts (l7-and-https.md §7.1) and what Describe
 *   shows of it; pure functions over PEM text, no state.
 * A tls_srv (srv.c) is one HTTPS listener's TLS as of one state: an SSL_CTX per distinct server
 *   certificate (the listener's; a domain's own, picked by SNI, §9.1), the client CAs it verifies
 *   against (AuthType 1), versions and ciphers (SetTlsVersion), ALPN http/1.1, session resumption.
 *   Immutable and refcounted (atomic): each handshake holds a reference to the tls_srv it began
 *   with, so a certificate change reaches new handshakes at once and never an open connection.
 * A tls_cell is what a listener's new handshakes use now (as px_l7_cell is for routing): the
 *   state machine sets it, accepting workers get it. Any thread; a short lock.
 * Session tickets: one key ring for the node (tls_tickets_*), shared by every tls_srv, so that a
 *   certificate swap does not end resumption; rotated lazily, when the first ticket after a
 *   period is issued (no timer).
 * A tls_client (client.c) is the node's side towards HTTPS real servers (ForwardProtocol HTTPS);
 *   active health probes (health/) stay plain HTTP/TCP even towards such servers.
 * Nothing here knows the store, the API or the proxy core: the state machine builds the input from
 *   its records, the proxy core's transport (proxy/tx.h) drives the SSL objects.
 */
#ifndef GAAPD_TLS_H
#define GAAPD_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* CertificateType (§7). */
enum tls_cert_type {
	TLS_CERT_BASIC_AUTH = 0,    /* htpasswd lines; no key */
	TLS_CERT_CLIENT_CA = 1,     /* verifies client certificates (mutual TLS); no key */
	TLS_CERT_SERVER = 2,        /* presented to clients: leaf first, then intermediates; key */
	TLS_CERT_ORIGIN_CA = 3,     /* verifies real servers; no key */
	TLS_CERT_GAAP = 4,          /* presented to real servers; key */
};

/* Why tls_cert_check() refused (each maps to one documented error code, §7.1). */
enum tls_cert_err {
	TLS_CERT_OK,
	TLS_CERT_E_CONTENT,         /* InvalidParameterValue.InvalidCertificateContent */
	TLS_CERT_E_KEY,             /* InvalidParameterValue.InvalidCertificateKey */
	TLS_CERT_E_MISMATCH,        /* InvalidParameterValue.CertificateContentNotMatchKey */
	TLS_CERT_E_PARAM,           /* InvalidParameterValue: a bad type, a key for a type without */
	TLS_CERT_E_NOMEM,
};

/* What Describe shows of a certificate (types 1-4: its first certificate, the leaf). */
struct tls_cert_info {
	int x509;                   /* 0 for type 0: nothing below is set */
	int64_t begin, end;         /* notBefore, notAfter: Unix seconds */
	char subject_cn[256];       /* "" when the name has no CN (Describe shows null) */
	char issuer_cn[256];
};

#define TLS_PEM_MAX (64 * 1024) /* content and key, each, after decoding (§7.1) */

/* Checks content (and key; NULL when not given) as a certificate of type, both already decoded
 * (percent-decoding is the API's); fills info. err says why in words that may reach the caller
 * (never any part of the key). */
enum tls_cert_err tls_cert_check(int type, const char *content, const char *key,
	struct tls_cert_info *info, char *err, size_t errlen);
/* 1 when the leaf of a server certificate's content covers host (CertificateNotMatchDomain, §3.1):
 * a SAN DNS name equal to it (any case), or "*.rest" one label deep; the subject CN when the
 * certificate has no SAN DNS name. 0 otherwise, also for unparsable content. */
int tls_cert_covers(const char *content, const char *host);

/* TLSSupportVersion (§7.7), as bits. */
#define TLS_V10 0x1u
#define TLS_V11 0x2u
#define TLS_V12 0x4u
#define TLS_V13 0x8u
/* TLSCiphers (§7.7). */
enum tls_ciphers {
	TLS_CIPHERS_STRICT,
	TLS_CIPHERS_GENERAL,
	TLS_CIPHERS_WIDE,
};
/* "TLSv1" ("TLSv1.0" too), "TLSv1.1" ... -> its bit; 0 for anything else. */
unsigned tls_version_bit(const char *name);
/* The names of the bits in v, lowest first, as Describe shows them: n written (at most 4). */
size_t tls_version_names(unsigned v, const char *out[4]);
/* "GAAP_TLS_CIPHERS_STRICT" ... -> 0 with *out set; -1 for anything else. */
int tls_ciphers_parse(const char *name, enum tls_ciphers *out);
const char *tls_ciphers_name(enum tls_ciphers c);

/* A server certificate: its PEM (leaf first, then intermediates) and its key. */
struct tls_pem_pair {
	const char *cert;
	const char *key;
};

/* One domain of the listener, for SNI (names compared case-insensitively). */
struct tls_srv_domain_in {
	const char *name;
	const struct tls_pem_pair *cert;    /* its own server certificate; NULL: the listener's */
	const char *const *client_cas;      /* its own client CAs (PEM each; AuthType 1); NULL:
	                                     * the listener's */
	size_t nclient_cas;
};

struct tls_srv_in {
	const char *listener_id;            /* for logs */
	struct tls_pem_pair cert;           /* the listener's server certificate */
	int auth_type;                      /* 0 one-way, 1 mutual */
	const char *const *client_cas;      /* AuthType 1: PEM each, at least one */
	size_t nclient_cas;
	unsigned versions;                  /* TLS_V* bits, at least one */
	enum tls_ciphers ciphers;
	const struct tls_srv_domain_in *domains;
	size_t ndomains;
	unsigned handshake_timeout_ms;      /* cfg tls.handshake_timeout; 0: 10 s */
	int forward_https;                  /* ForwardProtocol HTTPS: the listener's requests go to
	                                     * real servers over TLS (a rule may override it) */
	struct tls_tickets *tickets;        /* the node's key ring (a reference is taken); NULL:
	                                     * OpenSSL's own keys, resumption ends with this tls_srv */
};

struct tls_srv;
struct tls_cell;
struct tls_tickets;

/* Session ticket keys for the node: a new key every rotate_s (made when the first ticket after
 * that is issued: no timer), each still decrypting for keep_s after it was replaced (a session is
 * resumable keep_s: cfg tls.session_timeout). Shared by every tls_srv given it; any thread (a
 * short lock). NULL on ENOMEM; one reference, the caller's. */
struct tls_tickets *tls_tickets_new(unsigned rotate_s, unsigned keep_s);
struct tls_tickets *tls_tickets_ref(struct tls_tickets *t);
void tls_tickets_unref(struct tls_tickets *t);     /* NULL-safe */
/* A reload: new periods from now on (tls_srv built before keep their SSL_CTX timeout). */
void tls_tickets_set(struct tls_tickets *t, unsigned rotate_s, unsigned keep_s);

/* The TLS of one HTTPS listener for in (copied: in may go after the call). NULL with err when the
 * TLS library refuses something (a certificate the API checked is still refused at a listener's
 * security level, ENOMEM): the change that asked for it must be refused, not half-made. One
 * reference, the caller's. */
struct tls_srv *tls_srv_new(const struct tls_srv_in *in, char *err, size_t errlen);
struct tls_srv *tls_srv_ref(struct tls_srv *s);
void tls_srv_unref(struct tls_srv *s);      /* NULL-safe; frees on the last reference */

/* --- What the proxy core's transport (proxy/tx.c) asks of a tls_srv; its threads. --- */
/* A server SSL on the connected socket fd, in accept state (SNI, mTLS and resumption are set up
 * by the tls_srv's callbacks during the handshake). The caller keeps a reference to s for as long
 * as the SSL lives. NULL on ENOMEM. */
SSL *tls_srv_ssl(struct tls_srv *s, int fd);
unsigned tls_srv_handshake_timeout(const struct tls_srv *s);
int tls_srv_mutual(const struct tls_srv *s);       /* AuthType 1 */
int tls_srv_forward_https(const struct tls_srv *s); /* ForwardProtocol HTTPS */
/* After the handshake: the CA set it verified the client against (the SNI domain's), and the one
 * a request for host would (its domain's, else the listener's). Different: 421 (§9.1.4). */
int tls_srv_caset(const SSL *ssl);
int tls_srv_host_caset(const struct tls_srv *s, const char *host, size_t len);
/* The verified client certificate's subject as RFC 4514 text (X-Client-DN, §9.1.5): 0, or -1
 * when there is none. */
int tls_peer_dn(const SSL *ssl, char *out, size_t len);

/* --- HTTPS towards real servers (ForwardProtocol HTTPS): one client context for the node. ---
 * Verifies real servers against the PEM file ca_file (cfg tls.origin_ca), by the name sent as
 * Host when it is one, else by the address; ca_file NULL: no verification (encrypted only).
 * NULL with err when the file is refused. Refcounted; any thread. */
struct tls_client;
struct tls_client *tls_client_new(const char *ca_file, char *err, size_t errlen);
struct tls_client *tls_client_ref(struct tls_client *t);
void tls_client_unref(struct tls_client *t);       /* NULL-safe */
/* A client SSL (connect state is the caller's) with SNI name[0, len) when that is a DNS name,
 * verifying it (or ip, the address text, when there is no name). NULL on ENOMEM. */
SSL *tls_client_ssl(struct tls_client *t, const char *name, size_t len, const char *ip);

/* NULL on ENOMEM; one reference, the caller's; holds NULL (the listener is not HTTPS). */
struct tls_cell *tls_cell_new(void);
struct tls_cell *tls_cell_ref(struct tls_cell *c);
void tls_cell_unref(struct tls_cell *c);    /* NULL-safe */
/* New handshakes use s from now on (the caller's reference moves to the cell; NULL: none). */
void tls_cell_set(struct tls_cell *c, struct tls_srv *s);
/* The TLS now, with a new reference for the caller (NULL: plain). Any thread. */
struct tls_srv *tls_cell_get(struct tls_cell *c);

#endif
