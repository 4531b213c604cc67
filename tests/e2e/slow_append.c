/* tests/e2e/slow_append.c - a fault injector test_ops.LogReopen preloads into gaapd
 *   (LD_PRELOAD): every write(2) to a descriptor opened with O_APPEND (gaapd's event and access
 *   logs, nothing else of its own) first sleeps 200 us, after the caller has picked the
 *   descriptor and before the real write. That widens a race that otherwise lasts nanoseconds:
 *   a log reopen that close()s a descriptor writers may still hold loses their lines (EBADF) or
 *   sends them to whatever took the number (an accepted client); a reopen that keeps the number
 *   open (dup2() onto it) sends them to the old file or the new one. Nothing else changes.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);

/* Before main(): gaapd's threads start later, so they only ever read real_write. */
__attribute__((constructor)) static void find_write(void)
{
	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
}

ssize_t write(int fd, const void *buf, size_t len)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0 && (flags & O_APPEND)) {
		struct timespec pause = { .tv_sec = 0, .tv_nsec = 200 * 1000 };
		nanosleep(&pause, NULL);
	}
	return real_write(fd, buf, len);
}
