/* control/ids.h - resource ids (listener-xxxxxxxx) and RequestIds (UUID v4), from OpenSSL's CSPRNG.
 * Pure functions; output buffers are the caller's.
 */
#ifndef GAAPD_CTL_IDS_H
#define GAAPD_CTL_IDS_H

#include <stddef.h>

#define CTL_UUID_LEN 36
#define CTL_ID_CHARS 8          /* as in the official examples: link-cuxw2rm0, listener-o0f3at99 */

/* A random UUID v4, lower-case, into out[37]. 0 or -1 (RNG failure). */
int ctl_uuid_v4(char out[CTL_UUID_LEN + 1]);
/* prefix + "-" + 8 of [0-9a-z], uniform. 0 or -1 (RNG failure or out too small). */
int ctl_id_new(const char *prefix, char *out, size_t outlen);
/* 1 when id is prefix + "-" + 1 to 32 of [0-9a-z]. */
int ctl_id_valid(const char *prefix, const char *id);

#endif
