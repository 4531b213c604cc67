/* tests/unit/test_ups_dns.c - the resolver (daemon/upstream/dns.c) with the machine's real one:
 * a name from /etc/hosts resolves and is connected to; a name that cannot resolve leaves its
 * server without an address (a connect fails at once, EHOSTUNREACH); an IP address is never a
 * name; stopping with a resolution in flight leaks nothing (ASan). Polls are bounded waits for
 * the resolver's thread, not timing assertions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "upstream/connect.h"
#include "upstream/dns.h"

static const struct ups_dns_opts opts = { .valid_ms = 60000, .retry_ms = 200, .timeout_ms = 500,
	.attempts = 1 };

static struct cfg_addr name(const char *text)
{
	struct cfg_addr a;
	memset(&a, 0, sizeof a);
	snprintf(a.text, sizeof a.text, "%s", text);
	return a;
}

/* Waits (bounded, 10 s) until s's name has been resolved at least once. */
static void resolved(struct ups_server *s, struct ups_name_snap *snap)
{
	for (int i = 0; i < 1000; i++) {
		ups_name_read(s, snap);
		if (snap->resolutions > 0)
			return;
		usleep(10000);
	}
	fail_msg("the resolver never answered");
}

static int listening(unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

struct got {
	int calls, err;
	struct bufferevent *bev;
};

static void on_dial(struct bufferevent *bev, int err, void *arg)
{
	struct got *g = arg;
	g->calls++;
	g->err = err;
	g->bev = bev;
}

static void test_a_hosts_name_resolves_and_connects(void **state)
{
	unsigned port;
	int lfd = listening(&port);
	char text[64];
	struct ups_reg *reg = ups_reg_new();
	struct ups_dns *dns = ups_dns_start(reg, &opts, text, sizeof text);
	struct ups_name_snap snap;
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	assert_non_null(dns);
	snprintf(text, sizeof text, "localhost:%u", port);
	struct cfg_addr a = name(text);
	struct ups_server *s = ups_server_get(reg, &a);
	assert_non_null(s);
	assert_non_null(s->name);
	resolved(s, &snap);
	assert_int_equal(snap.failures, 0);
	assert_true(snap.naddrs >= 1);
	assert_int_equal(ups_server_sockaddr(s, &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET);            /* /etc/hosts: 127.0.0.1 localhost */
	assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), port);

	struct event_base *base = event_base_new();
	struct got g = { 0, 0, NULL };
	assert_non_null(ups_connect(base, s, 2000, on_dial, &g));
	for (int i = 0; i < 200 && g.calls == 0; i++) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(5000);
	}
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.err, 0);
	bufferevent_free(g.bev);
	event_base_free(base);
	ups_server_put(s);
	ups_dns_stop(dns);
	ups_reg_unref(reg);
	close(lfd);
}

static void test_a_name_that_does_not_resolve_fails_at_once(void **state)
{
	char err[64];
	struct ups_reg *reg = ups_reg_new();
	struct ups_dns *dns = ups_dns_start(reg, &opts, err, sizeof err);
	struct cfg_addr a = name("no-such-host.invalid:80");
	struct ups_server *s = ups_server_get(reg, &a);
	struct ups_name_snap snap;
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	assert_non_null(dns);
	assert_non_null(s);
	resolved(s, &snap);
	assert_int_equal(snap.naddrs, 0);
	assert_true(snap.failures >= 1);
	errno = 0;
	assert_int_equal(ups_server_sockaddr(s, &sa, &len), -1);
	assert_int_equal(errno, EHOSTUNREACH);
	struct event_base *base = event_base_new();
	errno = 0;
	assert_null(ups_connect(base, s, 2000, on_dial, NULL));
	assert_int_equal(errno, EHOSTUNREACH);
	event_base_free(base);
	ups_server_put(s);
	ups_dns_stop(dns);
	ups_reg_unref(reg);
}

static void test_an_ip_address_is_not_a_name(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	struct cfg_addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	memset(&a, 0, sizeof a);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(8080);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.len = sizeof *sin;
	snprintf(a.text, sizeof a.text, "127.0.0.1:8080");
	struct ups_server *s = ups_server_get(reg, &a);
	assert_null(s->name);
	assert_int_equal(ups_server_sockaddr(s, &sa, &len), 0);
	assert_int_equal(len, sizeof *sin);
	assert_memory_equal(&sa, sin, sizeof *sin);
	ups_server_put(s);
	ups_reg_unref(reg);
}

/* A name that never answers before the stop: its server is let go, not leaked. */
static void test_stop_with_a_resolution_in_flight(void **state)
{
	char err[64];
	struct ups_reg *reg = ups_reg_new();
	struct ups_dns_opts slow = opts;
	slow.timeout_ms = 5000;
	struct ups_dns *dns = ups_dns_start(reg, &slow, err, sizeof err);
	struct cfg_addr a = name("still-resolving.invalid:80");
	struct ups_server *s = ups_server_get(reg, &a);
	(void)state;
	assert_non_null(dns);
	usleep(100000);                 /* the first tick has started it */
	ups_server_put(s);              /* the resolution holds the last reference */
	ups_dns_stop(dns);
	assert_int_equal(ups_reg_count(reg), 0);
	ups_reg_unref(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_hosts_name_resolves_and_connects),
		cmocka_unit_test(test_a_name_that_does_not_resolve_fails_at_once),
		cmocka_unit_test(test_an_ip_address_is_not_a_name),
		cmocka_unit_test(test_stop_with_a_resolution_in_flight),
	};
	if (evthread_use_pthreads() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
