/* JSON -> struct dcv_profile: the job messages' profile object. */
#include "profile_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <json-c/json.h>

#include "errbuf.h"

/* One key: its value as command-line text, the way the user typed it. */
static int set_key(struct dcv_profile *p, const char *key, json_object *v, char *err,
                   size_t errlen)
{
    char num[64];
    const char *s;
    int r;

    switch (json_object_get_type(v)) {
    case json_type_string: s = json_object_get_string(v); break;
    case json_type_int:
        snprintf(num, sizeof num, "%" PRId64, json_object_get_int64(v));
        s = num;
        break;
    case json_type_double:
        snprintf(num, sizeof num, "%.17g", json_object_get_double(v));
        s = num;
        break;
    case json_type_boolean: s = json_object_get_boolean(v) ? "true" : "false"; break;
    default:
        return dcv_err(err, errlen, -EINVAL, "profile.%s: expected a string, number or boolean",
                       key);
    }
    r = dcv_profile_set(p, key, s, err, errlen);
    if (r == -ENOENT)
        dcv_errf(err, errlen, "profile.%s: not a profile option", key);
    return r;
}

int dcv_profile_from_json(struct dcv_profile *p, const char *json, char *err, size_t errlen)
{
    json_object *o = json ? json_tokener_parse(json) : NULL;
    int r = 0;

    dcv_profile_defaults(p);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return dcv_err(err, errlen, -EBADMSG, "profile: expected a JSON object");
    }
    json_object_object_foreach(o, key, v)
    {
        if ((r = set_key(p, key, v, err, errlen)) < 0)
            break;
    }
    json_object_put(o);
    if (r == 0)
        dcv_profile_resolve(p);
    return r;
}
