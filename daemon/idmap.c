/* daemon/idmap.c - values found by a string id (idmap.h). */
#include "idmap.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tombstone;
#define TOMB ((void *)&tombstone)

/* The slot holding id, or the empty slot that ends its probe. */
static size_t slot_of(const struct idmap *m, const char *id)
{
	size_t mask = m->cap - 1, i = (size_t)util_fnv1a(id) & mask;
	while (m->slots[i] != NULL && (m->slots[i] == TOMB || strcmp(m->id(m->slots[i]), id) != 0))
		i = (i + 1) & mask;
	return i;
}

static void insert(struct idmap *m, void *value)
{
	size_t mask = m->cap - 1, i = (size_t)util_fnv1a(m->id(value)) & mask;
	while (m->slots[i] != NULL && m->slots[i] != TOMB)
		i = (i + 1) & mask;
	if (m->slots[i] == NULL)
		m->used++;
	m->slots[i] = value;
}

int idmap_reserve(struct idmap *m, size_t more)
{
	size_t live = 0, cap = 16;
	void **old = m->slots;
	size_t old_cap = m->cap;
	if (2 * (m->used + more) <= m->cap)
		return 0;
	for (size_t i = 0; i < old_cap; i++)
		live += old[i] != NULL && old[i] != TOMB;
	while (cap < 2 * (live + more))
		cap *= 2;
	if ((m->slots = calloc(cap, sizeof(*m->slots))) == NULL) {
		m->slots = old;
		return -1;
	}
	m->cap = cap;
	m->used = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] != NULL && old[i] != TOMB)
			insert(m, old[i]);
	free(old);
	return 0;
}

void *idmap_get(const struct idmap *m, const char *id)
{
	return m->cap != 0 ? m->slots[slot_of(m, id)] : NULL;
}

void idmap_put(struct idmap *m, void *value)
{
	insert(m, value);
}

void idmap_del(struct idmap *m, const char *id)
{
	size_t i;
	if (m->cap != 0 && m->slots[i = slot_of(m, id)] != NULL)
		m->slots[i] = TOMB;
}

void idmap_free(struct idmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->used = 0;
}
