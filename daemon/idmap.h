/* daemon/idmap.h - values found by a string id in O(1): open addressing with linear probing,
 *   at most half full (tombstones included), rebuilt as it grows. The id is the value's own
 *   (idmap.id() reads it from the value), so nothing is copied and a value leaves the map when
 *   its caller says so.
 * Ownership: the map owns its slot array, never the values. Threads: its owner's, one at a time.
 */
#ifndef GAAPD_IDMAP_H
#define GAAPD_IDMAP_H

#include <stddef.h>

struct idmap {
	const char *(*id)(const void *value);   /* the value's id, stable while it is in the map */
	void **slots;               /* NULL empty, the map's tombstone removed, else a value */
	size_t cap, used;           /* a power of two (or 0); values and tombstones */
};

#define IDMAP_INIT(id_fn) { (id_fn), NULL, 0, 0 }

/* Room for `more` idmap_put()s that cannot fail then. 0 or -1 (ENOMEM, the map unchanged). */
int idmap_reserve(struct idmap *m, size_t more);
/* The value with id, or NULL. */
void *idmap_get(const struct idmap *m, const char *id);
/* Adds value; its id must not be in the map. Call idmap_reserve() first. */
void idmap_put(struct idmap *m, void *value);
/* Takes the value with id out (a missing id is ignored). */
void idmap_del(struct idmap *m, const char *id);
void idmap_free(struct idmap *m);       /* the slots; the values stay the caller's */

#endif
