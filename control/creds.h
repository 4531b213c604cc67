/* control/creds.h - the credentials file: Tencent Cloud profile format (INI sections with secret_id
 * and secret_key), plus gaapd's optional `proxies = link-a,link-b` limiting what a key may manage.
 * Ownership: ctl_creds_load() returns a set the caller owns; ctl_creds_destroy() frees (NULL-safe).
 * Immutable after load. ctl_creds_ensure() creates the file with a random [default] key when it is
 * missing (mode 0600, RAND_bytes), for first start.
 */
#ifndef GAAPD_CTL_CREDS_H
#define GAAPD_CTL_CREDS_H

#include <stddef.h>

struct ctl_cred {
	char section[64];
	char secret_id[128];
	char secret_key[128];
	char **proxies;             /* NULL = may manage every proxy */
	size_t nproxies;
};

struct ctl_creds {
	struct ctl_cred *items;
	size_t n;
};

int ctl_creds_load(const char *path, struct ctl_creds **out, char *err, size_t errlen);
int ctl_creds_parse(const char *text, const char *name, struct ctl_creds **out, char *err, size_t errlen);
void ctl_creds_destroy(struct ctl_creds *c);
/* 1 when the file was created, 0 when it existed, -1 on error (err says why). */
int ctl_creds_ensure(const char *path, char *err, size_t errlen);

const struct ctl_cred *ctl_creds_find(const struct ctl_creds *c, const char *secret_id);
const struct ctl_cred *ctl_creds_section(const struct ctl_creds *c, const char *section);
/* 1 when cred may manage proxy_id. */
int ctl_cred_allows(const struct ctl_cred *cred, const char *proxy_id);

#endif
