/* tests/unit/test_store.c - the state store (the journal back end, st_open_journal): what a put or
 * del returned 0 for is there after a reopen, a failed write leaves memory and files as they were,
 * a corrupt v1 file stops the start, and a v1 listeners.json comes back as the same listeners.
 * A failed write is provoked with RLIMIT_FSIZE (SIGXFSZ ignored, as gaapd does): EFBIG. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

struct fixture {
	char dir[64];
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/gaapd-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct st_listener rec(const char *id, unsigned port)
{
	struct st_listener r = { .protocol = "HTTP", .proxy_id = "link-cuxw2rm0", .port = port,
		.create_time = 1795833763 };
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.name, sizeof(r.name), "name-%u", port);
	return r;
}

struct collected {
	struct st_listener recs[8];
	size_t n;
};

static int collect(const struct st_listener *r, void *arg)
{
	struct collected *c = arg;
	c->recs[c->n++] = *r;
	return 0;
}

static struct collected reopen(struct fixture *f, struct st **s)
{
	struct collected c = { .n = 0 };
	st_close(*s);
	*s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	assert_non_null(*s);
	assert_int_equal(st_load(*s, collect, &c, f->err, sizeof(f->err)), 0);
	return c;
}

/* Every later write to a file fails with EFBIG (a write at offset >= 1 is past the limit). */
static struct rlimit no_writes(void)
{
	struct rlimit old, lim;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	return old;
}

static void writes_again(struct rlimit old)
{
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
}

static void what_was_written_is_there_after_a_reopen_in_creation_order(void **state)
{
	struct fixture *f = *state;
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	struct st_listener a = rec("listener-aaaaaaaa", 8081), b = rec("listener-bbbbbbbb", 8082);
	assert_non_null(s);
	assert_int_equal(st_put(s, &a, f->err, sizeof(f->err)), 0);
	assert_int_equal(st_put(s, &b, f->err, sizeof(f->err)), 0);
	struct collected c = reopen(f, &s);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.recs[0].id, a.id);
	assert_string_equal(c.recs[1].name, "name-8082");
	assert_int_equal(c.recs[1].port, 8082);
	assert_true(c.recs[1].create_time == 1795833763);
	assert_int_equal(st_del(s, a.id, f->err, sizeof(f->err)), 0);
	assert_int_equal(st_del(s, "listener-nosuchid", f->err, sizeof(f->err)), 0);
	c = reopen(f, &s);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.recs[0].id, b.id);
	st_close(s);
}

static void a_failed_write_changes_neither_memory_nor_file(void **state)
{
	struct fixture *f = *state;
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	struct st_listener a = rec("listener-aaaaaaaa", 8081), b = rec("listener-bbbbbbbb", 8082);
	assert_int_equal(st_put(s, &a, f->err, sizeof(f->err)), 0);
	struct rlimit old = no_writes();
	int put_rc = st_put(s, &b, f->err, sizeof(f->err)), put_errno = errno;
	int del_rc = st_del(s, a.id, f->err, sizeof(f->err));
	writes_again(old);
	assert_int_equal(put_rc, -1);
	assert_int_equal(put_errno, EFBIG);
	assert_non_null(strstr(f->err, "journal write"));
	assert_int_equal(del_rc, -1);
	struct collected c = { .n = 0 };
	assert_int_equal(st_load(s, collect, &c, f->err, sizeof(f->err)), 0);
	assert_int_equal(c.n, 1);                       /* memory: a only */
	c = reopen(f, &s);
	assert_int_equal(c.n, 1);                       /* file: a only */
	assert_string_equal(c.recs[0].id, a.id);
	st_close(s);
}

static void a_batch_lands_whole_or_not_at_all(void **state)
{
	struct fixture *f = *state;
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	struct st_listener batch[3] = { rec("listener-aaaaaaaa", 1), rec("listener-bbbbbbbb", 2),
		rec("listener-cccccccc", 3) };
	const char *dels[] = { "listener-aaaaaaaa", "listener-cccccccc" };
	assert_int_equal(st_apply(s, batch, 3, NULL, 0, f->err, sizeof(f->err)), 0);
	struct rlimit old = no_writes();
	int rc = st_apply(s, NULL, 0, dels, 2, f->err, sizeof(f->err));
	writes_again(old);
	assert_int_equal(rc, -1);
	struct collected c = reopen(f, &s);
	assert_int_equal(c.n, 3);
	struct st_listener renamed = rec("listener-bbbbbbbb", 2);
	snprintf(renamed.name, sizeof(renamed.name), "renamed");
	assert_int_equal(st_apply(s, &renamed, 1, dels, 2, f->err, sizeof(f->err)), 0);
	c = reopen(f, &s);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.recs[0].name, "renamed");
	st_close(s);
}

/* A proxy group's listener has no ProxyId; DeleteListeners removes a batch, unknown ids and all. */
static void group_records_and_batch_deletes(void **state)
{
	struct fixture *f = *state;
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	struct st_listener batch[3] = { rec("listener-aaaaaaaa", 1), rec("listener-bbbbbbbb", 2),
		rec("listener-cccccccc", 3) };
	const char *dels[] = { "listener-cccccccc", "listener-nosuchid", "listener-aaaaaaaa" };
	batch[1].proxy_id[0] = '\0';
	snprintf(batch[1].group_id, sizeof(batch[1].group_id), "lg-qz6ntod5");
	assert_int_equal(st_apply(s, batch, 3, NULL, 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(st_apply(s, NULL, 0, dels, 3, f->err, sizeof(f->err)), 0);
	struct collected c = reopen(f, &s);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.recs[0].id, "listener-bbbbbbbb");
	assert_string_equal(c.recs[0].proxy_id, "");
	assert_string_equal(c.recs[0].group_id, "lg-qz6ntod5");
	const char *last[] = { "listener-bbbbbbbb" };
	assert_int_equal(st_apply(s, NULL, 0, last, 1, f->err, sizeof(f->err)), 0);
	c = reopen(f, &s);
	assert_int_equal(c.n, 0);
	st_close(s);
}

static void a_second_store_on_the_same_directory_is_refused(void **state)
{
	struct fixture *f = *state;
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	assert_non_null(s);
	assert_null(st_open_journal(f->dir, 0, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "in use by another gaapd"));
	st_close(s);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void a_corrupt_state_file_stops_the_start(void **state)
{
	struct fixture *f = *state;
	write_file(f->dir, "listeners.json", "{\"version\":1,\"listeners\":[{\"ListenerId\":");
	assert_null(st_open_journal(f->dir, 0, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "listeners.json"));
	write_file(f->dir, "listeners.json", "{\"version\":1,\"listeners\":[{\"ListenerId\":\"x\"}]}");
	assert_null(st_open_journal(f->dir, 0, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "record 0 is invalid"));
}

/* The v1 file exactly as the file back end wrote it: the same listeners, in the same order. */
static void a_v1_state_file_comes_back_as_the_same_listeners(void **state)
{
	struct fixture *f = *state;
	write_file(f->dir, "listeners.json", "{\"version\":1,\"listeners\":[\n"
		"{\"ListenerId\":\"listener-bbbbbbbb\",\"ListenerName\":\"name-2\",\"Protocol\":\"HTTP\","
		"\"ProxyId\":\"\",\"GroupId\":\"lg-qz6ntod5\",\"Port\":2,\"CreateTime\":1795833763},\n"
		"{\"ListenerId\":\"listener-aaaaaaaa\",\"ListenerName\":\"name-8081\",\"Protocol\":"
		"\"HTTP\",\"ProxyId\":\"link-cuxw2rm0\",\"GroupId\":\"\",\"Port\":8081,"
		"\"CreateTime\":1795833763}\n]}\n");
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	assert_non_null(s);
	struct collected c = reopen(f, &s);
	struct st_listener a = rec("listener-aaaaaaaa", 8081);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.recs[0].group_id, "lg-qz6ntod5");
	assert_string_equal(c.recs[0].proxy_id, "");
	assert_int_equal(c.recs[0].port, 2);
	assert_memory_equal(&c.recs[1], &a, sizeof(a));
	st_close(s);
}

static void a_leftover_temp_file_from_a_crash_is_ignored(void **state)
{
	struct fixture *f = *state;
	write_file(f->dir, "listeners.json.tmp", "{\"version\":1,\"listen");   /* torn write */
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	assert_non_null(s);
	struct collected c = { .n = 0 };
	assert_int_equal(st_load(s, collect, &c, f->err, sizeof(f->err)), 0);
	assert_int_equal(c.n, 0);
	st_close(s);
}

static int note_record(const char *kind, const char *id, json_t *fields, void *arg)
{
	char *seen = arg;
	(void)fields;
	snprintf(seen + strlen(seen), 256 - strlen(seen), "%s:%s ", kind, id);
	return 0;
}

/* Records of another kind (here one without a schema) go through the same change as listeners: one atomic change, creation
 * order per kind and across kinds, a reopen finds them, and the listener shorthands see only
 * listeners. */
static void records_of_any_kind_share_a_change(void **state)
{
	struct fixture *f = *state;
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	struct st_listener a = rec("listener-aaaaaaaa", 8001);
	json_t *rs = json_pack("{s:s}", "RealServerIP", "10.0.0.1");
	char seen[256] = "";
	assert_non_null(s);
	struct st_op change[] = {
		{ ST_PUT, "example", "rs-00000001", rs },
		{ ST_PUT, ST_LISTENER, a.id, st_listener_json(&a) },
		{ ST_PUT, "example", "rs-00000002", rs },
	};
	assert_int_equal(st_write(s, change, 3, f->err, sizeof(f->err)), 0);
	struct st_op del = { ST_DEL, "example", "rs-00000001", NULL };
	assert_int_equal(st_write(s, &del, 1, f->err, sizeof(f->err)), 0);
	struct collected c = reopen(f, &s);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.recs[0].id, a.id);
	assert_int_equal(st_each(s, NULL, note_record, seen), 0);
	assert_string_equal(seen, "listener:listener-aaaaaaaa example:rs-00000002 ");
	json_decref(change[1].fields);
	json_decref(rs);
	st_close(s);
}

/* A listener record its schema refuses (a port out of range) is refused whole, with EINVAL. */
static void the_kind_schema_refuses_a_bad_record(void **state)
{
	struct fixture *f = *state;
	struct st *s = st_open_journal(f->dir, 0, f->err, sizeof(f->err));
	struct st_listener a = rec("listener-aaaaaaaa", 8001);
	json_t *bad = st_listener_json(&a);
	assert_non_null(s);
	json_object_set_new(bad, "Port", json_integer(70000));
	struct st_op change[] = {
		{ ST_PUT, "example", "rs-00000001", bad },   /* a kind without a schema */
		{ ST_PUT, ST_LISTENER, a.id, bad },
	};
	assert_int_equal(st_write(s, change, 2, f->err, sizeof(f->err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(f->err, "listener-aaaaaaaa"));
	assert_int_equal(reopen(f, &s).n, 0);
	char seen[256] = "";
	assert_int_equal(st_each(s, NULL, note_record, seen), 0);
	assert_string_equal(seen, "");                  /* the other record went nowhere either */
	json_decref(bad);
	st_close(s);
}

/* An HTTPS listener's TLS members round-trip; the schema refuses them incomplete or inconsistent,
 * and a certificate record without its key. */
static void https_members_round_trip_and_are_checked(void **state)
{
	struct fixture *f = *state;
	struct st_listener a = rec("listener-aaaaaaaa", 8001), back;
	snprintf(a.protocol, sizeof(a.protocol), "HTTPS");
	snprintf(a.https.cert, ST_ID_MAX, "cert-00000001");
	snprintf(a.https.forward, sizeof(a.https.forward), "HTTPS");
	a.https.auth_type = 1;
	snprintf(a.https.cas[a.https.ncas++], ST_ID_MAX, "cert-00000002");
	snprintf(a.https.cas[a.https.ncas++], ST_ID_MAX, "cert-00000003");
	a.https.versions = 0x1 | 0x8;       /* TLSv1, TLSv1.3 */
	a.https.ciphers = 2;                /* WIDE */
	json_t *j = st_listener_json(&a);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j,
		"TLSSupportVersion"), 1)), "TLSv1.3");
	assert_int_equal(st_listener_from(j, &back), 0);
	assert_string_equal(back.https.cert, a.https.cert);
	assert_string_equal(back.https.forward, "HTTPS");
	assert_int_equal(back.https.auth_type, 1);
	assert_int_equal(back.https.ncas, 2);
	assert_string_equal(back.https.cas[1], "cert-00000003");
	assert_int_equal(back.https.versions, a.https.versions);
	assert_int_equal(back.https.ciphers, 2);
	assert_int_equal(st_check(ST_LISTENER, a.id, j, f->err, sizeof(f->err)), 0);
	json_object_set_new(j, "ClientCertificateIds", json_array());   /* AuthType 1 without CAs */
	assert_int_equal(st_check(ST_LISTENER, a.id, j, f->err, sizeof(f->err)), -1);
	json_decref(j);
	j = st_listener_json(&a);
	json_object_set_new(j, "TLSSupportVersion", json_pack("[s]", "SSLv3"));
	assert_int_equal(st_check(ST_LISTENER, a.id, j, f->err, sizeof(f->err)), -1);
	json_object_del(j, "TLSSupportVersion");
	assert_int_equal(st_check(ST_LISTENER, a.id, j, f->err, sizeof(f->err)), -1);
	json_decref(j);
	json_t *c = json_pack("{s:s, s:i, s:s, s:s, s:n, s:i, s:i, s:i, s:n, s:n}", "CertificateId",
		"cert-00000001", "CertificateType", 2, "CertificateAlias", "", "CertificateContent",
		"pem", "CertificateKey", "CreateTime", 1, "BeginTime", 0, "EndTime", 0, "SubjectCN",
		"IssuerCN");
	assert_int_equal(st_check("certificate", "cert-00000001", c, f->err, sizeof(f->err)), -1);
	json_object_set_new(c, "CertificateKey", json_string("key"));
	assert_int_equal(st_check("certificate", "cert-00000001", c, f->err, sizeof(f->err)), 0);
	assert_null(strstr(f->err, "key"));
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(what_was_written_is_there_after_a_reopen_in_creation_order, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_write_changes_neither_memory_nor_file, setup, teardown),
		cmocka_unit_test_setup_teardown(a_batch_lands_whole_or_not_at_all, setup, teardown),
		cmocka_unit_test_setup_teardown(group_records_and_batch_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(a_second_store_on_the_same_directory_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_corrupt_state_file_stops_the_start, setup, teardown),
		cmocka_unit_test_setup_teardown(a_v1_state_file_comes_back_as_the_same_listeners, setup, teardown),
		cmocka_unit_test_setup_teardown(a_leftover_temp_file_from_a_crash_is_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(records_of_any_kind_share_a_change, setup, teardown),
		cmocka_unit_test_setup_teardown(the_kind_schema_refuses_a_bad_record, setup, teardown),
		cmocka_unit_test_setup_teardown(https_members_round_trip_and_are_checked, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
