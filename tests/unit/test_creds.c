/* tests/unit/test_creds.c - the credentials file: profile INI parsing, "file:line: reason" errors,
 * proxies limiting, and first-start creation (mode 0600, a loadable random key, idempotent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "creds.h"

static struct ctl_creds *parse_ok(const char *text)
{
	struct ctl_creds *c = NULL;
	char err[256] = "";
	if (ctl_creds_parse(text, "creds", &c, err, sizeof(err)) != 0)
		fail_msg("rejected: %s", err);
	assert_non_null(c);
	return c;
}

static void parses_sections_comments_and_blank_lines(void **state)
{
	struct ctl_creds *c = parse_ok(
		"# gaapd keys\r\n"
		"; another comment style\n"
		"\n"
		"[default]\n"
		"secret_id = AKIDdefault\n"
		"  secret_key=  s3cr3t  \r\n"
		"\n"
		"[ ops ]\n"
		"\tsecret_id\t=\tAKIDops\n"
		"SECRET_KEY = k=with=equals # not a comment\n"
		"proxies = link-a ,link-b,  link-c\n");
	const struct ctl_cred *d, *ops;
	(void)state;
	assert_int_equal(c->n, 2);
	d = ctl_creds_section(c, "default");
	ops = ctl_creds_section(c, "ops");
	assert_non_null(d);
	assert_non_null(ops);
	assert_string_equal(d->secret_id, "AKIDdefault");
	assert_string_equal(d->secret_key, "s3cr3t");
	assert_null(d->proxies);
	assert_string_equal(ops->secret_id, "AKIDops");
	assert_string_equal(ops->secret_key, "k=with=equals # not a comment");
	assert_int_equal(ops->nproxies, 3);
	assert_string_equal(ops->proxies[0], "link-a");
	assert_string_equal(ops->proxies[1], "link-b");
	assert_string_equal(ops->proxies[2], "link-c");
	assert_ptr_equal(ctl_creds_find(c, "AKIDops"), ops);
	assert_ptr_equal(ctl_creds_find(c, "AKIDdefault"), d);
	assert_null(ctl_creds_find(c, "AKIDnone"));
	assert_null(ctl_creds_find(c, "akiddefault"));        /* SecretIds are case-sensitive */
	assert_null(ctl_creds_section(c, "missing"));
	ctl_creds_destroy(c);
}

static void empty_file_has_no_keys(void **state)
{
	struct ctl_creds *c = parse_ok("# nothing yet\n\n");
	(void)state;
	assert_int_equal(c->n, 0);
	assert_null(ctl_creds_find(c, "AKID"));
	ctl_creds_destroy(c);
	c = parse_ok("");
	assert_int_equal(c->n, 0);
	ctl_creds_destroy(c);
	ctl_creds_destroy(NULL);
}

static void last_line_without_newline(void **state)
{
	struct ctl_creds *c = parse_ok("[default]\nsecret_id = a\nsecret_key = b");
	(void)state;
	assert_string_equal(c->items[0].secret_key, "b");
	ctl_creds_destroy(c);
}

static void proxies_limit_what_a_key_manages(void **state)
{
	struct ctl_creds *c = parse_ok(
		"[all]\nsecret_id = A\nsecret_key = a\n"
		"[some]\nsecret_id = S\nsecret_key = s\nproxies = link-cuxw2rm0, link-2\n"
		"[one]\nsecret_id = O\nsecret_key = o\nproxies = link-2\n");
	const struct ctl_cred *all = ctl_creds_find(c, "A");
	const struct ctl_cred *some = ctl_creds_find(c, "S");
	const struct ctl_cred *one = ctl_creds_find(c, "O");
	(void)state;
	assert_true(ctl_cred_allows(all, "link-cuxw2rm0"));
	assert_true(ctl_cred_allows(all, "link-anything"));
	assert_true(ctl_cred_allows(some, "link-cuxw2rm0"));
	assert_true(ctl_cred_allows(some, "link-2"));
	assert_false(ctl_cred_allows(some, "link-3"));
	assert_false(ctl_cred_allows(some, "link-"));         /* whole IDs only */
	assert_false(ctl_cred_allows(some, "link-cuxw2rm0x"));
	assert_false(ctl_cred_allows(one, "link-cuxw2rm0"));
	assert_true(ctl_cred_allows(one, "link-2"));
	ctl_creds_destroy(c);
}

static void assert_parse_error(const char *text, const char *expect)
{
	struct ctl_creds *c = NULL;
	char err[256] = "";
	if (ctl_creds_parse(text, "creds", &c, err, sizeof(err)) != -1)
		fail_msg("accepted, expected \"%s\"", expect);
	assert_null(c);
	if (strstr(err, expect) == NULL)
		fail_msg("error \"%s\", expected \"%s\"", err, expect);
}

static void errors_name_file_line_and_reason(void **state)
{
	(void)state;
	assert_parse_error("secret_id = a\n", "creds:1: secret_id: key outside a section");
	assert_parse_error("[d]\nsecret_id = a\nsecret_key = b\nregion = ap-guangzhou\n",
		"creds:4: region: unknown key");
	assert_parse_error("# c\n[d]\nsecret_key = b\n[e]\nsecret_id = x\nsecret_key = y\n",
		"creds:2: section [d]: missing secret_id");
	assert_parse_error("[d]\nsecret_id = a\n", "creds:1: section [d]: missing secret_key");
	assert_parse_error("[d]\nsecret_id = a\nsecret_key = b\n[e]\nsecret_id = a\nsecret_key = c\n",
		"creds:5: secret_id: already used in section [d]");
	assert_parse_error("[d]\nsecret_id = a\nsecret_key = b\n\n[d]\nsecret_id = c\nsecret_key = e\n",
		"creds:5: duplicate section [d]");
	assert_parse_error("[d]\nsecret_id = a\nsecret_id = b\n", "creds:3: secret_id: duplicate key");
	assert_parse_error("[d]\nsecret_id = a\nsecret_key = b\nproxies = x\nproxies = y\n",
		"creds:5: proxies: duplicate key");
	assert_parse_error("[d]\nsecret_id =\n", "creds:2: secret_id: empty value");
	assert_parse_error("[d]\njust words\n", "creds:2: expected");
	assert_parse_error("[d\n", "creds:1: section header without ']'");
	assert_parse_error("[ ]\n", "creds:1: section name empty");
	assert_parse_error("[d]\nsecret_id = a\nsecret_key = b\nproxies = x,,y\n", "creds:4: proxies: empty entry");
	assert_parse_error("[d]\nsecret_id = a\nsecret_key = b\nproxies = x,\n", "creds:4: proxies: empty entry");
}

static void errors_on_overlong_values(void **state)
{
	char text[1024], longv[300];
	(void)state;
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	snprintf(text, sizeof(text), "[d]\nsecret_id = %.128s\nsecret_key = k\n", longv);
	assert_parse_error(text, "creds:2: secret_id: value longer than 127 bytes");
	snprintf(text, sizeof(text), "[d]\nsecret_id = i\nsecret_key = %s\n", longv);
	assert_parse_error(text, "creds:3: secret_key: value longer than 127 bytes");
	snprintf(text, sizeof(text), "[%.64s]\n", longv);
	assert_parse_error(text, "creds:1: section name empty or longer than 63 bytes");
	snprintf(text, sizeof(text), "[d]\nsecret_id = i\nsecret_key = k\nproxies = a, %.64s\n", longv);
	assert_parse_error(text, "creds:4: proxies: empty entry or one longer than 63 bytes");
	/* the longest values that fit */
	snprintf(text, sizeof(text), "[%.63s]\nsecret_id = %.127s\nsecret_key = %.127s\n", longv, longv, longv);
	ctl_creds_destroy(parse_ok(text));
}

static void errors_report_small_buffers_safely(void **state)
{
	struct ctl_creds *c = NULL;
	char err[8];
	(void)state;
	assert_int_equal(ctl_creds_parse("[d]\nbogus = 1\n", "a-long-file-name", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "a-long-");
}

struct tmp {
	char dir[64];
	char sub[96];
	char path[128];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_creds.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->sub, sizeof(t->sub), "%s/state", t->dir);
	snprintf(t->path, sizeof(t->path), "%s/credentials", t->sub);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	unlink(t->path);
	rmdir(t->sub);
	rmdir(t->dir);
	free(t);
	return 0;
}

static int is_alnum(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == strlen(s);
}

static void ensure_creates_private_loadable_key(void **state)
{
	struct tmp *t = *state;
	struct ctl_creds *c = NULL;
	const struct ctl_cred *d;
	struct stat st;
	char err[256] = "";
	if (ctl_creds_ensure(t->path, err, sizeof(err)) != 1)
		fail_msg("ensure: %s", err);
	assert_int_equal(stat(t->sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);          /* the missing parent, made private */
	assert_int_equal(stat(t->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	if (ctl_creds_load(t->path, &c, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	assert_int_equal(c->n, 1);
	d = ctl_creds_section(c, "default");
	assert_non_null(d);
	assert_int_equal(strlen(d->secret_id), 36);
	assert_memory_equal(d->secret_id, "AKID", 4);
	assert_true(is_alnum(d->secret_id));
	assert_int_equal(strlen(d->secret_key), 32);
	assert_true(is_alnum(d->secret_key));
	assert_null(d->proxies);
	ctl_creds_destroy(c);
}

static void ensure_is_idempotent(void **state)
{
	struct tmp *t = *state;
	struct ctl_creds *a = NULL, *b = NULL;
	char err[256] = "";
	assert_int_equal(ctl_creds_ensure(t->path, err, sizeof(err)), 1);
	assert_int_equal(ctl_creds_load(t->path, &a, err, sizeof(err)), 0);
	assert_int_equal(ctl_creds_ensure(t->path, err, sizeof(err)), 0);
	assert_int_equal(ctl_creds_load(t->path, &b, err, sizeof(err)), 0);
	assert_string_equal(a->items[0].secret_id, b->items[0].secret_id);
	assert_string_equal(a->items[0].secret_key, b->items[0].secret_key);
	ctl_creds_destroy(a);
	ctl_creds_destroy(b);
}

static void ensure_keys_differ(void **state)
{
	struct tmp *t = *state;
	struct ctl_creds *a = NULL, *b = NULL;
	char err[256] = "";
	assert_int_equal(ctl_creds_ensure(t->path, err, sizeof(err)), 1);
	assert_int_equal(ctl_creds_load(t->path, &a, err, sizeof(err)), 0);
	assert_int_equal(unlink(t->path), 0);
	assert_int_equal(ctl_creds_ensure(t->path, err, sizeof(err)), 1);
	assert_int_equal(ctl_creds_load(t->path, &b, err, sizeof(err)), 0);
	assert_string_not_equal(a->items[0].secret_id, b->items[0].secret_id);
	assert_string_not_equal(a->items[0].secret_key, b->items[0].secret_key);
	ctl_creds_destroy(a);
	ctl_creds_destroy(b);
}

static void ensure_reports_errors(void **state)
{
	struct tmp *t = *state;
	char path[160], err[256] = "";
	FILE *fp;
	(void)state;
	/* a regular file where the parent directory should be */
	snprintf(path, sizeof(path), "%s/credentials/x", t->sub);
	assert_int_equal(mkdir(t->sub, 0700), 0);
	assert_non_null(fp = fopen(t->path, "w"));
	fclose(fp);
	assert_int_equal(ctl_creds_ensure(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
}

static void load_reports_errors(void **state)
{
	struct tmp *t = *state;
	struct ctl_creds *c = NULL;
	char err[256] = "";
	FILE *fp;
	assert_int_equal(ctl_creds_load(t->path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, t->path));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(mkdir(t->sub, 0700), 0);
	assert_non_null(fp = fopen(t->path, "w"));
	fputs("[d]\nsecret_id = a\nsecret_key = b\n", fp);
	fputc('\0', fp);
	fclose(fp);
	assert_int_equal(ctl_creds_load(t->path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	assert_non_null(fp = fopen(t->path, "w"));
	fputs("[d]\nsecret_id = a\n", fp);
	fclose(fp);
	assert_int_equal(ctl_creds_load(t->path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: section [d]: missing secret_key"));
	assert_non_null(strstr(err, t->path));
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_sections_comments_and_blank_lines),
		cmocka_unit_test(empty_file_has_no_keys),
		cmocka_unit_test(last_line_without_newline),
		cmocka_unit_test(proxies_limit_what_a_key_manages),
		cmocka_unit_test(errors_name_file_line_and_reason),
		cmocka_unit_test(errors_on_overlong_values),
		cmocka_unit_test(errors_report_small_buffers_safely),
		cmocka_unit_test_setup_teardown(ensure_creates_private_loadable_key, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(ensure_is_idempotent, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(ensure_keys_differ, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(ensure_reports_errors, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(load_reports_errors, tmp_setup, tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
