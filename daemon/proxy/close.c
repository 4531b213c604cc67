/* daemon/proxy/close.c - the close-reason table and the error replies made from it. */
#include "close.h"

#include <stdio.h>

static const struct {
	const char *text;
	int status;
	enum px_oerr oerr;
} close_reasons[] = {
#define PX_CLOSE(name, text, status, oerr) { text, status, PX_OERR_##oerr },
	PX_CLOSE_REASONS
#undef PX_CLOSE
};

const char *px_close_text(enum px_close r)
{
	return (unsigned)r < PX_CLOSE_COUNT ? close_reasons[r].text : "unknown";
}

int px_close_status(enum px_close r)
{
	return (unsigned)r < PX_CLOSE_COUNT ? close_reasons[r].status : 0;
}

enum px_oerr px_close_oerr(enum px_close r)
{
	return (unsigned)r < PX_CLOSE_COUNT ? close_reasons[r].oerr : PX_OERR_NONE;
}

static const char *status_phrase(int status)
{
	switch (status) {
	case 301: return "Moved Permanently";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

int px_reply(int status, const char *location, size_t location_len, unsigned flags,
	struct evbuffer *out)
{
	char body[64];
	int n = snprintf(body, sizeof body, "%d %s\n", status, status_phrase(status));
	if (n < 0 || (size_t)n >= sizeof body)
		return -1;
	return evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n%s%.*s%sContent-Type: text/plain\r\n"
		"Content-Length: %d\r\nConnection: %s\r\n\r\n%s", status, status_phrase(status),
		location != NULL ? "Location: " : "", location != NULL ? (int)location_len : 0,
		location != NULL ? location : "", location != NULL ? "\r\n" : "", n,
		(flags & PX_REPLY_KEEP) ? "keep-alive" : "close",
		(flags & PX_REPLY_HEAD) ? "" : body) < 0 ? -1 : 0;
}

int px_close_reply(enum px_close r, struct evbuffer *out)
{
	int status = px_close_status(r);
	return status == 0 ? -1 : px_reply(status, NULL, 0, 0, out);
}
