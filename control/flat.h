/* control/flat.h - flattened API parameters (spec 1.1): the query-string and form encoding of
 * arrays and objects ("Ids.0=a", "CheckParams.DelayLoop=30") turned back into JSON, so that every
 * request style hands the actions one JSON object. Pure; the caller owns the result.
 */
#ifndef GAAPD_CTL_FLAT_H
#define GAAPD_CTL_FLAT_H

#include <jansson.h>
#include <stddef.h>

#include "req.h"

/* The business parameters of a decoded query or form as one JSON object (spec 1.1): "Ids.0=a&Ids.1=b"
 * -> {"Ids":["a","b"]}, "P.Q=1&P.R.0=2" -> {"P":{"Q":"1","R":["2"]}}. Values stay strings (the
 * parameter schemas accept numeric strings). Pairs named in skip (NULL-terminated, or NULL) are left
 * out. NULL, with the reason in err, when a path is given twice, is both a value and a container,
 * mixes indexes and names at one level, has a gap in its indexes, an empty or non-canonical ("01")
 * segment, or more than 8 levels; or when a name or value is not UTF-8. The caller owns the result. */
json_t *ctl_form_to_json(const struct ctl_form *f, const char *const *skip, char *err, size_t errlen);

#endif
