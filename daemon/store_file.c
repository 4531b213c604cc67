/* daemon/store_file.c - the file back end of the state store (store.h).
 * The whole record set lives in memory and in dir/listeners.json; a change builds the new set,
 * writes it to listeners.json.tmp, fsyncs, renames over the old file and fsyncs the directory,
 * and only then replaces the in-memory set. A crash at any point leaves the old or the new file.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE "listeners.json"
#define STATE_TMP "listeners.json.tmp"
#define STATE_VERSION 1

struct st_file {
	struct st base;             /* first: a struct st * is a struct st_file * */
	char *dir;
	int dir_fd;
	int lock_fd;
	struct st_listener *recs;
	size_t n;
};

static json_t *rec_to_json(const struct st_listener *r)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
		"ListenerId", r->id, "ListenerName", r->name, "Protocol", r->protocol,
		"ProxyId", r->proxy_id, "GroupId", r->group_id,
		"Port", (json_int_t)r->port, "CreateTime", (json_int_t)r->create_time);
}

static int copy_field(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);
	if (len >= size)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

static int rec_from_json(json_t *j, struct st_listener *r)
{
	const char *id, *name, *proto, *proxy, *group;
	json_int_t port, ctime;
	memset(r, 0, sizeof(*r));
	if (json_unpack(j, "{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "ListenerId", &id,
	    "ListenerName", &name, "Protocol", &proto, "ProxyId", &proxy, "GroupId", &group,
	    "Port", &port, "CreateTime", &ctime) != 0)
		return -1;
	if (port < 1 || port > 65535 || copy_field(r->id, sizeof(r->id), id) != 0 ||
	    copy_field(r->name, sizeof(r->name), name) != 0 ||
	    copy_field(r->protocol, sizeof(r->protocol), proto) != 0 ||
	    copy_field(r->proxy_id, sizeof(r->proxy_id), proxy) != 0 ||
	    copy_field(r->group_id, sizeof(r->group_id), group) != 0)
		return -1;
	r->port = (unsigned)port;
	r->create_time = (int64_t)ctime;
	return 0;
}

static char *serialize(const struct st_listener *recs, size_t n)
{
	json_t *arr = json_array();
	json_t *doc = json_pack("{s:i, s:o}", "version", STATE_VERSION, "listeners", arr);
	char *text = NULL;
	if (doc == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, rec_to_json(&recs[i])) != 0)
			goto out;
	text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
out:
	json_decref(doc);
	return text;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* temp file, fsync, rename, fsync dir: the new set is durable, or the old file is untouched. */
static int persist(struct st_file *f, const struct st_listener *recs, size_t n, char *err, size_t errlen)
{
	char *text = serialize(recs, n);
	int fd = -1, rc = -1, e;
	if (text == NULL) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		return -1;
	}
	if ((fd = openat(f->dir_fd, STATE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0 ||
	    write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "state %s/%s: %s", f->dir, STATE_TMP, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "state %s/%s: close: %s", f->dir, STATE_TMP, strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(f->dir_fd, STATE_TMP, f->dir_fd, STATE_FILE) != 0 || fsync(f->dir_fd) != 0) {
		snprintf(err, errlen, "state %s/%s: %s", f->dir, STATE_FILE, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		(void)unlinkat(f->dir_fd, STATE_TMP, 0);
	free(text);
	errno = e;              /* the caller tells "store unavailable" from "unexpected" by it */
	return rc;
}

static ssize_t find(const struct st_file *f, const char *id)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->recs[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

/* Make the change on a copy; adopt the copy only once it is on disk. */
static int commit(struct st_file *f, struct st_listener *next, size_t n, char *err, size_t errlen)
{
	if (persist(f, next, n, err, errlen) != 0) {
		free(next);
		return -1;
	}
	free(f->recs);
	f->recs = next;
	f->n = n;
	return 0;
}

/* Every put and del on one copy, persisted once: a batch lands whole or not at all. */
static int file_apply(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, char *err, size_t errlen)
{
	struct st_file *f = (struct st_file *)s;
	struct st_listener *next = malloc((f->n + nputs + 1) * sizeof(*next));
	size_t n = f->n;
	if (next == NULL) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		return -1;
	}
	if (f->n > 0)
		memcpy(next, f->recs, f->n * sizeof(*next));
	for (size_t i = 0; i < ndels; i++)
		for (size_t k = 0; k < n; k++)
			if (strcmp(next[k].id, dels[i]) == 0) {
				memmove(next + k, next + k + 1, (n - k - 1) * sizeof(*next));
				n--;
				break;
			}
	for (size_t i = 0; i < nputs; i++) {
		size_t k = 0;
		while (k < n && strcmp(next[k].id, puts[i].id) != 0)
			k++;
		next[k] = puts[i];
		n += k == n;
	}
	return commit(f, next, n, err, errlen);
}

static int file_load(struct st *s, int (*fn)(const struct st_listener *, void *), void *arg,
	char *err, size_t errlen)
{
	struct st_file *f = (struct st_file *)s;
	(void)err;
	(void)errlen;
	for (size_t i = 0; i < f->n; i++)
		if (fn(&f->recs[i], arg) != 0)
			return -1;
	return 0;
}

static void file_close(struct st *s)
{
	struct st_file *f = (struct st_file *)s;
	if (f->dir_fd >= 0)
		close(f->dir_fd);
	if (f->lock_fd >= 0)
		close(f->lock_fd);      /* releases the flock */
	free(f->recs);
	free(f->dir);
	free(f);
}

static const struct st_ops file_ops = {
	.apply = file_apply, .load = file_load, .close = file_close,
};

/* Read dir/listeners.json into f->recs. A missing file is an empty store; a corrupt one stops
 * the start: silently dropping confirmed listeners is worse than not starting. */
static int read_state(struct st_file *f, char *err, size_t errlen)
{
	json_error_t je;
	int fd = openat(f->dir_fd, STATE_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	json_t *doc = fd < 0 ? NULL : json_loadfd(fd, 0, &je);
	json_t *arr = json_object_get(doc, "listeners");
	int rc = -1;
	if (fd < 0) {
		snprintf(err, errlen, "state %s/%s: %s", f->dir, STATE_FILE, strerror(errno));
		goto out;
	}
	if (doc == NULL || !json_is_array(arr) ||
	    json_integer_value(json_object_get(doc, "version")) != STATE_VERSION) {
		snprintf(err, errlen, "state %s/%s:%d: %s", f->dir, STATE_FILE, doc ? 0 : je.line,
			doc ? "not a gaapd state file (version 1)" : je.text);
		goto out;
	}
	if ((f->recs = calloc(json_array_size(arr) + 1, sizeof(*f->recs))) == NULL) {
		snprintf(err, errlen, "state: out of memory");
		goto out;
	}
	for (f->n = 0; f->n < json_array_size(arr); f->n++)
		if (rec_from_json(json_array_get(arr, f->n), &f->recs[f->n]) != 0 ||
		    find(f, f->recs[f->n].id) >= 0) {         /* find() looks at the first n only */
			snprintf(err, errlen, "state %s/%s: listener record %zu is invalid",
				f->dir, STATE_FILE, f->n);
			goto out;
		}
	rc = 0;
out:
	json_decref(doc);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int make_dirs(char *path)
{
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0750);
		*p = '/';
		if (rc != 0 && errno != EEXIST)
			return -1;
	}
	return mkdir(path, 0750) == 0 || errno == EEXIST ? 0 : -1;
}

static int open_dir(struct st_file *f, char *err, size_t errlen)
{
	if (make_dirs(f->dir) != 0 ||
	    (f->dir_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (f->lock_fd = openat(f->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
		snprintf(err, errlen, "state directory %s: %s", f->dir, strerror(errno));
		return -1;
	}
	if (flock(f->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "state directory %s: %s", f->dir, errno == EWOULDBLOCK ?
			"in use by another gaapd (lock held)" : strerror(errno));
		return -1;
	}
	(void)unlinkat(f->dir_fd, STATE_TMP, 0);        /* a crash's leftover; the rename never ran */
	return 0;
}

struct st *st_open_file(const char *dir, char *err, size_t errlen)
{
	struct st_file *f = calloc(1, sizeof(*f));
	if (f == NULL || (f->dir = strdup(dir)) == NULL) {
		free(f);
		snprintf(err, errlen, "state: out of memory");
		return NULL;
	}
	f->base.ops = &file_ops;
	f->dir_fd = f->lock_fd = -1;
	if (open_dir(f, err, errlen) != 0 || read_state(f, err, errlen) != 0) {
		file_close(&f->base);
		return NULL;
	}
	return &f->base;
}
