/* daemon/state/rs.h - the real servers a node knows (spec l7-and-https.md §2): addresses
 *   registered once per node, with a name, a project label and tags, found by id and by address.
 *   An IP literal and a DNS name compare as the spec says: IPs by value (::1 = 0:0::1), names
 *   case-insensitively. This is the in-memory set; the state machine (sm.c) keeps it and the
 *   store's "realserver" records in step.
 * Ownership: the set owns its entries; an entry's fields (the record as stored) are its own
 *   reference. Threads: the control thread only.
 */
#ifndef GAAPD_STATE_RS_H
#define GAAPD_STATE_RS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RS_KIND "realserver"
#define RS_ADDR_MAX 254             /* a host name is 1..253 characters */
#define RS_TAGS_MAX 50

struct rs {
	char id[32];                    /* rs-xxxxxxxx */
	char key[RS_ADDR_MAX];          /* the address compared: canonical IP, or lower-case name */
	json_t *fields;                 /* RealServerId, RealServerIP, RealServerName, ProjectId,
	                                 * TagSet: the record, as Describe answers it */
	const char *addr;               /* RealServerIP as registered (in fields; NULL: none): read
	                                 * by every routing build, so kept out of jansson */
	int is_ip;                      /* rs_is_ip(addr) */
};

struct rs_set;

struct rs_set *rs_set_new(void);
void rs_set_free(struct rs_set *s);             /* NULL-safe */
size_t rs_count(const struct rs_set *s);
const struct rs *rs_at(const struct rs_set *s, size_t i);       /* creation order */
const struct rs *rs_find(const struct rs_set *s, const char *id);
const struct rs *rs_find_addr(const struct rs_set *s, const char *key);

/* Make room for n more, so that the rs_add()s after a store write cannot fail. 0 or -1. */
int rs_reserve(struct rs_set *s, size_t n);
/* Adds the record (a new reference to fields is taken); its id and key must be new. */
void rs_add(struct rs_set *s, const char *id, const char *key, json_t *fields);
void rs_remove(struct rs_set *s, const char *id);               /* a missing id is ignored */
/* Replaces a record's fields (a new reference is taken). */
void rs_set_fields(struct rs_set *s, const char *id, json_t *fields);

/* An address as AddRealServers takes it (surrounding white space trimmed by the caller): an IPv4
 * or IPv6 literal (without brackets), or a host name of 1..253 characters in labels of 1..63
 * [A-Za-z0-9-] that neither start nor end with '-'. Its comparison key into key: 0, or -1 when it
 * is none of these. */
int rs_addr_key(const char *addr, char key[RS_ADDR_MAX]);

/* 1 when addr (as registered, or its key) is an IP literal: a real server of kind IP; else a DNS
 * name, kind DOMAIN (§2). */
int rs_is_ip(const char *addr);

/* The record's fields, for the store and for answers. NULL on ENOMEM. */
json_t *rs_fields(const char *id, const char *addr, const char *name, int64_t project,
	json_t *tags);
/* The store's schema for the kind: 0, or -1 with err. */
int rs_check(const char *id, json_t *fields, char *err, size_t errlen);

#endif
