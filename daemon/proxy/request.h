/* daemon/proxy/request.h - the request side of a conn: parsing what the client sends, the
 *   request head and body sent to the origin, and the next request on a kept-alive connection.
 * Ownership: works on the conn's request parser (c->req) and appends to c->org's output; owns
 *   nothing of its own. Threads: the owning worker's.
 */
#ifndef GAAPD_PX_REQUEST_H
#define GAAPD_PX_REQUEST_H

#include <llhttp.h>

struct px_conn;

/* The parser's settings, and parsing what the client sent as far as the current
 * exchange allows (resumed: the parser was just resumed and must run even on empty input). */
extern const llhttp_settings_t px_request_settings;
void px_request_pump(struct px_conn *c, int resumed);
/* The rebuilt request head into c->org's output: for the exchange, and again for its one retry
 * on a new connection (c->req.head lasts as long as the exchange). 0, or -1 with c closed. */
int px_send_head(struct px_conn *c);
/* The response has been written: the next request, if the connection lives on. */
void px_next_request(struct px_conn *c);

#endif
