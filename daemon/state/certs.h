/* daemon/state/certs.h - the certificates a node knows (spec l7-and-https.md §7): account-level
 *   objects, referenced by id from HTTPS listeners (st_https) and their domains. This is the
 *   in-memory set (prefix cs_); the state machine (sm.c, sm_tls.c) keeps it and the store's
 *   "certificate" records in step.
 * Record, id the API's CertificateId "cert-xxxxxxxx":
 *   {CertificateId, CertificateType (0-4), CertificateAlias, CertificateContent (decoded PEM or
 *    basic-auth text), CertificateKey (PEM, types 2 and 4; null otherwise), CreateTime, BeginTime,
 *    EndTime (0 for type 0), SubjectCN, IssuerCN (string|null)}
 *   The key lives only here and in the store (its files are 0600): nothing that answers or logs
 *   may read CertificateKey but the TLS build (sm_tls.c).
 * Ownership: the set owns its entries and one reference to each entry's fields; fields are
 *   replaced, never changed in place. Threads: the control thread only.
 */
#ifndef GAAPD_STATE_CERTS_H
#define GAAPD_STATE_CERTS_H

#include <jansson.h>
#include <stddef.h>

#include "store.h"

#define CS_KIND "certificate"
#define CS_ALIAS_MAX 50             /* characters of CertificateAlias */

struct cs_cert {
	char id[ST_ID_MAX];
	int type;                       /* CertificateType */
	json_t *fields;
	const char *content, *key;      /* in fields; key NULL for types without */
};

struct cs_set;

struct cs_set *cs_set_new(void);
void cs_set_free(struct cs_set *s);             /* NULL-safe */
size_t cs_count(const struct cs_set *s);
const struct cs_cert *cs_at(const struct cs_set *s, size_t i);  /* creation order */
const struct cs_cert *cs_find(const struct cs_set *s, const char *id);
/* Room for one more, so that the cs_put() after a store write cannot fail. 0 or -1. */
int cs_reserve(struct cs_set *s);
/* Adds or replaces the record (a new reference to fields is taken; the schema checked it). */
void cs_put(struct cs_set *s, const char *id, json_t *fields);
void cs_remove(struct cs_set *s, const char *id);       /* a missing id is ignored */

/* The store's schema for the kind: 0, or -1 with err (never quoting the key). */
int cs_check(const char *id, json_t *fields, char *err, size_t errlen);

#endif
