/* daemon/store_file.c - the file back end of the state store (store.h).
 * The whole record set lives in memory and in dir/listeners.json; a change builds the new set,
 * writes it to listeners.json.tmp, fsyncs, renames over the old file and fsyncs the directory,
 * and only then replaces the in-memory set. A crash at any point leaves the old or the new file.
 * Each record keeps its JSON line, made once when it is put: a change then costs one copy of the
 * lines and the write, not a JSON encoding of every listener.
 */
#include "store.h"
#include "util.h"

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

struct st_entry {
	struct st_listener rec;
	char *line;                 /* rec as compact JSON, owned by the entry */
};

struct st_file {
	struct st base;             /* first: a struct st * is a struct st_file * */
	char *dir;
	int dir_fd;
	int lock_fd;
	struct st_entry *ents;
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

static char *rec_line(const struct st_listener *r)
{
	json_t *j = rec_to_json(r);
	char *line = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return line;
}

#define STATE_HEAD "{\"version\":1,\"listeners\":[\n"
#define STATE_TAIL "\n]}\n"

/* The state file from the entries' lines: valid JSON, one listener a line. */
static char *serialize(const struct st_entry *ents, size_t n, size_t *len)
{
	size_t total = sizeof(STATE_HEAD) + sizeof(STATE_TAIL);
	for (size_t i = 0; i < n; i++)
		total += strlen(ents[i].line) + 2;
	char *text = malloc(total), *p = text;
	if (text == NULL)
		return NULL;
	p = stpcpy(p, STATE_HEAD);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			p = stpcpy(p, ",\n");
		p = stpcpy(p, ents[i].line);
	}
	p = stpcpy(p, STATE_TAIL);
	*len = (size_t)(p - text);
	return text;
}

/* temp file, fsync, rename, fsync dir: the new set is durable, or the old file is untouched. */
static int persist(struct st_file *f, const struct st_entry *ents, size_t n, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = serialize(ents, n, &len);
	int fd = -1, rc = -1, e;
	if (text == NULL) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		return -1;
	}
	if ((fd = openat(f->dir_fd, STATE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0 ||
	    util_write_all(fd, text, len) != 0 || fsync(fd) != 0) {
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

static ssize_t find(const struct st_entry *ents, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ents[i].rec.id, id) == 0)
			return (ssize_t)i;
	return -1;
}

/* A change in the making: the next entry set, sharing the unchanged lines with the current one. */
struct change {
	struct st_entry *next;
	size_t n;
	char **made, **dropped;     /* lines new in next; lines of f->ents that next no longer has */
	size_t nmade, ndropped;
};

static void change_free(struct change *c, int landed)
{
	char **lines = landed ? c->dropped : c->made;
	size_t n = landed ? c->ndropped : c->nmade;
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	if (!landed)
		free(c->next);
	free(c->made);
	free(c->dropped);
}

static int change_put(struct change *c, const struct st_listener *rec)
{
	char *line = rec_line(rec);
	ssize_t k = find(c->next, c->n, rec->id);
	if (line == NULL)
		return -1;
	c->made[c->nmade++] = line;
	if (k >= 0)
		c->dropped[c->ndropped++] = c->next[k].line;
	else
		k = (ssize_t)c->n++;
	c->next[k].rec = *rec;
	c->next[k].line = line;
	return 0;
}

static void change_del(struct change *c, const char *id)
{
	ssize_t k = find(c->next, c->n, id);
	if (k < 0)
		return;
	c->dropped[c->ndropped++] = c->next[k].line;
	memmove(c->next + k, c->next + k + 1, (c->n - (size_t)k - 1) * sizeof(*c->next));
	c->n--;
}

/* Every put and del on one copy, persisted once: a batch lands whole or not at all; memory
 * changes only once the file has. */
static int file_apply(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, char *err, size_t errlen)
{
	struct st_file *f = (struct st_file *)s;
	struct change c = { .n = f->n };
	c.next = malloc((f->n + nputs + 1) * sizeof(*c.next));
	c.made = calloc(nputs + 1, sizeof(*c.made));
	c.dropped = calloc(nputs + ndels + 1, sizeof(*c.dropped));
	int rc = c.next != NULL && c.made != NULL && c.dropped != NULL ? 0 : -1;
	if (rc == 0 && f->n > 0)
		memcpy(c.next, f->ents, f->n * sizeof(*c.next));
	for (size_t i = 0; rc == 0 && i < ndels; i++)
		change_del(&c, dels[i]);
	for (size_t i = 0; rc == 0 && i < nputs; i++)
		rc = change_put(&c, &puts[i]);
	if (rc != 0) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
	} else if ((rc = persist(f, c.next, c.n, err, errlen)) == 0) {
		free(f->ents);
		f->ents = c.next;
		f->n = c.n;
	}
	int e = errno;
	change_free(&c, rc == 0);
	errno = e;
	return rc;
}

static int file_load(struct st *s, int (*fn)(const struct st_listener *, void *), void *arg,
	char *err, size_t errlen)
{
	struct st_file *f = (struct st_file *)s;
	(void)err;
	(void)errlen;
	for (size_t i = 0; i < f->n; i++)
		if (fn(&f->ents[i].rec, arg) != 0)
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
	for (size_t i = 0; i < f->n; i++)
		free(f->ents[i].line);
	free(f->ents);
	free(f->dir);
	free(f);
}

static const struct st_ops file_ops = {
	.apply = file_apply, .load = file_load, .close = file_close,
};

/* Read dir/listeners.json into f->ents. A missing file is an empty store; a corrupt one stops
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
	if ((f->ents = calloc(json_array_size(arr) + 1, sizeof(*f->ents))) == NULL) {
		snprintf(err, errlen, "state: out of memory");
		goto out;
	}
	for (f->n = 0; f->n < json_array_size(arr); f->n++) {
		struct st_entry *e = &f->ents[f->n];
		if (rec_from_json(json_array_get(arr, f->n), &e->rec) != 0 ||
		    find(f->ents, f->n, e->rec.id) >= 0) {
			snprintf(err, errlen, "state %s/%s: listener record %zu is invalid",
				f->dir, STATE_FILE, f->n);
			goto out;
		}
		if ((e->line = rec_line(&e->rec)) == NULL) {
			snprintf(err, errlen, "state: out of memory");
			goto out;
		}
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
