/* control/creds.c - the credentials file (creds.h): a strict reader of the Tencent Cloud profile
 * INI format, and the first-start generator of a random [default] key.
 * Keys are matched case-insensitively, as Python's configparser (which the SDK tools use) does;
 * values are taken literally (no inline comments, no quotes), also as configparser does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "creds.h"
#include "util.h"

#define CREDS_FILE_MAX (1024 * 1024)
#define PROXY_ID_MAX 64
#define RANDOM_LEN 32

struct parser {
	const char *name;           /* file name for messages */
	int line;
	int section_line;           /* where the current section started */
	struct ctl_creds *c;        /* the current section is the last item, once there is one */
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail_at(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static struct ctl_cred *current(struct parser *p)
{
	return p->c->n > 0 ? &p->c->items[p->c->n - 1] : NULL;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trim blanks off the slice [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* A finished section must have both halves of its key. */
static int finish_section(struct parser *p)
{
	const struct ctl_cred *cur = current(p);
	if (cur == NULL)
		return 0;
	if (cur->secret_id[0] == '\0')
		return fail_at(p, p->section_line, "section [%s]: missing secret_id", cur->section);
	if (cur->secret_key[0] == '\0')
		return fail_at(p, p->section_line, "section [%s]: missing secret_key", cur->section);
	return 0;
}

static int start_section(struct parser *p, const char *s, size_t n)
{
	struct ctl_cred *items;
	s++;                        /* the caller saw '[' and ']' at either end */
	n -= 2;
	trim(&s, &n);
	if (n == 0 || n >= sizeof(items->section))
		return fail_at(p, p->line, "section name empty or longer than %zu bytes",
			sizeof(items->section) - 1);
	for (size_t i = 0; i < p->c->n; i++)
		if (strncmp(p->c->items[i].section, s, n) == 0 && p->c->items[i].section[n] == '\0')
			return fail_at(p, p->line, "duplicate section [%.*s]", (int)n, s);
	if (finish_section(p) != 0)
		return -1;
	if ((items = realloc(p->c->items, (p->c->n + 1) * sizeof(*items))) == NULL)
		return fail_at(p, p->line, "out of memory");
	p->c->items = items;
	memset(&items[p->c->n], 0, sizeof(*items));
	memcpy(items[p->c->n].section, s, n);
	p->c->n++;
	p->section_line = p->line;
	return 0;
}

static int set_string(struct parser *p, const char *key, char *dst, size_t size, const char *v, size_t n)
{
	if (dst[0] != '\0')
		return fail_at(p, p->line, "%s: duplicate key", key);
	if (n >= size)
		return fail_at(p, p->line, "%s: value longer than %zu bytes", key, size - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int set_secret_id(struct parser *p, const char *v, size_t n)
{
	struct ctl_cred *cur = current(p);
	if (set_string(p, "secret_id", cur->secret_id, sizeof(cur->secret_id), v, n) != 0)
		return -1;
	/* A SecretId names one key: the server could not tell which secret_key to check. */
	for (size_t i = 0; i + 1 < p->c->n; i++)
		if (strcmp(p->c->items[i].secret_id, cur->secret_id) == 0)
			return fail_at(p, p->line, "secret_id: already used in section [%s]",
				p->c->items[i].section);
	return 0;
}

static int add_proxy(struct parser *p, struct ctl_cred *cur, const char *s, size_t n)
{
	char **list;
	trim(&s, &n);
	if (n == 0 || n >= PROXY_ID_MAX)
		return fail_at(p, p->line, "proxies: empty entry or one longer than %d bytes", PROXY_ID_MAX - 1);
	if ((list = realloc(cur->proxies, (cur->nproxies + 1) * sizeof(*list))) == NULL)
		return fail_at(p, p->line, "out of memory");
	cur->proxies = list;
	if ((list[cur->nproxies] = strndup(s, n)) == NULL)
		return fail_at(p, p->line, "out of memory");
	cur->nproxies++;
	return 0;
}

/* "link-a, link-b": comma-separated, blanks around entries ignored, no empty entries. */
static int set_proxies(struct parser *p, const char *v, size_t n)
{
	struct ctl_cred *cur = current(p);
	if (cur->proxies != NULL)
		return fail_at(p, p->line, "proxies: duplicate key");
	for (;;) {
		const char *comma = memchr(v, ',', n);
		size_t len = comma != NULL ? (size_t)(comma - v) : n;
		if (add_proxy(p, cur, v, len) != 0)
			return -1;
		if (comma == NULL)
			return 0;
		v += len + 1;
		n -= len + 1;
	}
}

static int key_value(struct parser *p, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);
	const char *v;
	size_t klen, vlen;
	struct ctl_cred *cur = current(p);
	if (eq == NULL)
		return fail_at(p, p->line, "expected [section], key = value or a comment");
	klen = (size_t)(eq - s);
	v = eq + 1;
	vlen = n - klen - 1;
	trim(&s, &klen);
	trim(&v, &vlen);
	if (cur == NULL)
		return fail_at(p, p->line, "%.*s: key outside a section", (int)klen, s);
	if (vlen == 0)
		return fail_at(p, p->line, "%.*s: empty value", (int)klen, s);
	if (klen == 9 && strncasecmp(s, "secret_id", 9) == 0)
		return set_secret_id(p, v, vlen);
	if (klen == 10 && strncasecmp(s, "secret_key", 10) == 0)
		return set_string(p, "secret_key", cur->secret_key, sizeof(cur->secret_key), v, vlen);
	if (klen == 7 && strncasecmp(s, "proxies", 7) == 0)
		return set_proxies(p, v, vlen);
	return fail_at(p, p->line, "%.*s: unknown key", (int)klen, s);
}

static int parse_line(struct parser *p, const char *s, size_t n)
{
	trim(&s, &n);
	if (n == 0 || s[0] == '#' || s[0] == ';')
		return 0;
	if (s[0] == '[') {
		if (n < 2 || s[n - 1] != ']')
			return fail_at(p, p->line, "section header without ']'");
		return start_section(p, s, n);
	}
	return key_value(p, s, n);
}

int ctl_creds_parse(const char *text, const char *name, struct ctl_creds **out, char *err, size_t errlen)
{
	struct parser p = { .name = name, .err = err, .errlen = errlen };
	if ((p.c = calloc(1, sizeof(*p.c))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	for (const char *s = text; *s != '\0';) {
		const char *nl = strchr(s, '\n');
		size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
		p.line++;
		if (parse_line(&p, s, n) != 0)
			goto fail;
		s += n + (nl != NULL);
	}
	if (finish_section(&p) != 0)
		goto fail;
	*out = p.c;
	return 0;
fail:
	ctl_creds_destroy(p.c);
	return -1;
}

/* The whole file into a NUL-terminated malloc'd string; -1 with err set. */
static int read_file(const char *path, char **text, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rbe");
	char *buf = NULL;
	size_t n = 0;
	int rc = -1;
	if (fp == NULL || (buf = malloc(CREDS_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	n = fread(buf, 1, CREDS_FILE_MAX + 1, fp);
	if (ferror(fp))
		snprintf(err, errlen, "%s: read error", path);
	else if (n > CREDS_FILE_MAX)
		snprintf(err, errlen, "%s: larger than %d bytes", path, CREDS_FILE_MAX);
	else if (memchr(buf, '\0', n) != NULL)
		snprintf(err, errlen, "%s: contains a NUL byte", path);
	else
		rc = 0;
	buf[n < CREDS_FILE_MAX ? n : CREDS_FILE_MAX] = '\0';
out:
	if (fp != NULL)
		fclose(fp);
	if (rc == 0) {
		*text = buf;
	} else if (buf != NULL) {
		OPENSSL_cleanse(buf, n < CREDS_FILE_MAX ? n : CREDS_FILE_MAX);
		free(buf);
	}
	return rc;
}

int ctl_creds_load(const char *path, struct ctl_creds **out, char *err, size_t errlen)
{
	char *text = NULL;
	int rc;
	if (read_file(path, &text, err, errlen) != 0)
		return -1;
	rc = ctl_creds_parse(text, path, out, err, errlen);
	OPENSSL_cleanse(text, strlen(text));   /* the secret keys should not linger in freed memory */
	free(text);
	return rc;
}

void ctl_creds_destroy(struct ctl_creds *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		for (size_t j = 0; j < c->items[i].nproxies; j++)
			free(c->items[i].proxies[j]);
		free(c->items[i].proxies);
	}
	if (c->items != NULL)
		OPENSSL_cleanse(c->items, c->n * sizeof(*c->items));
	free(c->items);
	free(c);
}

const struct ctl_cred *ctl_creds_find(const struct ctl_creds *c, const char *secret_id)
{
	for (size_t i = 0; c != NULL && i < c->n; i++)
		if (strcmp(c->items[i].secret_id, secret_id) == 0)
			return &c->items[i];
	return NULL;
}

const struct ctl_cred *ctl_creds_section(const struct ctl_creds *c, const char *section)
{
	for (size_t i = 0; c != NULL && i < c->n; i++)
		if (strcmp(c->items[i].section, section) == 0)
			return &c->items[i];
	return NULL;
}

int ctl_cred_allows(const struct ctl_cred *cred, const char *proxy_id)
{
	if (cred->proxies == NULL)
		return 1;
	for (size_t i = 0; i < cred->nproxies; i++)
		if (strcmp(cred->proxies[i], proxy_id) == 0)
			return 1;
	return 0;
}

/* n random alphanumerics and a NUL into out. Bytes >= 248 (4 * 62) are dropped: keeping them
 * would favour the first 8 characters (modulo bias). */
static int random_alnum(char *out, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char b[64];
	size_t got = 0;
	int rc = 0;
	while (got < n && rc == 0) {
		if (RAND_bytes(b, sizeof(b)) != 1)
			rc = -1;
		for (size_t i = 0; rc == 0 && i < sizeof(b) && got < n; i++)
			if (b[i] < 248)
				out[got++] = set[b[i] % 62];
	}
	out[got] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
	return rc;
}

/* Create every missing directory above the file, mode 0700 (they will hold a secret). */
static int make_parents(const char *path)
{
	char *dir = strdup(path);
	int rc = 0;
	if (dir == NULL || dir[0] == '\0') {
		free(dir);
		errno = dir == NULL ? ENOMEM : ENOENT;
		return -1;
	}
	for (char *s = strchr(dir + 1, '/'); s != NULL && rc == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	free(dir);
	return rc;
}

static int write_new_key(int fd)
{
	char id[RANDOM_LEN + 1], key[RANDOM_LEN + 1], text[256];
	int n, rc = -1;
	if (random_alnum(id, RANDOM_LEN) != 0 || random_alnum(key, RANDOM_LEN) != 0) {
		errno = EIO;
		goto out;
	}
	n = snprintf(text, sizeof(text), "# gaapd API credentials (Tencent Cloud profile format),"
		" created on first start.\n[default]\nsecret_id = AKID%s\nsecret_key = %s\n", id, key);
	if (n > 0 && (size_t)n < sizeof(text) && util_write_all(fd, text, (size_t)n) == 0 && fsync(fd) == 0)
		rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

/* Make the new directory entry durable too; best effort, the file itself is already synced. */
static void sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
	int fd = dir != NULL ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

static int create_file(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int ctl_creds_ensure(const char *path, char *err, size_t errlen)
{
	int fd = create_file(path);
	int rc;
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0 && errno == ENOENT && make_parents(path) == 0)
		fd = create_file(path);
	if (fd < 0 && errno == EEXIST)
		return 0;               /* someone else created it meanwhile */
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = write_new_key(fd);
	if (close(fd) != 0)
		rc = -1;
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);           /* a half-written file would pass as existing next time */
		return -1;
	}
	sync_parent(path);
	return 1;
}
