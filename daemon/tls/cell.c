/* daemon/tls/cell.c - what a listener's new handshakes use now (see tls.h). */
#include <stdatomic.h>
#include <stdlib.h>

#include "tls.h"

struct tls_cell {
	atomic_uint refs;
	atomic_flag lock;           /* held for a pointer copy and a reference: a spin is enough */
	struct tls_srv *srv;
};

struct tls_cell *tls_cell_new(void)
{
	struct tls_cell *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	atomic_init(&c->refs, 1);
	atomic_flag_clear(&c->lock);
	return c;
}

struct tls_cell *tls_cell_ref(struct tls_cell *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void tls_cell_unref(struct tls_cell *c)
{
	if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	tls_srv_unref(c->srv);
	free(c);
}

static void cell_lock(struct tls_cell *c)
{
	while (atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
		;
}

static void cell_unlock(struct tls_cell *c)
{
	atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

void tls_cell_set(struct tls_cell *c, struct tls_srv *s)
{
	struct tls_srv *old;
	cell_lock(c);
	old = c->srv;
	c->srv = s;
	cell_unlock(c);
	tls_srv_unref(old);         /* outside the lock: it may free SSL_CTXs */
}

struct tls_srv *tls_cell_get(struct tls_cell *c)
{
	struct tls_srv *s;
	cell_lock(c);
	s = c->srv != NULL ? tls_srv_ref(c->srv) : NULL;
	cell_unlock(c);
	return s;
}
