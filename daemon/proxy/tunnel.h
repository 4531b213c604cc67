/* daemon/proxy/tunnel.h - a WebSocket tunnel: what a conn and its origin connection become
 *   after a 101 to an upgrade.
 * Ownership: the conn keeps owning both sides (c->org is never pooled again); the tunnel only
 *   replaces both sides' callbacks (state PX_TUNNEL) and the parsers stop, for the rest of their
 *   lives. Threads: the owning worker's.
 */
#ifndef GAAPD_PX_TUNNEL_H
#define GAAPD_PX_TUNNEL_H

struct px_conn;

/* The origin answered c's WebSocket upgrade with 101, whose head is in the client's
 * output and whose parser stopped right after it: from now on c and c->org relay bytes both
 * ways (first what each side sent after its head), until both have ended (each end's EOF shuts
 * the other's write side once what came before is written), an error, or tunnel_idle_timeout
 * without a byte moving. */
void px_tunnel_start(struct px_conn *c);
/* c->timer of a tunnel fired: closes an idle tunnel, or waits for the rest of the timeout. */
void px_tunnel_timer(struct px_conn *c);
/* The origin's EOF reached the response side after the tunnel began (it came with the 101). */
void px_tunnel_origin_eof(struct px_conn *c);

#endif
