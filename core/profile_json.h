/*
 * A profile as the job messages carry it (docs/protocol.md: JOB.profile):
 * a flat JSON object of option name -> value as the user typed it. One
 * reader for the coordinator (validation at submit and dispatch) and the
 * worker's job process (the encode), so both read it the same way.
 */
#ifndef DCV_PROFILE_JSON_H
#define DCV_PROFILE_JSON_H

#include <stddef.h>

#include "profile.h"

/*
 * Defaults, then dcv_profile_set() for every key (strings as they are,
 * numbers and booleans as their text), then dcv_profile_resolve().
 * dcv_profile_check() is left to the caller. Returns 0, or with the reason
 * in err: -EBADMSG the text is not a JSON object; -ENOENT a key that is no
 * profile option ("profile.KEY: not a profile option"); -EINVAL a value
 * that is not a scalar or that dcv_profile_set() refuses.
 */
int dcv_profile_from_json(struct dcv_profile *p, const char *json, char *err, size_t errlen);

#endif
