/* tests/e2e/slow_sync.c - a fault injector test_actions.GroupCommit preloads into gaapd
 *   (LD_PRELOAD): every fdatasync(2) first sleeps SLOW_SYNC_MS (default 20) milliseconds, as a
 *   slow disk would, and then appends one byte to the file SLOW_SYNC_COUNT names, so that a test
 *   counts the syncs from outside gaapd. With syncs that slow, calls that arrive while one runs
 *   pile up: a server that makes each call durable on its own needs a sync per call, one with
 *   group commit one per batch.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int (*real_fdatasync)(int);
static long pause_ms = 20;
static const char *count_path;

/* Before main(): gaapd's threads start later, so they only ever read what this sets. */
__attribute__((constructor)) static void setup(void)
{
	const char *ms = getenv("SLOW_SYNC_MS");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (ms != NULL)
		pause_ms = strtol(ms, NULL, 10);
	count_path = getenv("SLOW_SYNC_COUNT");
}

int fdatasync(int fd)
{
	struct timespec pause = { .tv_sec = pause_ms / 1000, .tv_nsec = pause_ms % 1000 * 1000000 };
	int rc, saved;
	nanosleep(&pause, NULL);
	rc = real_fdatasync(fd);
	saved = errno;
	if (count_path != NULL) {
		int c = open(count_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (c >= 0) {
			if (write(c, "s", 1) < 0) {
				/* a lost count would read as fewer syncs; only a full disk loses it, and
				 * then the calls fail too */
			}
			close(c);
		}
	}
	errno = saved;
	return rc;
}
