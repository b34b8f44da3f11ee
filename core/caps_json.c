/*
 * dcv_device_caps <-> JSON. The parser treats its input as hostile (it will
 * read what remote workers send), so every field is checked for presence,
 * type, length and range before anything is stored.
 */
#include "caps_json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <libavutil/pixdesc.h>

#define MAX_SESSIONS_LIMIT 1000000
#define MAX_DIMENSION (1u << 20)

static const char *const hw_names[] = {"none", "cuda", "vaapi", "qsv", "videotoolbox", "other"};
static const char *const scope_names[] = {"unlimited", "per-device", "per-host"};
static const char *const source_names[] = {"none", "probed", "vendor", "config"};

/* Flags with their own JSON booleans are not repeated in "flags". */
static const struct {
    uint32_t bit;
    const char *name;
} flag_names[] = {
    {DCV_CAP_TEN_BIT, "ten-bit"},
    {DCV_CAP_DYN_BITRATE, "dyn-bitrate"},
    {DCV_CAP_NOT_THREADSAFE_OPEN, "not-threadsafe-open"},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *dcv_hw_type_name(int32_t hw_type)
{
    if (hw_type >= 0 && (size_t)hw_type < N_ELEMS(hw_names))
        return hw_names[hw_type];
    return "other";
}

/* ------------------------------------------------------------------------ */
/* caps -> JSON                                                               */
/* ------------------------------------------------------------------------ */

/* A plugin may leave a char array unterminated or put a driver's multi-line
 * message in it; what leaves this function is always a clean one-liner. */
static struct json_object *safe_string(const char *field, size_t size)
{
    char buf[512];
    size_t len = strnlen(field, size);

    /* An unterminated field loses its last byte, as it would have to in
     * the struct: what this emits, dcv_caps_from_json accepts. */
    if (len == size && len > 0)
        len--;
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)field[i];
        buf[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    buf[len] = '\0';
    return json_object_new_string(buf);
}

/* json-c takes ownership of v only when the add succeeds; on failure the
 * reference is still ours to drop. A NULL v is an earlier failed new_*(). */
static int add(struct json_object *o, const char *key, struct json_object *v)
{
    if (!v)
        return -ENOMEM;
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

static int push(struct json_object *a, struct json_object *v)
{
    if (!v)
        return -ENOMEM;
    if (json_object_array_add(a, v) != 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

#define SAFE_STR(field) safe_string((field), sizeof(field))

static int codec_to_json(const struct dcv_codec_caps *cc, struct json_object **out)
{
    struct json_object *o = json_object_new_object();
    struct json_object *depths = json_object_new_array();
    struct json_object *fmts = json_object_new_array();
    int rc = (o && depths && fmts) ? 0 : -ENOMEM;

    for (unsigned b = 1; rc == 0 && b < 32; b++)
        if (cc->bit_depths & (1u << b))
            rc = push(depths, json_object_new_int((int)b));
    for (int i = 0; rc == 0 && i < DCV_MAX_PIX_FMTS && cc->pix_fmts[i] >= 0; i++) {
        /* A number this FFmpeg has no name for cannot be used here either. */
        const char *name = av_get_pix_fmt_name((enum AVPixelFormat)cc->pix_fmts[i]);
        if (name)
            rc = push(fmts, json_object_new_string(name));
    }
    if (rc == 0)
        rc = add(o, "codec", SAFE_STR(cc->codec));
    if (rc == 0)
        rc = add(o, "encoder", SAFE_STR(cc->encoder));
    if (rc == 0)
        rc = add(o, "profiles", SAFE_STR(cc->profiles));
    if (rc == 0)
        rc = add(o, "max_width", json_object_new_int64(cc->max_width));
    if (rc == 0)
        rc = add(o, "max_height", json_object_new_int64(cc->max_height));
    if (rc == 0) {
        rc = add(o, "bit_depths", depths);
        depths = NULL;
    }
    if (rc == 0) {
        rc = add(o, "pix_fmts", fmts);
        fmts = NULL;
    }
    json_object_put(depths);
    json_object_put(fmts);
    if (rc < 0) {
        json_object_put(o);
        return rc;
    }
    *out = o;
    return 0;
}

int dcv_caps_to_json(const struct dcv_device_caps *caps, struct json_object **out,
                     char *err, size_t errlen)
{
    struct json_object *o, *flags = NULL, *codecs = NULL;
    int rc = 0;

    *out = NULL;
    if (caps->n_codecs > DCV_MAX_CODECS) {
        snprintf(err, errlen, "n_codecs %u is more than the %d a device can list",
                 caps->n_codecs, DCV_MAX_CODECS);
        return -EINVAL;
    }
    if (caps->max_sessions_scope >= N_ELEMS(scope_names)) {
        snprintf(err, errlen, "unknown max_sessions_scope %u", caps->max_sessions_scope);
        return -EINVAL;
    }
    if (caps->max_sessions_source >= N_ELEMS(source_names)) {
        snprintf(err, errlen, "unknown max_sessions_source %u", caps->max_sessions_source);
        return -EINVAL;
    }

    o = json_object_new_object();
    flags = json_object_new_array();
    codecs = json_object_new_array();
    if (!o || !flags || !codecs)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < N_ELEMS(flag_names); i++)
        if (caps->flags & flag_names[i].bit)
            rc = push(flags, json_object_new_string(flag_names[i].name));
    for (uint32_t i = 0; rc == 0 && i < caps->n_codecs; i++) {
        struct json_object *c;
        rc = codec_to_json(&caps->codecs[i], &c);
        if (rc == 0)
            rc = push(codecs, c);
    }

    int available = !!(caps->flags & DCV_CAP_AVAILABLE);
    if (rc == 0)
        rc = add(o, "available", json_object_new_boolean(available));
    if (rc == 0)
        rc = add(o, "hardware", json_object_new_boolean(!!(caps->flags & DCV_CAP_HARDWARE)));
    if (rc == 0)
        rc = add(o, "hw_type", json_object_new_string(dcv_hw_type_name(caps->hw_type)));
    if (rc == 0)
        rc = add(o, "device_id", SAFE_STR(caps->device_id));
    if (rc == 0)
        rc = add(o, "device_name", SAFE_STR(caps->device_name));
    if (rc == 0)
        rc = add(o, "max_sessions", json_object_new_int64(caps->max_sessions));
    if (rc == 0)
        rc = add(o, "sessions_scope",
                 json_object_new_string(scope_names[caps->max_sessions_scope]));
    if (rc == 0)
        rc = add(o, "sessions_source",
                 json_object_new_string(source_names[caps->max_sessions_source]));
    if (rc == 0) {
        rc = add(o, "flags", flags);
        flags = NULL;
    }
    if (rc == 0) {
        /* The header requires a reason for an unavailable device; a user
         * reading --probe should never see a bare "unavailable". */
        if (!available && caps->unavailable_reason[0] == '\0')
            rc = add(o, "unavailable_reason",
                     json_object_new_string("the plugin gave no reason"));
        else
            rc = add(o, "unavailable_reason", SAFE_STR(caps->unavailable_reason));
    }
    if (rc == 0) {
        rc = add(o, "codecs", codecs);
        codecs = NULL;
    }
    json_object_put(flags);
    json_object_put(codecs);
    if (rc < 0) {
        json_object_put(o);
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON -> caps                                                               */
/* ------------------------------------------------------------------------ */

static int bad(char *err, size_t errlen, const char *where, const char *key, const char *what)
{
    snprintf(err, errlen, "%s%s%s: %s", where, where[0] ? "." : "", key, what);
    return -EINVAL;
}

static int get_typed(struct json_object *obj, const char *where, const char *key,
                     enum json_type type, struct json_object **v, char *err, size_t errlen)
{
    static const char *const type_words[] = {
        [json_type_null] = "null",      [json_type_boolean] = "a boolean",
        [json_type_double] = "a number", [json_type_int] = "an integer",
        [json_type_object] = "an object", [json_type_array] = "an array",
        [json_type_string] = "a string",
    };
    char what[64];

    if (!json_object_object_get_ex(obj, key, v))
        return bad(err, errlen, where, key, "missing");
    if (!json_object_is_type(*v, type)) {
        snprintf(what, sizeof(what), "must be %s", type_words[type]);
        return bad(err, errlen, where, key, what);
    }
    return 0;
}

/* A string that fits dst (with its NUL) and holds no control characters:
 * these end up in logs, terminals and the dashboard. */
static int check_string(struct json_object *v, char *dst, size_t size, const char *where,
                        const char *key, char *err, size_t errlen)
{
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    char what[64];

    if (len >= size) {
        snprintf(what, sizeof(what), "longer than %zu bytes", size - 1);
        return bad(err, errlen, where, key, what);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return bad(err, errlen, where, key, "contains a control character");
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int get_string(struct json_object *obj, const char *where, const char *key, char *dst,
                      size_t size, char *err, size_t errlen)
{
    struct json_object *v;
    int rc = get_typed(obj, where, key, json_type_string, &v, err, errlen);

    return rc < 0 ? rc : check_string(v, dst, size, where, key, err, errlen);
}

/* Names that select encoders and match profiles: short identifiers only. */
static int get_ident(struct json_object *obj, const char *where, const char *key, char *dst,
                     size_t size, char *err, size_t errlen)
{
    int rc = get_string(obj, where, key, dst, size, err, errlen);

    if (rc < 0)
        return rc;
    if (!dst[0])
        return bad(err, errlen, where, key, "empty");
    for (const char *p = dst; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
            return bad(err, errlen, where, key, "may only contain letters, digits, '_', '-', '.'");
    return 0;
}

static int get_uint(struct json_object *obj, const char *where, const char *key,
                    uint32_t max, uint32_t *out, char *err, size_t errlen)
{
    struct json_object *v;
    char what[64];
    int rc = get_typed(obj, where, key, json_type_int, &v, err, errlen);

    if (rc < 0)
        return rc;
    errno = 0;
    int64_t n = json_object_get_int64(v);
    /* json-c clamps out-of-range literals to INT64_MIN/MAX and sets errno. */
    if (errno != 0 || n < 0 || n > (int64_t)max) {
        snprintf(what, sizeof(what), "must be an integer from 0 to %u", max);
        return bad(err, errlen, where, key, what);
    }
    *out = (uint32_t)n;
    return 0;
}

static int get_bool(struct json_object *obj, const char *where, const char *key, int *out,
                    char *err, size_t errlen)
{
    struct json_object *v;
    int rc = get_typed(obj, where, key, json_type_boolean, &v, err, errlen);

    if (rc == 0)
        *out = json_object_get_boolean(v) ? 1 : 0;
    return rc;
}

static int get_enum(struct json_object *obj, const char *where, const char *key,
                    const char *const *names, size_t n, int unknown, uint32_t *out, char *err,
                    size_t errlen)
{
    char buf[32];
    int rc = get_string(obj, where, key, buf, sizeof(buf), err, errlen);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strcmp(buf, names[i]) == 0) {
            *out = (uint32_t)i;
            return 0;
        }
    if (unknown >= 0) {
        *out = (uint32_t)unknown;
        return 0;
    }
    return bad(err, errlen, where, key, "unknown value");
}

static int codec_from_json(struct json_object *o, const char *where,
                           struct dcv_codec_caps *cc, char *err, size_t errlen)
{
    struct json_object *a;
    char key[64];
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return bad(err, errlen, "", where, "must be an object");
    if ((rc = get_ident(o, where, "codec", cc->codec, sizeof(cc->codec), err, errlen)) < 0 ||
        (rc = get_ident(o, where, "encoder", cc->encoder, sizeof(cc->encoder), err, errlen)) < 0 ||
        (rc = get_string(o, where, "profiles", cc->profiles, sizeof(cc->profiles), err,
                         errlen)) < 0 ||
        (rc = get_uint(o, where, "max_width", MAX_DIMENSION, &cc->max_width, err, errlen)) < 0 ||
        (rc = get_uint(o, where, "max_height", MAX_DIMENSION, &cc->max_height, err, errlen)) < 0)
        return rc;

    if ((rc = get_typed(o, where, "bit_depths", json_type_array, &a, err, errlen)) < 0)
        return rc;
    size_t n = json_object_array_length(a);
    if (n > 31)
        return bad(err, errlen, where, "bit_depths", "too many entries");
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(a, i);
        int64_t d = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        if (d < 1 || d > 31) {
            snprintf(key, sizeof(key), "bit_depths[%zu]", i);
            return bad(err, errlen, where, key, "must be an integer from 1 to 31");
        }
        cc->bit_depths |= 1u << d;
    }

    if ((rc = get_typed(o, where, "pix_fmts", json_type_array, &a, err, errlen)) < 0)
        return rc;
    n = json_object_array_length(a);
    if (n > DCV_MAX_PIX_FMTS) {
        snprintf(key, sizeof(key), "more than %d entries", DCV_MAX_PIX_FMTS);
        return bad(err, errlen, where, "pix_fmts", key);
    }
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(a, i);
        char name[32];
        snprintf(key, sizeof(key), "pix_fmts[%zu]", i);
        if (!json_object_is_type(v, json_type_string))
            return bad(err, errlen, where, key, "must be a string");
        if ((rc = check_string(v, name, sizeof(name), where, key, err, errlen)) < 0)
            return rc;
        /* A format a newer peer's FFmpeg has and ours lacks is of no use
         * here, but it is not an error in the peer's report either. */
        enum AVPixelFormat f = av_get_pix_fmt(name);
        if (f != AV_PIX_FMT_NONE)
            cc->pix_fmts[k++] = f;
    }
    for (; k < DCV_MAX_PIX_FMTS; k++)
        cc->pix_fmts[k] = -1;
    return 0;
}

int dcv_caps_from_json(struct json_object *obj, struct dcv_device_caps *out, char *err,
                       size_t errlen)
{
    struct dcv_device_caps c;
    struct json_object *a;
    uint32_t u;
    int b = 0, rc;

    memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(c);
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        snprintf(err, errlen, "device capabilities must be a JSON object");
        return -EINVAL;
    }
    if ((rc = get_bool(obj, "", "available", &b, err, errlen)) < 0)
        return rc;
    c.flags |= b ? DCV_CAP_AVAILABLE : 0;
    if ((rc = get_bool(obj, "", "hardware", &b, err, errlen)) < 0)
        return rc;
    c.flags |= b ? DCV_CAP_HARDWARE : 0;
    if ((rc = get_enum(obj, "", "hw_type", hw_names, N_ELEMS(hw_names), DCV_HW_OTHER, &u, err,
                       errlen)) < 0)
        return rc;
    c.hw_type = (int32_t)u;
    if ((rc = get_string(obj, "", "device_id", c.device_id, sizeof(c.device_id), err,
                         errlen)) < 0)
        return rc;
    if (!c.device_id[0])
        return bad(err, errlen, "", "device_id", "empty");
    if ((rc = get_string(obj, "", "device_name", c.device_name, sizeof(c.device_name), err,
                         errlen)) < 0 ||
        (rc = get_uint(obj, "", "max_sessions", MAX_SESSIONS_LIMIT, &c.max_sessions, err,
                       errlen)) < 0 ||
        (rc = get_enum(obj, "", "sessions_scope", scope_names, N_ELEMS(scope_names), -1,
                       &c.max_sessions_scope, err, errlen)) < 0 ||
        (rc = get_enum(obj, "", "sessions_source", source_names, N_ELEMS(source_names), -1,
                       &c.max_sessions_source, err, errlen)) < 0 ||
        (rc = get_string(obj, "", "unavailable_reason", c.unavailable_reason,
                         sizeof(c.unavailable_reason), err, errlen)) < 0)
        return rc;

    if ((rc = get_typed(obj, "", "flags", json_type_array, &a, err, errlen)) < 0)
        return rc;
    size_t n = json_object_array_length(a);
    if (n > 32)
        return bad(err, errlen, "", "flags", "too many entries");
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(a, i);
        char name[32], key[32];
        snprintf(key, sizeof(key), "flags[%zu]", i);
        if (!json_object_is_type(v, json_type_string))
            return bad(err, errlen, "", key, "must be a string");
        if ((rc = check_string(v, name, sizeof(name), "", key, err, errlen)) < 0)
            return rc;
        for (size_t f = 0; f < N_ELEMS(flag_names); f++)
            if (strcmp(name, flag_names[f].name) == 0)
                c.flags |= flag_names[f].bit;
    }

    if ((rc = get_typed(obj, "", "codecs", json_type_array, &a, err, errlen)) < 0)
        return rc;
    n = json_object_array_length(a);
    if (n > DCV_MAX_CODECS) {
        snprintf(err, errlen, "codecs: %zu entries, at most %d allowed", n, DCV_MAX_CODECS);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof(where), "codecs[%zu]", i);
        if ((rc = codec_from_json(json_object_array_get_idx(a, i), where, &c.codecs[i], err,
                                  errlen)) < 0)
            return rc;
    }
    c.n_codecs = (uint32_t)n;
    *out = c;
    return 0;
}
