/* tests/unit/test_cfg.c - gaapd.yaml: the shipped file, defaults, every class of error with its
 * file:line:col and key, the cross checks between proxies and groups, paths, reserved ports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "cfg.h"
#include "log.h"
#include "tls/tls.h"

#define DIR "/etc/gaapd"

static struct cfg *load_ok(const char *text)
{
	struct cfg *c = NULL;
	char err[512] = "";
	int rc = cfg_load_string(text, "t.yaml", DIR, &c, err, sizeof(err));
	if (rc != 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

/* The load fails and err holds every one of the NULL-terminated substrings. */
static void load_fails(const char *text, ...)
{
	struct cfg *c = NULL;
	char err[512] = "";
	va_list ap;
	assert_int_equal(cfg_load_string(text, "t.yaml", DIR, &c, err, sizeof(err)), -1);
	assert_null(c);
	va_start(ap, text);
	for (const char *want = va_arg(ap, const char *); want != NULL; want = va_arg(ap, const char *))
		if (strstr(err, want) == NULL) {
			print_error("error \"%s\" lacks \"%s\"\n", err, want);
			fail();
		}
	va_end(ap);
}

static unsigned port_of(const struct cfg_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

static void shipped_config_loads_as_documented(void **state)
{
	struct cfg *c = NULL;
	char err[512] = "";
	(void)state;
	if (cfg_load_file(SOURCE_DIR "/conf/gaapd.yaml", &c, err, sizeof(err)) != 0)
		print_error("%s\n", err);
	assert_non_null(c);
	assert_string_equal(c->path, SOURCE_DIR "/conf/gaapd.yaml");
	assert_true(c->workers >= 1);
	assert_string_equal(c->state_dir, SOURCE_DIR "/conf/../var/lib/gaapd");
	assert_int_equal(c->store.backend, CFG_STORE_FILE);
	assert_string_equal(c->store.etcd_prefix, "/gaapd");
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->log_rate_burst, LOG_BURST_DEFAULT);
	assert_int_equal(c->max_real_servers, 10000);
	assert_int_equal(c->resolver_valid_ms, 30000);
	assert_int_equal(c->resolver_timeout_ms, 2000);
	assert_int_equal(c->max_domains_per_listener, 100);
	assert_int_equal(c->max_rules_per_listener, 1000);
	assert_int_equal(c->max_bindings_per_rule, 100);
	assert_int_equal(c->max_headers_per_rule, 20);
	assert_int_equal(c->tls.default_versions, TLS_V12 | TLS_V13);
	assert_int_equal(c->tls.default_ciphers, TLS_CIPHERS_STRICT);
	assert_int_equal(c->tls.handshake_timeout_ms, 10000);
	assert_int_equal(c->tls.session_timeout_s, 300);
	assert_int_equal(c->tls.ticket_rotate_s, 3600);
	assert_null(c->tls.origin_ca);
	assert_int_equal(c->log_rate_interval_ms, LOG_INTERVAL_DEFAULT);
	assert_string_equal(c->control_listen.text, "127.0.0.1:9680");
	assert_int_equal(c->auth, CFG_AUTH_SIGNATURE);
	assert_string_equal(c->credentials_file, SOURCE_DIR "/conf/../var/lib/gaapd/credentials");
	assert_int_equal(c->rate_limit, 20);
	assert_int_equal(c->max_request_size, 1048576);
	assert_int_equal(c->nreserved_ports, 0);
	assert_int_equal(c->http.client_header_timeout_ms, 60000);
	assert_int_equal(c->http.max_header_size, 32768);
	assert_int_equal(c->nproxies, 1);
	assert_string_equal(c->proxies[0].id, "link-cuxw2rm0");
	assert_string_equal(c->proxies[0].status, "RUNNING");
	assert_string_equal(c->proxies[0].bind.text, "127.0.0.1");
	assert_int_equal(c->proxies[0].max_listeners, 50);
	assert_int_equal(c->proxies[0].norigins, 1);
	assert_string_equal(c->proxies[0].origins[0].text, "127.0.0.1:8080");
	assert_null(c->proxies[0].group_id);
	assert_int_equal(c->ngroups, 0);
	cfg_destroy(c);
}

static void empty_file_takes_every_default(void **state)
{
	(void)state;
	struct cfg *c = load_ok("# nothing\n");
	assert_string_equal(c->path, DIR "/t.yaml");
	assert_true(c->workers >= 1 && c->workers <= 256);
	assert_string_equal(c->state_dir, DIR "/../var/lib/gaapd");
	assert_string_equal(c->credentials_file, DIR "/../var/lib/gaapd/credentials");
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	assert_string_equal(c->control_listen.text, "127.0.0.1:9680");
	assert_int_equal(c->control_listen.len, sizeof(struct sockaddr_in));
	assert_int_equal(c->auth, CFG_AUTH_SIGNATURE);
	assert_int_equal(c->rate_limit, 20);
	assert_int_equal(c->max_request_size, 1048576);
	assert_int_equal(c->http.client_header_timeout_ms, 60000);
	assert_int_equal(c->http.client_keepalive_timeout_ms, 75000);
	assert_int_equal(c->http.origin_connect_timeout_ms, 5000);
	assert_int_equal(c->http.origin_response_timeout_ms, 60000);
	assert_int_equal(c->http.max_header_size, 32768);
	assert_int_equal(c->http.client_send_timeout_ms, 60000);
	assert_int_equal(c->http.linger_timeout_ms, 2000);
	assert_int_equal(c->http.tunnel_idle_timeout_ms, 60000);
	assert_int_equal(c->http.origin_keepalive, 32);
	assert_int_equal(c->http.origin_keepalive_timeout_ms, 4000);
	assert_int_equal(c->http.origin_max_fails, 1);
	assert_int_equal(c->http.origin_fail_timeout_ms, 10000);
	assert_int_equal(c->http.max_request_line, 8192);
	assert_int_equal(c->http.max_headers, 100);
	assert_int_equal(c->http.max_response_header_size, 65536);
	assert_int_equal(c->http.max_body_size, 0);
	assert_int_equal(c->http.max_connections_per_listener, 0);
	assert_int_equal(c->http.max_connections_per_worker, 100000);
	assert_null(c->http.access_log);
	assert_int_equal(c->nproxies, 0);
	assert_int_equal(c->ngroups, 0);
	cfg_destroy(c);
}

static void proxy_data_plane_keys(void **state)
{
	(void)state;
	struct cfg *c = load_ok(
		"http:\n  client_send_timeout: 5\n  linger_timeout: 0\n  origin_keepalive: 0\n"
		"  tunnel_idle_timeout: 9\n"
		"  origin_keepalive_timeout: 6\n  origin_max_fails: 0\n  origin_fail_timeout: 7\n"
		"  max_request_line: 64\n  max_headers: 1\n  max_response_header_size: 1024\n"
		"  max_body_size: 1125899906842624\n  max_connections_per_listener: 8\n"
		"  max_connections_per_worker: 0\n  access_log: logs/access.log\n"
		"proxies:\n  - id: link-a\n    scheduler: wrr\n"
		"    origins: [1.1.1.1:1 weight=3, '[::1]:2', '127.0.0.1:4\tweight=1', 1.1.1.1:3  weight=100]\n"
		"  - {id: link-b, scheduler: lc, origins: [1.1.1.1:1]}\n"
		"  - {id: link-c, origins: [1.1.1.1:1]}\n");
	assert_int_equal(c->http.client_send_timeout_ms, 5);
	assert_int_equal(c->http.linger_timeout_ms, 0);
	assert_int_equal(c->http.tunnel_idle_timeout_ms, 9);
	assert_int_equal(c->http.origin_keepalive, 0);
	assert_int_equal(c->http.origin_keepalive_timeout_ms, 6);
	assert_int_equal(c->http.origin_max_fails, 0);
	assert_int_equal(c->http.origin_fail_timeout_ms, 7);
	assert_int_equal(c->http.max_request_line, 64);
	assert_int_equal(c->http.max_headers, 1);
	assert_int_equal(c->http.max_response_header_size, 1024);
	assert_true(c->http.max_body_size == 1125899906842624ULL);
	assert_int_equal(c->http.max_connections_per_listener, 8);
	assert_int_equal(c->http.max_connections_per_worker, 0);
	assert_string_equal(c->http.access_log, DIR "/logs/access.log");
	assert_int_equal(c->proxies[0].scheduler, CFG_SCHED_WRR);
	assert_int_equal(c->proxies[0].norigins, 4);
	assert_int_equal(c->proxies[0].origins[0].weight, 3);
	assert_string_equal(c->proxies[0].origins[0].text, "1.1.1.1:1");
	assert_int_equal(c->proxies[0].origins[1].weight, 1);
	assert_int_equal(c->proxies[0].origins[3].weight, 100);
	assert_int_equal(c->proxies[1].scheduler, CFG_SCHED_LC);
	assert_int_equal(c->proxies[2].scheduler, CFG_SCHED_RR);
	cfg_destroy(c);
	c = load_ok("http: {access_log: stderr}\n");
	assert_string_equal(c->http.access_log, "stderr");
	cfg_destroy(c);
	c = load_ok("http: {access_log: /var/log/a.log}\n");
	assert_string_equal(c->http.access_log, "/var/log/a.log");
	cfg_destroy(c);
	c = load_ok("http: {access_log: off}\n");
	assert_null(c->http.access_log);
	cfg_destroy(c);
	load_fails("http: {access_log: ''}\n", "http.access_log: must not be empty", NULL);
	load_fails("proxies: [{id: link-a, scheduler: random, origins: [1.1.1.1:1]}]\n",
		"t.yaml:1:35: proxies[0].scheduler: unknown value \"random\" (allowed: rr, wrr, lc)",
		NULL);
	load_fails("proxies: [{id: link-a, origins: [1.1.1.1:1 weight=0]}]\n",
		"proxies[0].origins[0]: weight must be a number from 1 to 100", NULL);
	load_fails("proxies: [{id: link-a, origins: [1.1.1.1:1 weight=101]}]\n",
		"weight must be", NULL);
	load_fails("proxies: [{id: link-a, origins: [1.1.1.1:1 weight=x]}]\n", "weight must be", NULL);
	load_fails("proxies: [{id: link-a, origins: [1.1.1.1:1 backup]}]\n",
		"proxies[0].origins[0]: unknown origin option \"backup\"", NULL);
	load_fails("proxies: [{id: link-a, origins: [1.1.1.1:x weight=1]}]\n", "port must be", NULL);
	load_fails("http: {max_request_line: 63}\n", "http.max_request_line: must be between 64",
		NULL);
	load_fails("http: {max_headers: 0}\n", "http.max_headers: must be between 1", NULL);
	load_fails("http: {tunnel_idle_timeout: 0}\n",
		"http.tunnel_idle_timeout: must be between 1 and 86400000", NULL);
}

static void empty_sections_and_lists_take_defaults(void **state)
{
	(void)state;
	struct cfg *c = load_ok("node:\ncontrol:\nhttp: {}\nproxies:\ngroups: []\n");
	assert_int_equal(c->rate_limit, 20);
	assert_int_equal(c->state_compact_bytes, 0);        /* the journal's own default */
	assert_int_equal(c->nproxies, 0);
	cfg_destroy(c);
}

static void proxy_defaults_apply(void **state)
{
	(void)state;
	struct cfg *c = load_ok("proxies:\n  - id: link-a1\n    origins: ['[::1]:80', 10.0.0.2:8080]\n");
	assert_string_equal(c->proxies[0].status, "RUNNING");
	assert_string_equal(c->proxies[0].bind.text, "127.0.0.1");
	assert_int_equal(port_of(&c->proxies[0].bind), 0);
	assert_int_equal(c->proxies[0].max_listeners, 50);
	assert_int_equal(c->proxies[0].norigins, 2);
	assert_string_equal(c->proxies[0].origins[0].text, "[::1]:80");
	assert_int_equal(c->proxies[0].origins[0].len, sizeof(struct sockaddr_in6));
	assert_string_equal(c->proxies[0].origins[1].text, "10.0.0.2:8080");
	assert_int_equal(port_of(&c->proxies[0].origins[1]), 8080);
	cfg_destroy(c);
}

static void every_key_is_read(void **state)
{
	(void)state;
	struct cfg *c = load_ok(
		"node: {workers: 3, state_dir: /srv/state, log_level: debug, state_compact_bytes: 65536}\n"
		"control:\n"
		"  auth: none\n"            /* before listen in the file: order must not matter */
		"  listen: '[::1]:0'\n"
		"  credentials_file: keys\n"
		"  rate_limit: 5\n"
		"  max_request_size: 2048\n"
		"  reserved_ports: [22, 9100]\n"
		"http: {client_header_timeout: 1, client_keepalive_timeout: 2,\n"
		"  origin_connect_timeout: 3, origin_response_timeout: 4, max_header_size: 1024}\n"
		"proxies:\n"
		"  - {id: link-b, status: ISOLATED, bind: '::1', max_listeners: 100000,"
		" origins: [127.0.0.1:1]}\n");
	assert_int_equal(c->workers, 3);
	assert_string_equal(c->state_dir, "/srv/state");
	assert_int_equal(c->state_compact_bytes, 65536);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(c->control_listen.text, "[::1]:0");
	assert_int_equal(c->auth, CFG_AUTH_NONE);
	assert_string_equal(c->credentials_file, DIR "/keys");
	assert_int_equal(c->rate_limit, 5);
	assert_int_equal(c->max_request_size, 2048);
	assert_int_equal(c->nreserved_ports, 2);
	assert_int_equal(c->http.client_header_timeout_ms, 1);
	assert_int_equal(c->http.client_keepalive_timeout_ms, 2);
	assert_int_equal(c->http.origin_connect_timeout_ms, 3);
	assert_int_equal(c->http.origin_response_timeout_ms, 4);
	assert_int_equal(c->http.max_header_size, 1024);
	assert_string_equal(c->proxies[0].status, "ISOLATED");
	assert_string_equal(c->proxies[0].bind.text, "::1");
	assert_int_equal(c->proxies[0].max_listeners, 100000);
	cfg_destroy(c);
}

static void relative_paths_resolve_against_the_file_dir(void **state)
{
	(void)state;
	struct cfg *c = load_ok("node: {state_dir: state}\n");
	assert_string_equal(c->state_dir, DIR "/state");
	assert_string_equal(c->credentials_file, DIR "/state/credentials");
	cfg_destroy(c);
	c = load_ok("control: {credentials_file: /abs/creds}\n");
	assert_string_equal(c->credentials_file, "/abs/creds");
	assert_string_equal(c->state_dir, DIR "/../var/lib/gaapd");
	cfg_destroy(c);
}

static void file_without_directory_resolves_against_dot(void **state)
{
	struct cfg *c = NULL;
	char err[512] = "", cwd[4096], name[64];
	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(name, sizeof(name), "test_cfg_%ld.yaml", (long)getpid());
	FILE *fp = fopen(name, "w");
	assert_non_null(fp);
	fputs("node: {state_dir: s}\n", fp);
	fclose(fp);
	int rc = cfg_load_file(name, &c, err, sizeof(err));
	unlink(name);
	assert_int_equal(rc, 0);
	assert_string_equal(c->state_dir, "./s");
	cfg_destroy(c);
}

static void missing_file_is_named(void **state)
{
	struct cfg *c = NULL;
	char err[512] = "";
	(void)state;
	assert_int_equal(cfg_load_file("/nonexistent/gaapd.yaml", &c, err, sizeof(err)), -1);
	assert_null(c);
	assert_non_null(strstr(err, "/nonexistent/gaapd.yaml: "));
}

static void yaml_syntax_error_has_its_position(void **state)
{
	(void)state;
	load_fails("node:\n  workers: 1\n  log_level: [info\n", "t.yaml:4:", "yaml: ", NULL);
	load_fails("control:\n  listen: a: b\n", "t.yaml:2:", "yaml: ", NULL);
	load_fails("node: {}\n---\nnode: {}\n", "t.yaml:3:1: ", "second document", NULL);
	load_fails("node: {log_level: \"\xff\"}\n", "t.yaml: yaml: ", "at byte 19", NULL);
}

static void unknown_keys_are_refused(void **state)
{
	(void)state;
	load_fails("nodes:\n  workers: 1\n", "t.yaml:1:1: nodes: unknown key", NULL);
	load_fails("control:\n  rate_limit: 1\n  ratelimit: 2\n",
		"t.yaml:3:3: control.ratelimit: unknown key", NULL);
	load_fails("proxies:\n  - id: link-a\n    origins: [1.2.3.4:80]\n    weight: 3\n",
		"t.yaml:4:5: proxies[0].weight: unknown key", NULL);
}

static void duplicate_keys_are_refused(void **state)
{
	(void)state;
	load_fails("node:\n  workers: 1\n  workers: 2\n",
		"t.yaml:3:3: node.workers: duplicate key (first at line 2)", NULL);
	load_fails("http: {}\nhttp: {}\n", "t.yaml:2:1: http: duplicate key", NULL);
}

static void wrong_types_are_refused(void **state)
{
	(void)state;
	load_fails("node: 3\n", "t.yaml:1:7: node: expected a mapping", NULL);
	load_fails("node:\n  workers: {a: 1}\n", "t.yaml:2:12: node.workers: expected a single value",
		NULL);
	load_fails("node:\n  workers: two\n", "t.yaml:2:12: node.workers: expected a whole number",
		NULL);
	load_fails("control: {rate_limit: 2.5}\n", "t.yaml:1:23: control.rate_limit:", NULL);
	load_fails("proxies: {id: link-a}\n", "t.yaml:1:10: proxies: expected a list", NULL);
	load_fails("proxies:\n  - id: link-a\n    origins: 1.2.3.4:80\n",
		"t.yaml:3:14: proxies[0].origins: expected a list", NULL);
	load_fails("proxies: [link-a]\n", "t.yaml:1:11: proxies[0]: expected a mapping", NULL);
	load_fails("node: {[a]: 1}\n", "t.yaml:1:8: node: a key must be a single word", NULL);
	load_fails("node: {state_dir: \"a\\0b\"}\n", "node.state_dir: contains a NUL byte", NULL);
}

static void negative_and_out_of_range_numbers_are_refused(void **state)
{
	(void)state;
	load_fails("node:\n  workers: -1\n", "t.yaml:2:12: node.workers: must not be negative", NULL);
	load_fails("node: {workers: 257}\n", "node.workers: must be between 0 and 256", NULL);
	load_fails("control: {rate_limit: 0}\n", "control.rate_limit: must be between 1", NULL);
	load_fails("control: {max_request_size: 1023}\n", "control.max_request_size: must be", NULL);
	load_fails("control: {reserved_ports: [80, 0]}\n",
		"t.yaml:1:32: control.reserved_ports[1]: must be between 1 and 65535", NULL);
	load_fails("control: {reserved_ports: [65536]}\n", "reserved_ports[0]: must be", NULL);
	load_fails("http: {max_header_size: 100}\n", "http.max_header_size: must be", NULL);
	load_fails("http: {origin_connect_timeout: 0}\n", "http.origin_connect_timeout: must be", NULL);
	load_fails("node: {workers: 99999999999999999999999}\n", "node.workers: must be", NULL);
	load_fails("proxies:\n  - id: link-a\n    max_listeners: 0\n    origins: [1.1.1.1:1]\n",
		"t.yaml:3:20: proxies[0].max_listeners: must be between 1 and 100000", NULL);
}

static void bad_words_are_refused(void **state)
{
	(void)state;
	load_fails("node: {log_level: verbose}\n", "t.yaml:1:19: node.log_level: unknown level", NULL);
	load_fails("control: {auth: hmac}\n", "control.auth: unknown value \"hmac\"", NULL);
	load_fails("proxies:\n  - {id: link-a, status: running, origins: [1.1.1.1:1]}\n",
		"t.yaml:2:26: proxies[0].status: unknown value \"running\"", "RUNNING", NULL);
	load_fails("proxies: [{id: link-a, origins: [1.1.1.1:1]}]\n"
		"groups: [{id: lg-a, status: ISOLATED}]\n", "groups[0].status: unknown value", NULL);
}

static void addresses_are_checked(void **state)
{
	(void)state;
	load_fails("control: {listen: 127.0.0.1}\n", "control.listen: expected ADDRESS:PORT", NULL);
	load_fails("control: {listen: '::1:80'}\n", "control.listen: an IPv6 address needs brackets",
		NULL);
	load_fails("control: {listen: 'localhost:80'}\n", "control.listen: \"localhost\" is not an IP",
		NULL);
	load_fails("control: {listen: '[127.0.0.1]:80'}\n", "is not an IPv6 address", NULL);
	load_fails("control: {listen: '127.0.0.1:65536'}\n", "control.listen: port must be", NULL);
	load_fails("control: {listen: '127.0.0.1:'}\n", "control.listen: port must be", NULL);
	load_fails("proxies: [{id: link-a, bind: 127.0.0.1:80, origins: [1.1.1.1:1]}]\n",
		"proxies[0].bind: \"127.0.0.1:80\" is not an IP address", NULL);
	load_fails("proxies:\n  - id: link-a\n    origins: [1.1.1.1:1, '1.1.1.1:0']\n",
		"t.yaml:3:26: proxies[0].origins[1]: port must be a number from 1", NULL);
	load_fails("proxies: [{id: link-a, origins: [no-such-host.invalid:80]}]\n",
		"proxies[0].origins[0]: cannot resolve \"no-such-host.invalid\"", NULL);
	load_fails("proxies: [{id: link-a, origins: []}]\n",
		"t.yaml:1:33: proxies[0].origins: must list at least one origin", NULL);
}

static void origin_host_names_resolve_at_load(void **state)
{
	(void)state;
	struct cfg *c = load_ok("proxies: [{id: link-a, origins: [localhost:8080]}]\n");
	const char *t = c->proxies[0].origins[0].text;
	assert_true(strcmp(t, "127.0.0.1:8080") == 0 || strcmp(t, "[::1]:8080") == 0);
	assert_int_equal(port_of(&c->proxies[0].origins[0]), 8080);
	cfg_destroy(c);
}

static void required_keys_and_ids_are_checked(void **state)
{
	(void)state;
	load_fails("proxies:\n  - status: RUNNING\n    origins: [1.1.1.1:1]\n",
		"t.yaml:2:5: proxies[0].id: required key is missing", NULL);
	load_fails("proxies:\n  - id: link-a\n", "t.yaml:2:5: proxies[0].origins: required key", NULL);
	load_fails("proxies: [{id: lg-a, origins: [1.1.1.1:1]}]\n",
		"proxies[0].id: \"lg-a\" is not an id of the form link-", NULL);
	load_fails("proxies: [{id: link-, origins: [1.1.1.1:1]}]\n", "proxies[0].id: ", NULL);
	load_fails("proxies: [{id: link-ABC, origins: [1.1.1.1:1]}]\n", "proxies[0].id: ", NULL);
	load_fails("proxies: [{id: link-012345678901234567890123456789012, origins: [1.1.1.1:1]}]\n",
		"proxies[0].id: ", NULL);
	struct cfg *c = load_ok(
		"proxies: [{id: link-01234567890123456789012345678901, origins: [1.1.1.1:1]}]\n");
	cfg_destroy(c);
	load_fails("groups:\n  - proxies: []\n", "t.yaml:2:5: groups[0].id: required key", NULL);
	load_fails("groups: [{id: link-a}]\n", "groups[0].id: \"link-a\" is not an id of the form lg-",
		NULL);
}

static void duplicate_ids_are_refused(void **state)
{
	(void)state;
	load_fails("proxies:\n"
		"  - {id: link-a, origins: [1.1.1.1:1]}\n"
		"  - {id: link-b, origins: [1.1.1.1:1]}\n"
		"  - {id: link-a, origins: [1.1.1.1:1]}\n",
		"t.yaml:4:10: proxies[2].id: duplicate proxy id link-a (also proxies[0])", NULL);
	load_fails("groups:\n  - id: lg-a\n  - id: lg-a\n",
		"t.yaml:3:9: groups[1].id: duplicate group id lg-a", NULL);
}

static void groups_link_their_proxies(void **state)
{
	(void)state;
	struct cfg *c = load_ok(
		"groups:\n  - {id: lg-qz6ntod5, status: CHANGING, proxies: [link-b, link-a]}\n"
		"  - {id: lg-empty}\n"
		"proxies:\n  - {id: link-a, origins: [1.1.1.1:1]}\n"
		"  - {id: link-b, origins: [1.1.1.1:1]}\n  - {id: link-c, origins: [1.1.1.1:1]}\n");
	const struct cfg_group *g = cfg_find_group(c, "lg-qz6ntod5");
	assert_non_null(g);
	assert_string_equal(g->status, "CHANGING");
	assert_int_equal(g->nproxies, 2);
	assert_string_equal(g->proxies[0], "link-b");
	assert_string_equal(g->proxies[1], "link-a");
	assert_ptr_equal(cfg_find_proxy(c, "link-a")->group_id, g->id);
	assert_ptr_equal(cfg_find_proxy(c, "link-b")->group_id, g->id);
	assert_null(cfg_find_proxy(c, "link-c")->group_id);
	assert_string_equal(cfg_find_group(c, "lg-empty")->status, "RUNNING");
	assert_int_equal(cfg_find_group(c, "lg-empty")->nproxies, 0);
	assert_null(cfg_find_group(c, "lg-none"));
	assert_null(cfg_find_proxy(c, "link-none"));
	cfg_destroy(c);
}

static void groups_refuse_unknown_and_shared_proxies(void **state)
{
	(void)state;
	const char *proxies = "proxies: [{id: link-a, origins: [1.1.1.1:1]}]\n";
	char text[512];
	snprintf(text, sizeof(text), "%sgroups:\n  - id: lg-a\n    proxies: [link-a, link-x]\n",
		proxies);
	load_fails(text, "t.yaml:4:23: groups[0].proxies[1]: no proxy link-x in proxies", NULL);
	snprintf(text, sizeof(text), "%sgroups:\n  - {id: lg-a, proxies: [link-a]}\n"
		"  - {id: lg-b, proxies: [link-a]}\n", proxies);
	load_fails(text, "t.yaml:4:26: groups[1].proxies[0]: link-a is already in group lg-a", NULL);
	snprintf(text, sizeof(text), "%sgroups: [{id: lg-a, proxies: [link-a, link-a]}]\n", proxies);
	load_fails(text, "groups[0].proxies[1]: link-a is listed twice", NULL);
	snprintf(text, sizeof(text), "%sgroups: [{id: lg-a, proxies: [lg-b]}]\n", proxies);
	load_fails(text, "groups[0].proxies[0]: \"lg-b\" is not an id", NULL);
}

static void auth_none_only_on_loopback(void **state)
{
	(void)state;
	load_fails("control:\n  listen: 0.0.0.0:9680\n  auth: none\n",
		"t.yaml:3:9: control.auth: \"none\" is allowed only", "0.0.0.0:9680", NULL);
	load_fails("control:\n  auth: none\n  listen: '[::]:9680'\n", "t.yaml:2:9: control.auth:",
		NULL);
	load_fails("control: {auth: none, listen: 10.1.2.3:1}\n", "control.auth:", NULL);
	struct cfg *c = load_ok("control: {auth: none, listen: 127.5.6.7:0}\n");
	assert_int_equal(c->auth, CFG_AUTH_NONE);
	cfg_destroy(c);
	c = load_ok("control: {auth: none}\n");     /* the default listen is loopback */
	assert_int_equal(c->auth, CFG_AUTH_NONE);
	cfg_destroy(c);
}

static void reserved_ports_include_the_control_port(void **state)
{
	(void)state;
	struct cfg *c = load_ok("control: {listen: 127.0.0.1:9680, reserved_ports: [22, 8443]}\n");
	assert_true(cfg_port_reserved(c, 9680));
	assert_true(cfg_port_reserved(c, 22));
	assert_true(cfg_port_reserved(c, 8443));
	assert_false(cfg_port_reserved(c, 80));
	assert_false(cfg_port_reserved(c, 0));
	cfg_destroy(c);
	c = load_ok("control: {listen: '[::1]:0'}\n");     /* ephemeral: no port to reserve */
	assert_false(cfg_port_reserved(c, 0));
	assert_false(cfg_port_reserved(c, 9680));
	cfg_destroy(c);
	c = load_ok("control: {listen: '[::1]:7000'}\n");
	assert_true(cfg_port_reserved(c, 7000));
	cfg_destroy(c);
}

static void control_port_limits(void **state)
{
	(void)state;
	struct cfg *c = load_ok("# nothing\n");
	assert_int_equal(c->control_header_timeout_ms, 10000);
	assert_int_equal(c->control_body_timeout_ms, 30000);
	assert_int_equal(c->control_max_connections, 256);
	assert_int_equal(c->control_max_buffered_bodies, 16 << 20);
	assert_int_equal(c->v1_replay_limit, 16384);
	cfg_destroy(c);
	c = load_ok("control:\n  header_timeout: 1\n  body_timeout: 86400000\n  max_connections: 1\n"
		"  max_buffered_bodies: 1099511627776\n  v1_replay_limit: 1048576\n");
	assert_int_equal(c->v1_replay_limit, 1048576);
	assert_int_equal(c->control_header_timeout_ms, 1);
	assert_int_equal(c->control_body_timeout_ms, 86400000);
	assert_int_equal(c->control_max_connections, 1);
	assert_true(c->control_max_buffered_bodies == 1ULL << 40);
	cfg_destroy(c);
	load_fails("control: {header_timeout: 0}\n", "control.header_timeout: must be between 1", NULL);
	load_fails("control: {body_timeout: 86400001}\n", "control.body_timeout: must be", NULL);
	load_fails("control: {max_connections: 0}\n", "control.max_connections: must be", NULL);
	load_fails("control: {max_buffered_bodies: 1023}\n", "control.max_buffered_bodies: must be",
		NULL);
	load_fails("control: {v1_replay_limit: 0}\n", "control.v1_replay_limit: must be", NULL);
	load_fails("control: {v1_replay_limit: 1048577}\n", "control.v1_replay_limit: must be", NULL);
}

static void per_action_rate_limits_override_the_default(void **state)
{
	(void)state;
	struct cfg *c = load_ok("control:\n  rate_limit: 20\n"
		"  rate_limits: {CreateHTTPListener: 5, DescribeHTTPListeners: 20}\n");
	assert_int_equal(cfg_rate_limit(c, "CreateHTTPListener"), 5);
	assert_int_equal(cfg_rate_limit(c, "DescribeHTTPListeners"), 20);
	assert_int_equal(cfg_rate_limit(c, "DeleteListeners"), 20);
	cfg_destroy(c);
	load_fails("control:\n  rate_limits: {CreateHTTPListener: 0}\n",
		"t.yaml:2:37: control.rate_limits.CreateHTTPListener: must be between 1", NULL);
	load_fails("control:\n  rate_limits: {Create-Thing: 5}\n", "t.yaml:2:17:",
		"not an action name", NULL);
	load_fails("control:\n  rate_limits:\n    A: 1\n    A: 2\n", "t.yaml:4:5:", "duplicate", NULL);
	load_fails("control:\n  rate_limits: [1]\n", "control.rate_limits", "expected a mapping", NULL);
}

static void log_file_and_metrics_address(void **state)
{
	(void)state;
	struct cfg *c = load_ok("node:\n  log_file: log/gaapd.log\ncontrol:\n  metrics_listen: 127.0.0.1:9681\n");
	assert_string_equal(c->log_file, DIR "/log/gaapd.log");
	assert_string_equal(c->metrics_listen.text, "127.0.0.1:9681");
	cfg_destroy(c);
	c = load_ok("node:\n  log_file: stderr\n");
	assert_null(c->log_file);
	assert_int_equal(c->metrics_listen.len, 0);
	cfg_destroy(c);
	load_fails("node:\n  log_file: ''\n", "t.yaml:2:13: node.log_file", NULL);
}

static void log_rate_limit(void **state)
{
	(void)state;
	struct cfg *c = load_ok("node: {log_rate_burst: 0, log_rate_interval: 500}\n");
	assert_int_equal(c->log_rate_burst, 0);                /* 0 = no per-site limit */
	assert_int_equal(c->log_rate_interval_ms, 500);
	cfg_destroy(c);
	c = load_ok("# nothing\n");
	assert_int_equal(c->log_rate_burst, LOG_BURST_DEFAULT);
	assert_int_equal(c->log_rate_interval_ms, LOG_INTERVAL_DEFAULT);
	cfg_destroy(c);
	load_fails("node: {log_rate_interval: 0}\n", "node.log_rate_interval", NULL);
	load_fails("node: {log_rate_burst: -1}\n", "node.log_rate_burst", NULL);
}

static void layer7_limits(void **state)
{
	(void)state;
	struct cfg *c = load_ok("# nothing\n");
	assert_int_equal(c->max_domains_per_listener, 100);
	assert_int_equal(c->max_rules_per_listener, 1000);
	assert_int_equal(c->max_bindings_per_rule, 100);
	assert_int_equal(c->max_headers_per_rule, 20);
	cfg_destroy(c);
	c = load_ok("node: {max_domains_per_listener: 2, max_rules_per_listener: 3,\n"
		"  max_bindings_per_rule: 4, max_headers_per_rule: 5}\n");
	assert_int_equal(c->max_domains_per_listener, 2);
	assert_int_equal(c->max_rules_per_listener, 3);
	assert_int_equal(c->max_bindings_per_rule, 4);
	assert_int_equal(c->max_headers_per_rule, 5);
	cfg_destroy(c);
	load_fails("node: {max_domains_per_listener: 0}\n", "node.max_domains_per_listener", NULL);
	load_fails("node: {max_rules_per_listener: 100001}\n", "node.max_rules_per_listener",
		NULL);
	load_fails("node: {max_bindings_per_rule: -1}\n", "node.max_bindings_per_rule", NULL);
	load_fails("node: {max_headers_per_rule: 1001}\n", "node.max_headers_per_rule", NULL);
}

static void tls_section(void **state)
{
	char path[64], text[256];
	FILE *fp;
	(void)state;
	struct cfg *c = load_ok("tls:\n");
	assert_int_equal(c->tls.default_versions, TLS_V12 | TLS_V13);
	assert_int_equal(c->tls.default_ciphers, TLS_CIPHERS_STRICT);
	assert_int_equal(c->tls.handshake_timeout_ms, 10000);
	assert_int_equal(c->tls.session_timeout_s, 300);
	assert_int_equal(c->tls.ticket_rotate_s, 3600);
	assert_null(c->tls.origin_ca);
	cfg_destroy(c);
	c = load_ok("tls: {default_versions: [TLSv1.0, TLSv1.3, TLSv1], default_ciphers: "
		"GAAP_TLS_CIPHERS_WIDE,\n  handshake_timeout: 500, session_timeout: 60, "
		"ticket_rotate: 600}\n");
	assert_int_equal(c->tls.default_versions, TLS_V10 | TLS_V13);
	assert_int_equal(c->tls.default_ciphers, TLS_CIPHERS_WIDE);
	assert_int_equal(c->tls.handshake_timeout_ms, 500);
	assert_int_equal(c->tls.session_timeout_s, 60);
	assert_int_equal(c->tls.ticket_rotate_s, 600);
	cfg_destroy(c);
	load_fails("tls: {default_versions: []}\n", "tls.default_versions", "at least one", NULL);
	load_fails("tls: {default_versions: [TLSv1.4]}\n", "tls.default_versions[0]",
		"unknown version \"TLSv1.4\"", NULL);
	load_fails("tls: {default_versions: TLSv1.2}\n", "tls.default_versions", "a list", NULL);
	load_fails("tls: {default_ciphers: HIGH}\n", "tls.default_ciphers", "GAAP_TLS_CIPHERS_STRICT",
		NULL);
	load_fails("tls: {handshake_timeout: 0}\n", "tls.handshake_timeout", NULL);
	load_fails("tls: {ticket_rotate: 10}\n", "tls.ticket_rotate", "between 60", NULL);
	load_fails("tls: {origin_ca: /nonexistent/ca.pem}\n", "tls.origin_ca",
		"/nonexistent/ca.pem", NULL);
	/* a file that is not PEM, then one that is */
	snprintf(path, sizeof path, "/tmp/test_cfg_ca_%ld.pem", (long)getpid());
	assert_non_null(fp = fopen(path, "w"));
	fputs("not a certificate\n", fp);
	fclose(fp);
	snprintf(text, sizeof text, "tls: {origin_ca: %s}\n", path);
	load_fails(text, "tls.origin_ca", "no PEM certificate", NULL);
	snprintf(text, sizeof text, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		"-nodes -keyout /dev/null -out %s -days 1 -subj /CN=ca 2>/dev/null", path);
	assert_int_equal(system(text), 0);
	snprintf(text, sizeof text, "tls: {origin_ca: %s}\n", path);
	c = load_ok(text);
	assert_string_equal(c->tls.origin_ca, path);
	cfg_destroy(c);
	unlink(path);
}

static void node_name_and_file_store_defaults(void **state)
{
	char host[256] = "";
	(void)state;
	struct cfg *c = load_ok("");
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(c->node_name, host);
	assert_int_equal(c->store.backend, CFG_STORE_FILE);
	assert_int_equal(c->store.netcd_endpoints, 0);
	assert_string_equal(c->store.etcd_prefix, "/gaapd");
	assert_int_equal(c->store.etcd_dial_timeout_ms, 2000);
	assert_null(c->store.etcd_tls_ca);
	cfg_destroy(c);
	c = load_ok("node: {name: node-a.eu_1}\nstore: {backend: file}\n");
	assert_string_equal(c->node_name, "node-a.eu_1");
	assert_int_equal(c->store.backend, CFG_STORE_FILE);
	cfg_destroy(c);
	/* an etcd section under the file backend is kept, unused: switching is one word */
	c = load_ok("store: {etcd: {endpoints: ['https://10.0.0.1:2379']}}\n");
	assert_int_equal(c->store.netcd_endpoints, 1);
	cfg_destroy(c);
	load_fails("node: {name: ''}\n", "t.yaml:1:", "node.name", "not a node name", NULL);
	load_fails("node: {name: 'a/b'}\n", "node.name", "not a node name", NULL);
	load_fails("node: {name: .hidden}\n", "node.name", NULL);
	load_fails("node: {name: [a]}\n", "node.name", "a single value", NULL);
	load_fails("store: {backend: consul}\n", "store.backend", "unknown value \"consul\"",
		"file etcd", NULL);
	load_fails("store: {database: x}\n", "store.database", "unknown key", NULL);
}

static void etcd_store_section(void **state)
{
	(void)state;
	struct cfg *c = load_ok("node: {name: n1}\nstore:\n  backend: etcd\n  etcd:\n"
		"    endpoints: [http://127.0.0.1:2379, 'http://[::1]:2380', http://etcd.local:2379]\n"
		"    prefix: /fleet/eu\n    dial_timeout: 500\n");
	assert_int_equal(c->store.backend, CFG_STORE_ETCD);
	assert_int_equal(c->store.netcd_endpoints, 3);
	assert_string_equal(c->store.etcd_endpoints[0], "http://127.0.0.1:2379");
	assert_string_equal(c->store.etcd_endpoints[1], "http://[::1]:2380");
	assert_string_equal(c->store.etcd_endpoints[2], "http://etcd.local:2379");
	assert_string_equal(c->store.etcd_prefix, "/fleet/eu");
	assert_int_equal(c->store.etcd_dial_timeout_ms, 500);
	cfg_destroy(c);
	c = load_ok("store: {backend: etcd, etcd: {endpoints: [http://127.0.0.1:2379]}}\n");
	assert_string_equal(c->store.etcd_prefix, "/gaapd");
	assert_int_equal(c->store.etcd_dial_timeout_ms, 2000);
	cfg_destroy(c);
	load_fails("store: {backend: etcd}\n", "store", "endpoints: required", NULL);
	load_fails("store: {backend: etcd, etcd: {endpoints: []}}\n", "store.etcd.endpoints",
		"1 to 16", NULL);
	load_fails("store: {etcd: {endpoints: [a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a]}}\n",
		"store.etcd.endpoints", "1 to 16", NULL);
	load_fails("store: {etcd: {endpoints: [127.0.0.1:2379]}}\n", "store.etcd.endpoints[0]",
		"http://", NULL);
	load_fails("store: {etcd: {endpoints: [http://a:1, 'http://h:2379/v3']}}\n",
		"store.etcd.endpoints[1]", "no path", NULL);
	load_fails("store: {etcd: {endpoints: ['http://h:0']}}\n", "store.etcd.endpoints[0]",
		"port", NULL);
	load_fails("store: {etcd: {endpoints: ['http://h']}}\n", "store.etcd.endpoints[0]",
		"ADDRESS:PORT", NULL);
	load_fails("store: {etcd: {prefix: gaapd}}\n", "store.etcd.prefix", "start with /", NULL);
	load_fails("store: {etcd: {prefix: /gaapd/}}\n", "store.etcd.prefix", "not end with /", NULL);
	load_fails("store: {etcd: {prefix: /}}\n", "store.etcd.prefix", NULL);
	load_fails("store: {etcd: {prefix: '/a b'}}\n", "store.etcd.prefix", "without spaces", NULL);
	load_fails("store: {etcd: {dial_timeout: 0}}\n", "store.etcd.dial_timeout", "1 and 60000",
		NULL);
	load_fails("store: {etcd: {dial_timeout: 60001}}\n", "store.etcd.dial_timeout", NULL);
	load_fails("store: {etcd: {tls: {pem: x}}}\n", "store.etcd.tls.pem", "unknown key", NULL);
}

/* The client has no TLS yet: accepted and kept under backend file, refused under etcd. */
static void etcd_tls_is_refused_for_now(void **state)
{
	(void)state;
	struct cfg *c = load_ok("store: {etcd: {tls: {ca: ca.pem, cert: /c.pem, key: k.pem}}}\n");
	assert_string_equal(c->store.etcd_tls_ca, DIR "/ca.pem");
	assert_string_equal(c->store.etcd_tls_cert, "/c.pem");
	assert_string_equal(c->store.etcd_tls_key, DIR "/k.pem");
	cfg_destroy(c);
	load_fails("store: {backend: etcd, etcd: {endpoints: [http://127.0.0.1:2379],\n"
		"  tls: {ca: ca.pem}}}\n", "store.etcd.tls: not supported yet", NULL);
	load_fails("store: {backend: etcd, etcd: {endpoints: [http://127.0.0.1:2379,\n"
		"  https://127.0.0.1:2380]}}\n", "store.etcd.tls: not supported yet", NULL);
}

static void store_differs_names_the_key(void **state)
{
	static const char *const base = "node: {name: a}\nstore: {backend: etcd, etcd: {endpoints: "
		"[http://127.0.0.1:2379], prefix: /p, dial_timeout: 100}}\n";
	static const struct { const char *text, *key; } cases[] = {
		{ "node: {name: a}\nstore: {backend: etcd, etcd: {endpoints: "
		  "[http://127.0.0.1:2379], prefix: /p, dial_timeout: 100}}\nhttp: {drain_timeout: 9}\n",
		  NULL },
		{ "node: {name: b}\nstore: {backend: etcd, etcd: {endpoints: "
		  "[http://127.0.0.1:2379], prefix: /p, dial_timeout: 100}}\n", "node.name" },
		{ "node: {name: a}\nstore: {etcd: {endpoints: "
		  "[http://127.0.0.1:2379], prefix: /p, dial_timeout: 100}}\n", "store.backend" },
		{ "node: {name: a}\nstore: {backend: etcd, etcd: {endpoints: "
		  "[http://127.0.0.1:2379, http://127.0.0.1:2380], prefix: /p, dial_timeout: 100}}\n",
		  "store.etcd.endpoints" },
		{ "node: {name: a}\nstore: {backend: etcd, etcd: {endpoints: "
		  "[http://127.0.0.2:2379], prefix: /p, dial_timeout: 100}}\n", "store.etcd.endpoints" },
		{ "node: {name: a}\nstore: {backend: etcd, etcd: {endpoints: "
		  "[http://127.0.0.1:2379], prefix: /q, dial_timeout: 100}}\n", "store.etcd.prefix" },
		{ "node: {name: a}\nstore: {backend: etcd, etcd: {endpoints: "
		  "[http://127.0.0.1:2379], prefix: /p}}\n", "store.etcd.dial_timeout" },
	};
	(void)state;
	struct cfg *a = load_ok(base);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg *b = load_ok(cases[i].text);
		const char *key = cfg_store_differs(a, b);
		if (cases[i].key == NULL)
			assert_null(key);
		else
			assert_string_equal(key, cases[i].key);
		cfg_destroy(b);
	}
	cfg_destroy(a);
	/* under the file backend the etcd section is not read: changing it changes nothing */
	a = load_ok("store: {etcd: {endpoints: [http://127.0.0.1:2379]}}\n");
	struct cfg *b = load_ok("store: {etcd: {endpoints: [http://10.0.0.1:2379], prefix: /x}}\n");
	assert_null(cfg_store_differs(a, b));
	cfg_destroy(b);
	cfg_destroy(a);
}

static void destroy_accepts_null(void **state)
{
	(void)state;
	cfg_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shipped_config_loads_as_documented),
		cmocka_unit_test(empty_file_takes_every_default),
		cmocka_unit_test(empty_sections_and_lists_take_defaults),
		cmocka_unit_test(proxy_data_plane_keys),
		cmocka_unit_test(proxy_defaults_apply),
		cmocka_unit_test(every_key_is_read),
		cmocka_unit_test(relative_paths_resolve_against_the_file_dir),
		cmocka_unit_test(file_without_directory_resolves_against_dot),
		cmocka_unit_test(missing_file_is_named),
		cmocka_unit_test(yaml_syntax_error_has_its_position),
		cmocka_unit_test(unknown_keys_are_refused),
		cmocka_unit_test(duplicate_keys_are_refused),
		cmocka_unit_test(wrong_types_are_refused),
		cmocka_unit_test(negative_and_out_of_range_numbers_are_refused),
		cmocka_unit_test(bad_words_are_refused),
		cmocka_unit_test(addresses_are_checked),
		cmocka_unit_test(origin_host_names_resolve_at_load),
		cmocka_unit_test(required_keys_and_ids_are_checked),
		cmocka_unit_test(duplicate_ids_are_refused),
		cmocka_unit_test(groups_link_their_proxies),
		cmocka_unit_test(groups_refuse_unknown_and_shared_proxies),
		cmocka_unit_test(auth_none_only_on_loopback),
		cmocka_unit_test(reserved_ports_include_the_control_port),
		cmocka_unit_test(per_action_rate_limits_override_the_default),
		cmocka_unit_test(control_port_limits),
		cmocka_unit_test(log_file_and_metrics_address),
		cmocka_unit_test(log_rate_limit),
		cmocka_unit_test(layer7_limits),
		cmocka_unit_test(tls_section),
		cmocka_unit_test(node_name_and_file_store_defaults),
		cmocka_unit_test(etcd_store_section),
		cmocka_unit_test(etcd_tls_is_refused_for_now),
		cmocka_unit_test(store_differs_names_the_key),
		cmocka_unit_test(destroy_accepts_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
