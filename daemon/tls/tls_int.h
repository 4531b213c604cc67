/* daemon/tls/tls_int.h - what the files of daemon/tls share and nothing else sees. */
#ifndef GAAPD_TLS_INT_H
#define GAAPD_TLS_INT_H

#include <openssl/ssl.h>

struct tls_tickets;

/* ctx encrypts and decrypts its session tickets with t's keys (t must outlive ctx: the tls_srv
 * holds a reference). 0 or -1. */
int tls_tickets_attach(struct tls_tickets *t, SSL_CTX *ctx);
/* How long a session stays resumable (t NULL: 300 s). */
long tls_tickets_keep_s(const struct tls_tickets *t);

#endif
