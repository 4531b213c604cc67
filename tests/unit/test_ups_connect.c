/* tests/unit/test_ups_connect.c - ups_connect() (daemon/upstream/connect.c) against real sockets
 * on 127.0.0.1: a listening one (the bufferevent handed over carries bytes), a closed port
 * (ECONNREFUSED, no bufferevent), and a cancelled dial (no callback, nothing leaked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "upstream/connect.h"

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

/* A listening socket on 127.0.0.1 (backlog only: nobody accepts until the test does); its
 * address in a. close_it: closed again at once, so its port refuses. */
static int loopback(struct cfg_addr *a, int close_it)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
	socklen_t len = sizeof *sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(a, 0, sizeof *a);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, sizeof *sin), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	a->len = len;
	if (close_it) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One loop turn that does not block, then a breath for the kernel. */
static void turn(struct event_base *base)
{
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	usleep(5000);
}

/* Runs base until the dial has called back (bounded: a broken dial fails, never hangs). */
static void run(struct event_base *base, const struct got *g)
{
	for (int i = 0; i < 200 && g->calls == 0; i++)
		turn(base);
}

static struct ups_server *server(struct ups_reg *reg, const struct cfg_addr *a)
{
	struct ups_server *s = ups_server_get(reg, a);
	assert_non_null(s);
	return s;
}

static void test_connects_and_hands_over_the_bufferevent(void **state)
{
	struct event_base *base = event_base_new();
	struct ups_reg *reg = ups_reg_new();
	struct cfg_addr a;
	int lfd = loopback(&a, 0), cfd;
	struct ups_server *s = server(reg, &a);
	struct got g = { 0, 0, NULL };
	char buf[8];
	(void)state;
	assert_non_null(ups_connect(base, s, 2000, on_dial, &g));
	assert_int_equal(g.calls, 0);           /* never from within ups_connect() */
	ups_server_put(s);                      /* the dial copied the address */
	run(base, &g);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.err, 0);
	assert_non_null(g.bev);
	assert_true((cfd = accept(lfd, NULL, NULL)) >= 0);
	assert_int_equal(bufferevent_write(g.bev, "ping", 4), 0);
	for (int i = 0; i < 200 && evbuffer_get_length(bufferevent_get_output(g.bev)) != 0; i++)
		turn(base);
	assert_int_equal(recv(cfd, buf, sizeof buf, 0), 4);
	assert_memory_equal(buf, "ping", 4);
	bufferevent_free(g.bev);
	close(cfd);
	close(lfd);
	ups_reg_unref(reg);
	event_base_free(base);
}

static void test_a_refused_connect_calls_back_without_a_bufferevent(void **state)
{
	struct event_base *base = event_base_new();
	struct ups_reg *reg = ups_reg_new();
	struct cfg_addr a;
	struct ups_server *s;
	struct got g = { 0, 0, NULL };
	(void)state;
	loopback(&a, 1);
	s = server(reg, &a);
	assert_non_null(ups_connect(base, s, 2000, on_dial, &g));
	run(base, &g);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.err, ECONNREFUSED);
	assert_null(g.bev);
	ups_server_put(s);
	ups_reg_unref(reg);
	event_base_free(base);
}

static void test_a_cancelled_dial_never_calls_back(void **state)
{
	struct event_base *base = event_base_new();
	struct ups_reg *reg = ups_reg_new();
	struct cfg_addr a;
	int lfd = loopback(&a, 0);
	struct ups_server *s = server(reg, &a);
	struct got g = { 0, 0, NULL };
	(void)state;
	ups_dial_cancel(ups_connect(base, s, 2000, on_dial, &g));
	ups_dial_cancel(NULL);
	for (int i = 0; i < 10; i++)
		turn(base);
	assert_int_equal(g.calls, 0);
	ups_server_put(s);
	close(lfd);
	ups_reg_unref(reg);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connects_and_hands_over_the_bufferevent),
		cmocka_unit_test(test_a_refused_connect_calls_back_without_a_bufferevent),
		cmocka_unit_test(test_a_cancelled_dial_never_calls_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
