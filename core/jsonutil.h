/*
 * Reading members of json-c objects: one family for the daemon and the CLI
 * (it replaced four local copies). Each returns the member when it has the
 * type asked for, else the default: a missing or mistyped member reads as
 * absent, never as a crash or a half-converted value. Header-only.
 */
#ifndef DCV_JSONUTIL_H
#define DCV_JSONUTIL_H

#include <stdint.h>

#include <json-c/json.h>

static inline json_object *dcv_json_get(json_object *o, const char *key, json_type t)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
        return NULL;
    return v;
}

static inline const char *dcv_json_str(json_object *o, const char *key, const char *def)
{
    json_object *v = dcv_json_get(o, key, json_type_string);
    return v ? json_object_get_string(v) : def;
}

/* A number, integer or not (JSON does not tell them apart). */
static inline int64_t dcv_json_int(json_object *o, const char *key, int64_t def)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return def;
    return json_object_get_int64(v);
}

static inline double dcv_json_dbl(json_object *o, const char *key, double def)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return def;
    return json_object_get_double(v);
}

static inline int dcv_json_bool(json_object *o, const char *key)
{
    json_object *v = dcv_json_get(o, key, json_type_boolean);
    return v ? json_object_get_boolean(v) : 0;
}

#endif
