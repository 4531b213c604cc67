/* daemon/proxy/alog.c - the access log: one line per exchange, written by the worker that
 *   served it on its own descriptor. */
#include "alog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "route.h"
#include "worker.h"

#define PX_LOG_TARGET_MAX 1024  /* longer targets are cut (with "...") */

/* The worker's descriptor for spec, reopened when the configuration names another file. */
static int alog_fd(struct px_worker *w, const char *spec)
{
	if (w->alog_path != NULL && strcmp(w->alog_path, spec) == 0)
		return w->alog_fd;
	log_access_close(w->alog_fd);
	free(w->alog_path);
	w->alog_path = strdup(spec);
	w->alog_fd = w->alog_path != NULL ? log_access_open(spec) : -1;
	if (w->alog_fd < 0)
		LOG_ERR("px", "access log %s: cannot open: %s", spec, strerror(errno));
	return w->alog_fd;
}

/* The target for between quotes (log_escape(), quote set), cut at PX_LOG_TARGET_MAX with "...". */
static void quoted(char *out, size_t size, const char *s, size_t len)
{
	size_t n = log_escape(out, size - 4, s, len < PX_LOG_TARGET_MAX ? len : PX_LOG_TARGET_MAX, 1);
	if (len > PX_LOG_TARGET_MAX)
		memcpy(out + n, "...", 4);
}

static void ms_text(char *buf, size_t size, int64_t from, int64_t to)
{
	if (from == 0 || to < from)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.3f", (double)(to - from) / 1000.0);
}

static void time_text(char *buf, size_t size, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	size_t n;
	gmtime_r(&t, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03dZ", (int)(us % 1000000 / 1000));
}

void px_access_log(struct px_conn *c, int64_t end)
{
	const char *spec = c->route->http.access_log;
	const struct px_msg *m = &c->req;
	char line[PX_LOG_TARGET_MAX * 4 + 512], target[PX_LOG_TARGET_MAX * 4 + 8], when[40];
	char ttfb[24], total[24];       /* the method is known once the target has begun */
	int fd, n;
	if (spec == NULL || (fd = alog_fd(c->w, spec)) < 0)
		return;
	quoted(target, sizeof target, m->head.buf, m->head.tlen);
	time_text(when, sizeof when, px_now_us(c->w));
	ms_text(ttfb, sizeof ttfb, c->t_begin, c->t_head);
	ms_text(total, sizeof total, c->t_begin, end);
	n = snprintf(line, sizeof line, "time=%s listener=%s client=%s%s%s:%u method=%s "
		"target=\"%s\" status=%d bytes=%" PRIu64 " origin=%s ttfb_ms=%s total_ms=%s", when,
		c->route->id, strchr(c->ip, ':') ? "[" : "", c->ip, strchr(c->ip, ':') ? "]" : "",
		c->port, m->head.tlen > 0 ? llhttp_method_name((llhttp_method_t)m->p.method) : "-",
		target, c->status, c->sent - c->sent_mark, c->origin != NULL ? c->origin->text : "-",
		ttfb, total);
	if (n > 0)
		log_access_write(fd, line, (size_t)n, sizeof line);
}

void px_worker_reopen_log(struct px_worker *w)
{
	log_access_close(w->alog_fd);
	w->alog_fd = -1;
	free(w->alog_path);
	w->alog_path = NULL;        /* the next line reopens it: logrotate moved the old file */
}
