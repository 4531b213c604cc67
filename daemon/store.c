/* daemon/store.c - the state store's dispatch to its back end (store.h). */
#include "store.h"

int st_put(struct st *s, const struct st_listener *rec, char *err, size_t errlen)
{
	return s->ops->apply(s, rec, 1, NULL, 0, err, errlen);
}

int st_del(struct st *s, const char *id, char *err, size_t errlen)
{
	return s->ops->apply(s, NULL, 0, &id, 1, err, errlen);
}

int st_apply(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, char *err, size_t errlen)
{
	return s->ops->apply(s, puts, nputs, dels, ndels, err, errlen);
}

int st_append(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen)
{
	if (s->ops->append == NULL) {
		*seq = 0;
		return s->ops->apply(s, puts, nputs, dels, ndels, err, errlen);
	}
	return s->ops->append(s, puts, nputs, dels, ndels, seq, err, errlen);
}

int st_sync(struct st *s, uint64_t seq, char *err, size_t errlen)
{
	return s->ops->sync != NULL && seq != 0 ? s->ops->sync(s, seq, err, errlen) : 0;
}

int st_load(struct st *s, int (*fn)(const struct st_listener *rec, void *arg), void *arg,
	char *err, size_t errlen)
{
	return s->ops->load(s, fn, arg, err, errlen);
}

void st_close(struct st *s)
{
	if (s != NULL)
		s->ops->close(s);
}
