/* daemon/tls/tickets.c - the node's session ticket keys (see tls.h).
 * A ring of keys, newest first: the newest encrypts; any of them decrypts until keep_s after it
 * was replaced, and a ticket under an older key is renewed (callback returns 2). The ring rotates
 * when a ticket is issued after rotate_s: every worker sees one ring under a short mutex. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tls.h"
#include "tls_int.h"

#define TK_MAX 16                   /* keys kept at most: older ones end their sessions early */

struct tk_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
	time_t made, replaced;          /* replaced: 0 while it is the newest */
};

struct tls_tickets {
	atomic_uint refs;
	pthread_mutex_t mu;
	unsigned rotate_s, keep_s;
	struct tk_key keys[TK_MAX];     /* [0] newest */
	size_t n;
};

static int ex_ring = -1;            /* SSL_CTX ex data: its ring */
static CRYPTO_ONCE ex_once = CRYPTO_ONCE_STATIC_INIT;

static void ex_init(void)
{
	ex_ring = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static time_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct tls_tickets *tls_tickets_new(unsigned rotate_s, unsigned keep_s)
{
	struct tls_tickets *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	atomic_init(&t->refs, 1);
	pthread_mutex_init(&t->mu, NULL);
	tls_tickets_set(t, rotate_s, keep_s);
	return t;
}

struct tls_tickets *tls_tickets_ref(struct tls_tickets *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void tls_tickets_unref(struct tls_tickets *t)
{
	if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	OPENSSL_cleanse(t->keys, sizeof t->keys);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void tls_tickets_set(struct tls_tickets *t, unsigned rotate_s, unsigned keep_s)
{
	pthread_mutex_lock(&t->mu);
	t->rotate_s = rotate_s ? rotate_s : 3600;
	t->keep_s = keep_s ? keep_s : 300;
	pthread_mutex_unlock(&t->mu);
}

long tls_tickets_keep_s(const struct tls_tickets *t)
{
	return t != NULL ? (long)t->keep_s : 300;
}

/* Under the lock: a new newest key when there is none or it is due; drops keys past keep_s. */
static int ring_turn(struct tls_tickets *t, time_t now)
{
	while (t->n > 0 && t->keys[t->n - 1].replaced != 0 &&
	    now - t->keys[t->n - 1].replaced > (time_t)t->keep_s)
		t->n--;
	if (t->n > 0 && now - t->keys[0].made < (time_t)t->rotate_s)
		return 0;
	struct tk_key k = { .made = now };
	if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_bytes(k.aes, sizeof k.aes) != 1 ||
	    RAND_bytes(k.hmac, sizeof k.hmac) != 1)
		return -1;
	if (t->n > 0)
		t->keys[0].replaced = now;
	if (t->n == TK_MAX)
		t->n--;
	memmove(&t->keys[1], &t->keys[0], t->n * sizeof k);
	t->keys[0] = k;
	t->n++;
	return 0;
}

/* Under the lock: the index of the key named name, or -1. */
static long ring_find(const struct tls_tickets *t, const unsigned char *name, time_t now)
{
	for (size_t i = 0; i < t->n; i++)
		if (memcmp(t->keys[i].name, name, 16) == 0)
			return (t->keys[i].replaced == 0 ||
				now - t->keys[i].replaced <= (time_t)t->keep_s) ? (long)i : -1;
	return -1;
}

static int use_key(const struct tk_key *k, unsigned char *iv, EVP_CIPHER_CTX *c,
	EVP_MAC_CTX *h, int enc)
{
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!EVP_MAC_CTX_set_params(h, p))
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, k->aes, iv) ? 0 : -1;
	return EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, k->aes, iv) ? 0 : -1;
}

static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *c,
	EVP_MAC_CTX *h, int enc)
{
	struct tls_tickets *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_ring);
	struct tk_key k;
	time_t now = now_s();
	long i = 0;
	int rc = -1;
	if (t == NULL)
		return enc ? -1 : 0;
	pthread_mutex_lock(&t->mu);
	if (enc ? ring_turn(t, now) != 0 : (i = ring_find(t, name, now)) < 0) {
		pthread_mutex_unlock(&t->mu);
		return enc ? -1 : 0;        /* decrypt: unknown or expired key, a full handshake */
	}
	k = t->keys[i];
	pthread_mutex_unlock(&t->mu);
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
			goto out;
	}
	if (use_key(&k, iv, c, h, enc) == 0)
		rc = enc || i == 0 ? 1 : 2;  /* 2: resume, and issue a ticket under the newest key */
out:
	OPENSSL_cleanse(&k, sizeof k);
	return rc;
}

int tls_tickets_attach(struct tls_tickets *t, SSL_CTX *ctx)
{
	CRYPTO_THREAD_run_once(&ex_once, ex_init);
	if (ex_ring < 0 || !SSL_CTX_set_ex_data(ctx, ex_ring, t))
		return -1;
	return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) ? 0 : -1;
}
