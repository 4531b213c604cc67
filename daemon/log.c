/* daemon/log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "error", [LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i] != NULL && strcmp(level_names[i], name) == 0)
			return (int)i;
	return -1;
}

/* Once the log is a file, its descriptor number never changes: a reopen points it at the new
 * file with dup2(), which is atomic for a thread writing at that moment. Closing the old number
 * instead would let an accepted client socket take it between a writer's load and its write(),
 * and log lines would go to a client. */
int log_open(const char *path)
{
	int cur = atomic_load(&log_fd);
	int fd = path != NULL ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)
		: STDERR_FILENO;
	if (fd < 0)
		return -1;
	if (cur == STDERR_FILENO) {
		atomic_store(&log_fd, fd);
		return 0;
	}
	if (fd == cur)
		return 0;
	if (dup3(fd, cur, O_CLOEXEC) < 0) {
		int err = errno;
		if (fd != STDERR_FILENO)
			close(fd);
		errno = err;
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	return 0;
}

void log_close(void)
{
	(void)log_open(NULL);
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	char line[2048];
	int saved = errno;
	int n = snprintf(line, sizeof(line), "<%d>%s %s: ", (int)level, level_names[level], module);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;      /* truncated: keep the newline */
	line[n++] = '\n';
	ssize_t w = write(atomic_load(&log_fd), line, (size_t)n);
	(void)w;                                /* nowhere left to report a failed log write */
	errno = saved;
}

int log_access_open(const char *spec)
{
	if (strcmp(spec, "stderr") == 0)
		return STDERR_FILENO;
	return open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

void log_access_close(int fd)
{
	if (fd >= 0 && fd != STDERR_FILENO)
		close(fd);
}

void log_access_write(int fd, char *line, size_t len, size_t size)
{
	int saved = errno;
	if (size == 0)
		return;
	if (len >= size)
		len = size - 1;         /* truncated: keep the newline */
	line[len++] = '\n';
	ssize_t w = write(fd, line, len);
	(void)w;                    /* nowhere left to report a failed log write */
	errno = saved;
}
