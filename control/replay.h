/* control/replay.h - v1 (HmacSHA1/HmacSHA256) replay protection: the signed requests each SecretId
 * made within the timestamp window, one table per SecretId, so that one key's traffic can neither
 * evict nor block another key's. A key's table holds at most `limit` requests (the caller's
 * control.v1_replay_limit); when it is full that key's new requests are refused until its oldest
 * ones leave the window, rather than forgetting anything (a forgotten request could be replayed).
 * Cost: O(1) per call (a hash chain lookup, plus the expiry of what left the window since the last
 * call, each entry once); memory: per key, nothing until its first v1 call, then about 28 bytes per
 * remembered request (arrays grow by doubling up to `limit` rounded up to a power of two).
 * Ownership: the caller owns the ctl_replay (ctl_replay_new/_destroy, NULL-safe); it owns its
 *   tables and copies the SecretIds it is given. Keys are named by their index in the credentials
 *   of the last ctl_replay_sync(). Threads: one at a time (the control thread).
 */
#ifndef GAAPD_CTL_REPLAY_H
#define GAAPD_CTL_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct ctl_creds;
struct ctl_replay;

enum ctl_replay_verdict {
	CTL_REPLAY_NEW,         /* first time: now remembered */
	CTL_REPLAY_SEEN,        /* already received (or its timestamp is outside the window) */
	CTL_REPLAY_FULL,        /* the key's table is full: not remembered, the call must be refused */
	CTL_REPLAY_NOMEM,       /* ENOMEM, or the last sync failed: refuse the call */
};

/* A request is remembered while now - skew_s <= its timestamp, i.e. as long as the timestamp check
 * (|timestamp - now| <= skew_s) would let it through again. NULL on ENOMEM. */
struct ctl_replay *ctl_replay_new(unsigned skew_s);
void ctl_replay_destroy(struct ctl_replay *r);

/* Follow the credentials (NULL = none): the tables of SecretIds still in creds are kept, with
 * their new index; those of removed SecretIds are dropped. On ENOMEM it returns -1 and every
 * check fails (CTL_REPLAY_NOMEM) until a sync succeeds: refusing is safe, forgetting is not. */
int ctl_replay_sync(struct ctl_replay *r, const struct ctl_creds *creds);

/* The verdict on a correctly signed request of key (its index in the synced creds): sig names the
 * request (a hash of its Signature), ts is its timestamp, now the server's time. For
 * CTL_REPLAY_FULL, *wait_s (if not NULL) is set to the seconds until the key's oldest request
 * leaves the window and makes room. */
enum ctl_replay_verdict ctl_replay_check(struct ctl_replay *r, size_t key, uint64_t sig,
	int64_t ts, int64_t now, size_t limit, int64_t *wait_s);

/* Requests the key's table holds (as of the last check): for tests and metrics. */
size_t ctl_replay_count(const struct ctl_replay *r, size_t key);

#endif
