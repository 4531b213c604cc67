/* daemon/notify.h - telling the service manager how gaapd is doing (systemd's notify protocol,
 * through libsystemd's sd_notify). Every function is a no-op when NOTIFY_SOCKET is not set, so
 * gaapd runs the same by hand, under systemd Type=notify, or in tests with a socket of their own.
 * The watchdog: notify_watchdog_usec() says how often the main loop must call notify_watchdog().
 * Threads: the main thread.
 */
#ifndef GAAPD_NOTIFY_H
#define GAAPD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* READY=1 with a STATUS line: only once the state is restored and every listener bound. */
void notify_ready(size_t listeners);
void notify_status(size_t listeners);
void notify_reloading(void);
/* After a reload, applied or refused (the STATUS says which). */
void notify_reloaded(size_t listeners, const char *outcome);
void notify_stopping(void);
/* Half of WatchdogSec in microseconds when the watchdog is on, else 0. */
uint64_t notify_watchdog_usec(void);
void notify_watchdog(void);

#endif
