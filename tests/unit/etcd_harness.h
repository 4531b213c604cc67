/* tests/unit/etcd_harness.h - real etcd for tests: Debian's etcd-server started on 127.0.0.1, one
 *   member or a cluster of three, each on free ports of its own, with a temporary data directory.
 * Bounded: every wait has a deadline; members get SIGTERM then SIGKILL by PID, and die with the
 *   test process (PR_SET_PDEATHSIG) if it does. ETCD_BIN overrides the etcd binary ("etcd").
 * Ownership: the test owns its eh_cluster; eh_stop() stops every member and removes the
 *   directory. Threads: the test's main thread (members die with the thread that started them).
 */
#ifndef GAAPD_ETCD_HARNESS_H
#define GAAPD_ETCD_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#define EH_MAX 3

struct eh_member {
	pid_t pid;                      /* 0: not running */
	char name[8];
	unsigned client_port, peer_port;
	char url[64];                   /* http://127.0.0.1:client_port */
};

struct eh_cluster {
	char dir[128];                  /* the members' data directories and logs */
	size_t n;
	struct eh_member m[EH_MAX];
	char initial[512];              /* --initial-cluster */
};

/* Start n (1..EH_MAX) members and wait until each says it is healthy (a leader elected).
 * 0, or -1 with a message on stderr (everything started is stopped again). */
int eh_start(struct eh_cluster *cl, size_t n);
/* Stop member i (SIGTERM, then SIGKILL after 5 s); its data stays. */
void eh_stop_member(struct eh_cluster *cl, size_t i);
/* Start member i again on its data directory and ports; wait until healthy. 0 or -1. */
int eh_start_member(struct eh_cluster *cl, size_t i);
/* Stop every member, remove the directory. */
void eh_stop(struct eh_cluster *cl);

/* Monotonic milliseconds, and a nap of ms: every wait of the etcd tests is bounded by these. */
long long eh_now_ms(void);
void eh_nap(int ms);

/* cmocka group fixtures for a test file whose tests share one single-member etcd, eh_one. */
extern struct eh_cluster eh_one;
int eh_setup_one(void **state);
int eh_teardown_one(void **state);

/* A TCP port on 127.0.0.1, free now, below the ephemeral range, not handed out before by this
 * process. 0 on failure. */
unsigned eh_free_port(void);

#endif
