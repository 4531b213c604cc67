/* daemon/notify.c - see notify.h. */
#include "notify.h"

#include <systemd/sd-daemon.h>

#include "log.h"

static void send_state(const char *what, int rc)
{
	if (rc < 0)
		LOG_WARN("notify", "sd_notify %s: error %d", what, rc);
}

void notify_ready(size_t listeners)
{
	send_state("READY", sd_notifyf(0, "READY=1\nSTATUS=serving %zu listeners", listeners));
}

void notify_status(size_t listeners)
{
	send_state("STATUS", sd_notifyf(0, "STATUS=serving %zu listeners", listeners));
}

void notify_reloading(void)
{
	send_state("RELOADING", sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration"));
}

void notify_reloaded(size_t listeners, const char *outcome)
{
	send_state("READY", sd_notifyf(0, "READY=1\nSTATUS=serving %zu listeners; last reload %s",
		listeners, outcome));
}

void notify_stopping(void)
{
	send_state("STOPPING", sd_notify(0, "STOPPING=1\nSTATUS=draining connections"));
}

uint64_t notify_watchdog_usec(void)
{
	uint64_t usec = 0;
	return sd_watchdog_enabled(0, &usec) > 0 ? usec / 2 : 0;
}

void notify_watchdog(void)
{
	send_state("WATCHDOG", sd_notify(0, "WATCHDOG=1"));
}
