/* control/flat.c - see flat.h. */
#include "flat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAT_MAX_DEPTH 8            /* RealServerBindSet.0.RealServerId is 3 */

/* 1 for an array index, 0 for a name, -1 for neither: empty, or digits that do not spell an index
 * the one way ("01"), which would let two keys name one element. */
static int segment_kind(const char *s)
{
	size_t n = strspn(s, "0123456789");
	if (*s == '\0' || (n > 0 && s[n] == '\0' && ((n > 1 && s[0] == '0') || n > 9)))
		return -1;
	return n > 0 && s[n] == '\0';
}

/* The container called name under node, made on first use; NULL when name holds a value. */
static json_t *container(json_t *node, const char *name)
{
	json_t *c = json_object_get(node, name);
	if (c != NULL)
		return json_is_object(c) ? c : NULL;
	if ((c = json_object()) == NULL || json_object_set_new(node, name, c) != 0)
		return NULL;
	return c;
}

/* Set the dotted path (cut in place) to value, which is stolen. Arrays are built as objects keyed
 * by index and turned into arrays once every pair is in: indexes may come in any order. */
static int flat_set(json_t *root, char *path, json_t *value)
{
	json_t *node = root;
	char *dot;
	int depth = 0;
	while ((dot = strchr(path, '.')) != NULL) {
		*dot = '\0';
		if (segment_kind(path) < 0 || ++depth >= FLAT_MAX_DEPTH || (node = container(node, path)) == NULL)
			goto fail;
		path = dot + 1;
	}
	if (value == NULL || segment_kind(path) < 0 || json_object_get(node, path) != NULL)
		goto fail;
	return json_object_set_new(node, path, value);
fail:
	json_decref(value);
	return -1;
}

/* obj's keys as an array when they are all indexes running from 0 without a gap; a new
 * reference, or NULL. */
static json_t *as_array(json_t *obj)
{
	json_t *arr = json_array();
	char key[24];
	for (size_t i = 0; arr != NULL && i < json_object_size(obj); i++) {
		snprintf(key, sizeof(key), "%zu", i);
		json_t *v = json_object_get(obj, key);
		if (v == NULL || json_array_append(arr, v) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static json_t *flat_finish(json_t *node);

/* Finish every container among node's children in place; -1 at the first that fails, whose key
 * goes to *bad. */
static int finish_children(json_t *node, const char **bad)
{
	for (void *it = json_object_iter(node); it != NULL; it = json_object_iter_next(node, it)) {
		json_t *child = json_object_iter_value(it), *done;
		if (!json_is_object(child))
			continue;
		*bad = json_object_iter_key(it);
		if ((done = flat_finish(child)) == NULL)
			return -1;
		if (done == child)
			json_decref(done);
		else if (json_object_iter_set_new(node, it, done) != 0)
			return -1;
	}
	return 0;
}

/* node (an object built by flat_set) with its containers finished: a new reference to an array
 * when every key is an index, node itself when every key is a name, NULL on a mix or a gap. */
static json_t *flat_finish(json_t *node)
{
	const char *bad;
	size_t indexes = 0;
	if (finish_children(node, &bad) != 0)
		return NULL;
	for (void *it = json_object_iter(node); it != NULL; it = json_object_iter_next(node, it))
		indexes += segment_kind(json_object_iter_key(it)) == 1;
	if (indexes == 0)
		return json_incref(node);
	return indexes == json_object_size(node) ? as_array(node) : NULL;
}

static int skipped(const char *key, const char *const *skip)
{
	for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
		if (strcmp(key, skip[i]) == 0)
			return 1;
	return 0;
}

static int flat_add(json_t *root, const char *key, const char *value, char *err, size_t errlen)
{
	json_t *v = json_string(value);
	char *path = strdup(key);
	int rc = -1;
	if (v == NULL)
		snprintf(err, errlen, "The value of parameter `%s` is not valid UTF-8.", key);
	else if (path == NULL || flat_set(root, path, json_incref(v)) != 0)
		snprintf(err, errlen, "The parameter `%s` is malformed, or given more than once.", key);
	else
		rc = 0;
	json_decref(v);
	free(path);
	return rc;
}

/* Top-level names stay names, even "0": only nested levels can be arrays. */
static int flat_finish_top(json_t *root, char *err, size_t errlen)
{
	const char *bad = "";
	if (finish_children(root, &bad) == 0)
		return 0;
	snprintf(err, errlen, "The indexes of parameter `%s` must run from 0 without gaps, and not be "
		"mixed with names.", bad);
	return -1;
}

json_t *ctl_form_to_json(const struct ctl_form *f, const char *const *skip, char *err, size_t errlen)
{
	json_t *root = json_object();
	if (root == NULL) {
		snprintf(err, errlen, "Out of memory.");
		return NULL;
	}
	for (size_t i = 0; i < f->n; i++)
		if (!skipped(f->keys[i], skip) && flat_add(root, f->keys[i], f->values[i], err, errlen) != 0)
			goto fail;
	if (flat_finish_top(root, err, errlen) == 0)
		return root;
fail:
	json_decref(root);
	return NULL;
}
