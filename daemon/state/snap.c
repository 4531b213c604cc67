/* daemon/state/snap.c - snapshots (format: jr_int.h): writing one atomically, loading one with
 * every line checked, and the migration of a v1 listeners.json into the first snapshot. */
#include "jr_int.h"
#include "crc32c.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int jr_fsync_dir(int dir_fd)
{
	return fsync(dir_fd);
}

char *jr_snap_text(const struct jr_set *s, uint64_t seq, size_t *len)
{
	char head[96], tail[96];
	int hl = snprintf(head, sizeof(head), "{\"gaapd_state\":%d,\"seq\":%" PRIu64 ",\"records\":%zu}\n",
		JR_SNAP_VERSION, seq, s->n);
	char *text = malloc((size_t)hl + s->bytes + sizeof(tail)), *p = text;
	if (text == NULL)
		return NULL;
	p = stpcpy(p, head);
	for (const struct jr_rec *r = s->head; r != NULL; r = r->next) {
		memcpy(p, r->line, r->linelen);
		p += r->linelen;
	}
	uint32_t crc = jr_crc32c(0, text, (size_t)(p - text));
	snprintf(tail, sizeof(tail), "{\"end\":%zu,\"crc32c\":%" PRIu32 "}\n", s->n, crc);
	p = stpcpy(p, tail);
	*len = (size_t)(p - text);
	return text;
}

int jr_snap_write(int dir_fd, const char *dir, uint64_t seq, const char *text, size_t len,
	int stop_after, char *err, size_t errlen)
{
	char tmp[64], name[64];
	int fd, e;
	jr_snap_name(tmp, sizeof(tmp), seq, 1);
	jr_snap_name(name, sizeof(name), seq, 0);
	if ((fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    util_write_all(fd, text, len) != 0 || fsync(fd) != 0) {
		e = errno;
		snprintf(err, errlen, "state %s/%s: %s", dir, tmp, strerror(e));
		goto fail;
	}
	if (close(fd) != 0) {
		e = errno;
		fd = -1;
		snprintf(err, errlen, "state %s/%s: close: %s", dir, tmp, strerror(e));
		goto fail;
	}
	if (stop_after == 1)
		goto stop;
	if (renameat(dir_fd, tmp, dir_fd, name) != 0 || jr_fsync_dir(dir_fd) != 0) {
		e = errno;
		fd = -1;
		snprintf(err, errlen, "state %s/%s: %s", dir, name, strerror(e));
		goto fail;
	}
	if (stop_after == 2)
		goto stop;
	return 0;
stop:
	snprintf(err, errlen, "stopped by a test hook");
	errno = ECANCELED;
	return -1;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlinkat(dir_fd, tmp, 0);
	errno = e;
	return -1;
}

/* The JSON value on the line at *off (the line must end with '\n'); *off moves past it. */
static json_t *line_at(const unsigned char *buf, size_t len, size_t *off)
{
	const unsigned char *nl = memchr(buf + *off, '\n', len - *off);
	if (nl == NULL)
		return NULL;
	json_t *v = json_loadb((const char *)buf + *off, (size_t)(nl - buf) - *off, 0, NULL);
	*off = (size_t)(nl - buf) + 1;
	return v;
}

/* The end line: where it starts (*at), after it checked that the CRC covers the rest. */
static int check_end(const unsigned char *buf, size_t len, size_t *at, size_t *count)
{
	const unsigned char *p = len > 1 && buf[len - 1] == '\n' ? memrchr(buf, '\n', len - 1) : NULL;
	json_int_t n = -1, crc = -1;
	*at = p != NULL ? (size_t)(p - buf) + 1 : 0;
	size_t off = *at;
	json_t *end = p != NULL ? line_at(buf, len, &off) : NULL;
	int ok = json_unpack(end, "{s:I, s:I}", "end", &n, "crc32c", &crc) == 0 && n >= 0 &&
		crc == (json_int_t)jr_crc32c(0, buf, *at);
	json_decref(end);
	*count = (size_t)n;
	return ok ? 0 : -1;
}

/* One record line at *off into s. why: the reason it is refused. */
static int load_rec(const unsigned char *buf, size_t len, size_t *off, const struct jr_opts *o,
	struct jr_set *s, char *why, size_t whylen)
{
	size_t at = *off;
	json_t *line = line_at(buf, len, off), *fields = NULL;
	const char *kind = "", *id = "";
	struct jr_rec *r = NULL;
	int rc = -1;
	if (json_unpack(line, "{s:s, s:s, s:o}", "kind", &kind, "id", &id, "fields", &fields) != 0 ||
	    !jr_kind_ok(kind) || !jr_id_ok(id) || !json_is_object(fields))
		snprintf(why, whylen, "not a record");
	else if (jr_set_find(s, kind, id) != NULL)
		snprintf(why, whylen, "%s %s is there twice", kind, id);
	else if (o != NULL && o->check != NULL &&
	    o->check(kind, id, fields, o->check_arg, why, whylen) != 0)
		;
	else if ((r = jr_rec_with_line(kind, id, fields, (const char *)buf + at, *off - at)) == NULL ||
	    jr_set_add(s, r) != 0)
		snprintf(why, whylen, "out of memory");
	else
		rc = 0;
	if (rc != 0)
		jr_rec_free(r);
	json_decref(line);
	return rc;
}

static int load_records(const unsigned char *buf, size_t len, uint64_t seq, const struct jr_opts *o,
	struct jr_set *s, size_t *at, char *why, size_t whylen)
{
	size_t count, end, off = 0;
	json_int_t v = 0, sseq = -1, n = -1;
	json_t *head;
	if (check_end(buf, len, &end, &count) != 0) {
		*at = end;
		snprintf(why, whylen, "the end line is missing or its checksum does not match");
		return -1;
	}
	head = line_at(buf, end, &off);
	json_unpack(head, "{s:I, s:I, s:I}", "gaapd_state", &v, "seq", &sseq, "records", &n);
	json_decref(head);
	if (v != JR_SNAP_VERSION || sseq != (json_int_t)seq || n != (json_int_t)count) {
		*at = 0;
		snprintf(why, whylen, "not a gaapd snapshot (version %d) of entry %" PRIu64,
			JR_SNAP_VERSION, seq);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		*at = off;
		if (load_rec(buf, end, &off, o, s, why, whylen) != 0)
			return -1;
	}
	*at = off;
	if (off != end) {
		snprintf(why, whylen, "more lines than the %zu records it announces", count);
		return -1;
	}
	return 0;
}

int jr_snap_load(int dir_fd, const char *dir, uint64_t seq, const struct jr_opts *o,
	struct jr_set *s, size_t *bytes, char *err, size_t errlen)
{
	char name[64], why[256] = "";
	size_t len = 0, at = 0;
	jr_snap_name(name, sizeof(name), seq, 0);
	unsigned char *buf = jr_read_file(dir_fd, name, &len);
	if (buf == NULL) {
		snprintf(err, errlen, "state %s/%s: %s", dir, name, strerror(errno));
		return -1;
	}
	*bytes = len;
	int rc = load_records(buf, len, seq, o, s, &at, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "state %s/%s: offset %zu: %s (the snapshot is damaged)", dir,
			name, at, why);
		errno = EINVAL;
	}
	free(buf);
	return rc;
}

/* One v1 listener (the object the v1 file back end, daemon/store_file.c until issue 12, wrote) as a record of kind "listener". */
static int v1_add(json_t *l, const struct jr_opts *o, struct jr_set *s, char *why, size_t whylen)
{
	const char *id = json_string_value(json_object_get(l, "ListenerId"));
	struct jr_rec *r = NULL;
	size_t len = 0;
	char *line;
	if (!json_is_object(l) || id == NULL || !jr_id_ok(id) || jr_set_find(s, "listener", id)) {
		snprintf(why, whylen, "no ListenerId, or one seen before");
		return -1;
	}
	if (o->check != NULL && o->check("listener", id, l, o->check_arg, why, whylen) != 0)
		return -1;
	if ((line = jr_line("listener", id, l, &len)) == NULL ||
	    (r = jr_rec_with_line("listener", id, l, line, len)) == NULL || jr_set_add(s, r) != 0) {
		free(line);
		jr_rec_free(r);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	free(line);
	return 0;
}

/* dir/listeners.json, {"version":1,"listeners":[{..}, ..]}, into s. */
static int v1_read(int dir_fd, const char *dir, const struct jr_opts *o, struct jr_set *s,
	char *err, size_t errlen)
{
	json_error_t je = { .line = 0 };
	char why[256] = "";
	int fd = openat(dir_fd, JR_V1_FILE, O_RDONLY | O_CLOEXEC), rc = -1;
	json_t *doc = fd >= 0 ? json_loadfd(fd, 0, &je) : NULL;
	json_t *arr = json_object_get(doc, "listeners");
	if (fd < 0)
		snprintf(err, errlen, "state %s/%s: %s", dir, JR_V1_FILE, strerror(errno));
	else if (doc == NULL || !json_is_array(arr) ||
	    json_integer_value(json_object_get(doc, "version")) != 1)
		snprintf(err, errlen, "state %s/%s:%d: %s", dir, JR_V1_FILE, je.line,
			doc ? "not a gaapd state file (version 1)" : je.text);
	else
		rc = 0;
	for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
		if ((rc = v1_add(json_array_get(arr, i), o, s, why, sizeof(why))) != 0)
			snprintf(err, errlen, "state %s/%s: listener record %zu is invalid: %s", dir,
				JR_V1_FILE, i, why);
	}
	json_decref(doc);
	if (fd >= 0)
		close(fd);
	errno = EINVAL;
	return rc;
}

int jr_migrate(int dir_fd, const char *dir, const struct jr_opts *o, char *err, size_t errlen)
{
	struct jr_set s;
	size_t len = 0;
	char *text = NULL;
	int rc = -1, stop = o->stop_migrate_after;
	jr_set_init(&s);
	if (v1_read(dir_fd, dir, o, &s, err, errlen) != 0)
		goto out;
	if ((text = jr_snap_text(&s, 0, &len)) == NULL) {
		snprintf(err, errlen, "state: out of memory");
		errno = ENOMEM;
		goto out;
	}
	if (jr_snap_write(dir_fd, dir, 0, text, len, stop == 1 || stop == 2 ? stop : 0, err,
	    errlen) != 0)
		goto out;
	if (renameat(dir_fd, JR_V1_FILE, dir_fd, JR_V1_DONE) != 0 || jr_fsync_dir(dir_fd) != 0) {
		snprintf(err, errlen, "state %s/%s: rename to %s: %s", dir, JR_V1_FILE, JR_V1_DONE,
			strerror(errno));
		goto out;
	}
	LOG_INFO("state", "migrated %zu listeners from %s (v1)", s.n, JR_V1_FILE);
	rc = 0;
	if (stop == 3) {
		snprintf(err, errlen, "stopped by a test hook");
		errno = ECANCELED;
		rc = -1;
	}
out:
	free(text);
	jr_set_clear(&s);
	return rc;
}
