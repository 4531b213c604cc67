/* daemon/proxy/alog.h - the access log: one line per exchange, to the route's file.
 * Ownership: the file descriptor is the worker's (px_worker.alog_fd, reopened on
 *   px_worker_reopen_log()); a line reads the conn and writes nothing back but that descriptor.
 *   Threads: the owning worker's.
 */
#ifndef GAAPD_PX_ALOG_H
#define GAAPD_PX_ALOG_H

#include <stdint.h>

struct px_conn;

/* The access log line of c's current exchange, ended at end (px_mono_us()), if the route has an
 * access log. */
void px_access_log(struct px_conn *c, int64_t end);

#endif
