/*
 * The wire codec's field-table engine: one parser and one emitter for every
 * JSON body, driven by the tables of proto_msgs.c (the row types are in
 * proto_int.h). Input is hostile: size, depth, UTF-8, NUL, types, required
 * fields, lengths, ranges, enum values and control characters are checked
 * here once for all messages, and what we emit is decoded again before it
 * leaves.
 */
#include "proto_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "caps_json.h"

/* ---- the field-table engine ---------------------------------------------- */

int fields_bad(char *err, size_t errlen, const char *where, const char *key, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s%s%s: %s", where, key ? "." : "", key ? key : "", what);
    return -EINVAL;
}

#define AT(m, off, T) ((T *)(void *)((char *)(m) + (off)))
#define CAT(m, off, T) ((const T *)(const void *)((const char *)(m) + (off)))

static int is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == ':';
}

static int is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. json-c's own check lets those through, and they would reach
 * logs, terminals and the dashboard. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* Validate the text of a string field (shared by parse and emit). */
static int check_text(const struct field *f, const char *s, size_t len, const char *where,
                      char *err, size_t errlen)
{
    switch (f->type) {
    case F_JOBID:
        if (len != 32 || !is_lower_hex(s, len))
            return fields_bad(err, errlen, where, f->name, "expected 32 lower-case hex digits");
        return 0;
    case F_SHA:
        if (len != 64 || !is_lower_hex(s, len))
            return fields_bad(err, errlen, where, f->name, "expected 64 lower-case hex digits");
        return 0;
    default:
        break;
    }
    if (len + 1 > f->cap || len < (size_t)f->min)
        return fields_bad(err, errlen, where, f->name, "expected a string of %lld..%zu bytes",
                   (long long)f->min, f->cap - 1);
    if (!utf8_valid((const unsigned char *)s, len))
        return fields_bad(err, errlen, where, f->name, "is not valid UTF-8");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (f->type == F_TOKEN && !is_token_char(c))
            return fields_bad(err, errlen, where, f->name,
                       "may only contain letters, digits, '.', '_', '-', ':'");
        if (f->type == F_KEY && (c <= 0x20 || c >= 0x7f))
            return fields_bad(err, errlen, where, f->name,
                       "may only contain printable ASCII without spaces");
        if (c < 0x20 || c == 0x7f)
            return fields_bad(err, errlen, where, f->name, "contains a control character");
    }
    return 0;
}

static size_t text_cap(const struct field *f)
{
    return f->type == F_JOBID ? DCV_PROTO_JOB_ID : f->type == F_SHA ? DCV_PROTO_SHA : f->cap;
}

/* A profile: option name -> scalar, as dcv_profile_set() takes them. */
static int check_flat(struct json_object *v, const char *where, const char *key, char *err,
                      size_t errlen)
{
    if (!json_object_is_type(v, json_type_object))
        return fields_bad(err, errlen, where, key, "expected an object");
    if (json_object_object_length(v) > 32)
        return fields_bad(err, errlen, where, key, "more than 32 keys");
    json_object_object_foreach(v, k, val)
    {
        size_t klen = strlen(k);
        if (klen == 0 || klen > 31)
            return fields_bad(err, errlen, where, key, "option names must be 1..31 bytes");
        for (size_t i = 0; i < klen; i++)
            if (!is_token_char((unsigned char)k[i]))
                return fields_bad(err, errlen, where, key, "option name '%.31s' has a bad character", k);
        switch (json_object_get_type(val)) {
        case json_type_string: {
            const char *s = json_object_get_string(val);
            size_t len = (size_t)json_object_get_string_len(val);
            if (len > 255)
                return fields_bad(err, errlen, where, key, "value of '%s' longer than 255 bytes", k);
            for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                    return fields_bad(err, errlen, where, key,
                               "value of '%s' contains a control character", k);
            break;
        }
        case json_type_int:
        case json_type_boolean:
            break;
        case json_type_double:
            if (!isfinite(json_object_get_double(val)))
                return fields_bad(err, errlen, where, key, "value of '%s' is not finite", k);
            break;
        default:
            return fields_bad(err, errlen, where, key, "value of '%s' must be a string, number or boolean",
                       k);
        }
    }
    return 0;
}

static int parse_obj(struct json_object *o, const struct desc *d, void *m, const char *where,
                     char *err, size_t errlen);
static int emit_obj(const void *m, const struct desc *d, struct json_object *o,
                    const char *where, char *err, size_t errlen);

static void set_default(const struct field *f, void *m)
{
    switch (f->type) {
    case F_STR: case F_TOKEN: case F_KEY: case F_JOBID: case F_SHA: case F_FLAT:
        AT(m, f->off, char)[0] = '\0';
        break;
    case F_INT:
        *AT(m, f->off, int64_t) = f->def;
        break;
    case F_DBL:
        *AT(m, f->off, double) = f->ddef;
        break;
    case F_BOOL: case F_ENUM:
        *AT(m, f->off, int) = (int)f->def;
        break;
    case F_ARR: case F_SARR: case F_DARR:
        *AT(m, f->aux, size_t) = 0;
        break;
    case F_SUB:
        if (f->aux != NOAUX)
            *AT(m, f->aux, int) = 0;
        for (size_t i = 0; i < f->sub->n; i++)
            if (f->sub->f[i].type != F_CAPS)
                set_default(&f->sub->f[i], AT(m, f->off, char));
        break;
    case F_TEXT:
        *AT(m, f->off, char *) = NULL;
        break;
    case F_CAPS:
        break;
    }
}

/* The length of the array v for the array field f: at most f->cap. */
static int array_len(const struct field *f, struct json_object *v, const char *where, char *err,
                     size_t errlen)
{
    if (!json_object_is_type(v, json_type_array))
        return fields_bad(err, errlen, where, f->name, "expected an array");
    size_t n = json_object_array_length(v);
    if (n > f->cap)
        return fields_bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
    return (int)n;
}

static int parse_field(const struct field *f, struct json_object *v, void *m, const char *where,
                       char *err, size_t errlen)
{
    char sub_where[192];

    switch (f->type) {
    case F_STR: case F_TOKEN: case F_KEY: case F_JOBID: case F_SHA: {
        if (!json_object_is_type(v, json_type_string))
            return fields_bad(err, errlen, where, f->name, "expected a string");
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);
        if (memchr(s, '\0', len))
            return fields_bad(err, errlen, where, f->name, "contains a NUL byte");
        int rc = check_text(f, s, len, where, err, errlen);
        if (rc < 0)
            return rc;
        memcpy(AT(m, f->off, char), s, len);
        AT(m, f->off, char)[len] = '\0';
        return 0;
    }
    case F_INT: {
        int64_t x;
        if (!json_object_is_type(v, json_type_int) ||
            (x = json_object_get_int64(v)) < f->min || x > f->max)
            return fields_bad(err, errlen, where, f->name, "expected an integer %lld..%lld",
                       (long long)f->min, (long long)f->max);
        *AT(m, f->off, int64_t) = x;
        return 0;
    }
    case F_DBL: {
        double x;
        if ((!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) ||
            !isfinite(x = json_object_get_double(v)) || x < f->dmin || x > f->dmax)
            return fields_bad(err, errlen, where, f->name, "expected a number %g..%g", f->dmin, f->dmax);
        *AT(m, f->off, double) = x;
        return 0;
    }
    case F_BOOL:
        if (!json_object_is_type(v, json_type_boolean))
            return fields_bad(err, errlen, where, f->name, "expected true or false");
        *AT(m, f->off, int) = json_object_get_boolean(v) ? 1 : 0;
        return 0;
    case F_ENUM: {
        if (json_object_is_type(v, json_type_string)) {
            const char *s = json_object_get_string(v);
            size_t len = (size_t)json_object_get_string_len(v);
            for (int i = 0; i < f->nnames; i++)
                if (strlen(f->names[i]) == len && memcmp(f->names[i], s, len) == 0) {
                    *AT(m, f->off, int) = i;
                    return 0;
                }
        }
        char list[160] = "";
        for (int i = 0; i < f->nnames; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof(list) - l, "%s%s", i ? "|" : "", f->names[i]);
        }
        return fields_bad(err, errlen, where, f->name, "expected one of %s", list);
    }
    case F_FLAT: {
        int rc = check_flat(v, where, f->name, err, errlen);
        if (rc < 0)
            return rc;
        size_t len;
        const char *s = json_object_to_json_string_length(
            v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!s)
            return -ENOMEM;
        if (len + 1 > f->cap)
            return fields_bad(err, errlen, where, f->name, "longer than %zu bytes", f->cap - 1);
        memcpy(AT(m, f->off, char), s, len + 1);
        return 0;
    }
    case F_TEXT: {
        if (!json_object_is_type(v, json_type_object))
            return fields_bad(err, errlen, where, f->name, "expected an object");
        size_t len;
        const char *s = json_object_to_json_string_length(
            v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!s)
            return -ENOMEM;
        if (len > f->cap)
            return fields_bad(err, errlen, where, f->name, "longer than %zu bytes", f->cap);
        char *dup = strdup(s);
        if (!dup)
            return -ENOMEM;
        *AT(m, f->off, char *) = dup;
        return 0;
    }
    case F_SUB:
        if (!json_object_is_type(v, json_type_object))
            return fields_bad(err, errlen, where, f->name, "expected an object");
        snprintf(sub_where, sizeof(sub_where), "%s.%s", where, f->name);
        if (f->aux != NOAUX)
            *AT(m, f->aux, int) = 1;
        return parse_obj(v, f->sub, AT(m, f->off, char), sub_where, err, errlen);
    case F_ARR: {
        int rc = array_len(f, v, where, err, errlen);
        if (rc < 0)
            return rc;
        size_t n = (size_t)rc;
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            snprintf(sub_where, sizeof(sub_where), "%s.%s[%zu]", where, f->name, i);
            if (!json_object_is_type(e, json_type_object)) {
                snprintf(err, errlen, "%s: expected an object", sub_where);
                return -EINVAL;
            }
            rc = parse_obj(e, f->sub, AT(m, f->off + i * f->esize, char), sub_where, err, errlen);
            if (rc < 0)
                return rc;
        }
        *AT(m, f->aux, size_t) = n;
        return 0;
    }
    case F_SARR: {
        int rc = array_len(f, v, where, err, errlen);
        if (rc < 0)
            return rc;
        size_t n = (size_t)rc;
        /* each element is checked like a string field of esize bytes */
        struct field ef = {.name = sub_where, .type = F_STR, .cap = f->esize, .min = f->min};
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            snprintf(sub_where, sizeof(sub_where), "%s[%zu]", f->name, i);
            if (!json_object_is_type(e, json_type_string))
                return fields_bad(err, errlen, where, sub_where, "expected a string");
            const char *s = json_object_get_string(e);
            size_t len = (size_t)json_object_get_string_len(e);
            if (memchr(s, '\0', len))
                return fields_bad(err, errlen, where, sub_where, "contains a NUL byte");
            rc = check_text(&ef, s, len, where, err, errlen);
            if (rc < 0)
                return rc;
            char *dst = AT(m, f->off + i * f->esize, char);
            memcpy(dst, s, len);
            dst[len] = '\0';
        }
        *AT(m, f->aux, size_t) = n;
        return 0;
    }
    case F_DARR: {
        int rc = array_len(f, v, where, err, errlen);
        if (rc < 0)
            return rc;
        size_t n = (size_t)rc;
        /* each element is checked like a number field of its own */
        struct field ef = {.name = sub_where, .type = F_DBL, .dmin = f->dmin, .dmax = f->dmax};
        for (size_t i = 0; i < n; i++) {
            snprintf(sub_where, sizeof(sub_where), "%s[%zu]", f->name, i);
            ef.off = f->off + i * sizeof(double);
            if ((rc = parse_field(&ef, json_object_array_get_idx(v, i), m, where, err, errlen)) < 0)
                return rc;
        }
        *AT(m, f->aux, size_t) = n;
        return 0;
    }
    case F_CAPS:
        break;
    }
    return 0;
}

static int parse_obj(struct json_object *o, const struct desc *d, void *m, const char *where,
                     char *err, size_t errlen)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct field *f = &d->f[i];
        struct json_object *v;
        int rc;

        if (f->type == F_CAPS) {
            char e2[256];
            struct dcv_device_caps *caps = AT(m, f->off, struct dcv_device_caps);
            if (dcv_caps_from_json(o, caps, e2, sizeof(e2)) < 0) {
                snprintf(err, errlen, "%s.%s", where, e2);
                return -EINVAL;
            }
            continue;
        }
        if (!json_object_object_get_ex(o, f->name, &v)) {
            if (f->req)
                return fields_bad(err, errlen, where, f->name, "required");
            set_default(f, m);
            continue;
        }
        if ((rc = parse_field(f, v, m, where, err, errlen)) < 0)
            return rc;
    }
    return d->check ? d->check(m, where, err, errlen) : 0;
}

static int add(struct json_object *o, const char *key, struct json_object *v)
{
    if (!v)
        return -ENOMEM;
    if (json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

static int is_default(const struct field *f, const void *m)
{
    switch (f->type) {
    case F_STR: case F_TOKEN: case F_KEY: case F_JOBID: case F_SHA: case F_FLAT:
        return CAT(m, f->off, char)[0] == '\0';
    case F_INT:
        return *CAT(m, f->off, int64_t) == f->def;
    case F_DBL:
        return *CAT(m, f->off, double) == f->ddef;
    case F_BOOL: case F_ENUM:
        return *CAT(m, f->off, int) == (int)f->def;
    case F_ARR: case F_SARR: case F_DARR:
        return *CAT(m, f->aux, size_t) == 0;
    case F_SUB:
        return f->aux != NOAUX && !*CAT(m, f->aux, int);
    case F_TEXT:
        return *CAT(m, f->off, char *) == NULL;
    case F_CAPS:
        return 0;
    }
    return 0;
}

static int emit_field(const struct field *f, const void *m, struct json_object *o,
                      const char *where, char *err, size_t errlen)
{
    char sub_where[192];

    switch (f->type) {
    case F_STR: case F_TOKEN: case F_KEY: case F_JOBID: case F_SHA: {
        const char *s = CAT(m, f->off, char);
        size_t len = strnlen(s, text_cap(f));
        if (len == text_cap(f))
            return fields_bad(err, errlen, where, f->name, "not NUL-terminated");
        return add(o, f->name, json_object_new_string_len(s, (int)len));
    }
    case F_INT:
        return add(o, f->name, json_object_new_int64(*CAT(m, f->off, int64_t)));
    case F_DBL: {
        double x = *CAT(m, f->off, double);
        if (!isfinite(x))
            return fields_bad(err, errlen, where, f->name, "not finite");
        return add(o, f->name, json_object_new_double(x));
    }
    case F_BOOL:
        return add(o, f->name, json_object_new_boolean(*CAT(m, f->off, int) != 0));
    case F_ENUM: {
        int x = *CAT(m, f->off, int);
        if (x < 0 || x >= f->nnames)
            return fields_bad(err, errlen, where, f->name, "value %d out of range", x);
        return add(o, f->name, json_object_new_string(f->names[x]));
    }
    case F_FLAT: case F_TEXT: {
        const char *s = f->type == F_FLAT ? CAT(m, f->off, char) : *CAT(m, f->off, char *const);
        size_t cap = f->type == F_FLAT ? f->cap : f->cap + 1;
        size_t len = strnlen(s, cap);
        if (len == cap)
            return fields_bad(err, errlen, where, f->name, "too long");
        struct json_tokener *tok = json_tokener_new_ex(DCV_PROTO_MAX_DEPTH);
        if (!tok)
            return -ENOMEM;
        struct json_object *v = json_tokener_parse_ex(tok, s, (int)len);
        int ok = v && json_tokener_get_error(tok) == json_tokener_success &&
                 json_object_is_type(v, json_type_object);
        json_tokener_free(tok);
        if (!ok) {
            json_object_put(v);
            return fields_bad(err, errlen, where, f->name, "is not a JSON object");
        }
        return add(o, f->name, v);
    }
    case F_SUB: {
        struct json_object *v = json_object_new_object();
        if (!v)
            return -ENOMEM;
        snprintf(sub_where, sizeof(sub_where), "%s.%s", where, f->name);
        int rc = emit_obj(CAT(m, f->off, char), f->sub, v, sub_where, err, errlen);
        if (rc < 0) {
            json_object_put(v);
            return rc;
        }
        return add(o, f->name, v);
    }
    case F_ARR: {
        size_t n = *CAT(m, f->aux, size_t);
        if (n > f->cap)
            return fields_bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
        struct json_object *a = json_object_new_array();
        if (!a)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_new_object();
            int rc = -ENOMEM;
            snprintf(sub_where, sizeof(sub_where), "%s.%s[%zu]", where, f->name, i);
            if (!e || (rc = emit_obj(CAT(m, f->off + i * f->esize, char), f->sub, e, sub_where,
                                     err, errlen)) < 0 ||
                (rc = json_object_array_add(a, e) < 0 ? -ENOMEM : 0) < 0) {
                json_object_put(e);
                json_object_put(a);
                return rc;
            }
        }
        return add(o, f->name, a);
    }
    case F_SARR: {
        size_t n = *CAT(m, f->aux, size_t);
        if (n > f->cap)
            return fields_bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
        struct json_object *a = json_object_new_array();
        if (!a)
            return -ENOMEM;
        struct field ef = {.name = sub_where, .type = F_STR, .cap = f->esize, .min = f->min};
        for (size_t i = 0; i < n; i++) {
            const char *s = CAT(m, f->off + i * f->esize, char);
            size_t len = strnlen(s, f->esize);
            int rc;
            snprintf(sub_where, sizeof(sub_where), "%s[%zu]", f->name, i);
            if (len == f->esize) {
                json_object_put(a);
                return fields_bad(err, errlen, where, sub_where, "not NUL-terminated");
            }
            if ((rc = check_text(&ef, s, len, where, err, errlen)) < 0) {
                json_object_put(a);
                return rc;
            }
            struct json_object *e = json_object_new_string_len(s, (int)len);
            if (!e || json_object_array_add(a, e) < 0) {
                json_object_put(e);
                json_object_put(a);
                return -ENOMEM;
            }
        }
        return add(o, f->name, a);
    }
    case F_DARR: {
        size_t n = *CAT(m, f->aux, size_t);
        if (n > f->cap)
            return fields_bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
        struct json_object *a = json_object_new_array();
        if (!a)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            double x = CAT(m, f->off, double)[i];
            struct json_object *e;
            if (!isfinite(x) || x < f->dmin || x > f->dmax) {
                json_object_put(a);
                snprintf(sub_where, sizeof(sub_where), "%s[%zu]", f->name, i);
                return fields_bad(err, errlen, where, sub_where, "%g outside %g..%g", x, f->dmin,
                           f->dmax);
            }
            if (!(e = json_object_new_double(x)) || json_object_array_add(a, e) < 0) {
                json_object_put(e);
                json_object_put(a);
                return -ENOMEM;
            }
        }
        return add(o, f->name, a);
    }
    case F_CAPS: {
        struct json_object *c = NULL;
        char e2[256];
        int rc = dcv_caps_to_json(CAT(m, f->off, struct dcv_device_caps), &c, e2, sizeof(e2));
        if (rc < 0) {
            snprintf(err, errlen, "%s: %s", where, e2);
            return rc;
        }
        json_object_object_foreach(c, k, v)
        {
            if ((rc = add(o, k, json_object_get(v))) < 0)
                break;
        }
        json_object_put(c);
        return rc;
    }
    }
    return 0;
}

static int emit_obj(const void *m, const struct desc *d, struct json_object *o,
                    const char *where, char *err, size_t errlen)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct field *f = &d->f[i];
        int rc;
        if (!f->req && is_default(f, m))
            continue;
        if ((rc = emit_field(f, m, o, where, err, errlen)) < 0)
            return rc;
    }
    return 0;
}

static void free_texts(const struct desc *d, void *m)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->f[i].type == F_TEXT) {
            free(*AT(m, d->f[i].off, char *));
            *AT(m, d->f[i].off, char *) = NULL;
        }
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex4(const char *p, const char *end, unsigned *v)
{
    *v = 0;
    if (end - p < 4)
        return 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9')
            *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    return 1;
}

/*
 * What json-c lets through and RFC 8259 / section 2.1 do not, anywhere in
 * the body, unknown keys included (a peer must not be able to tell a
 * strict reader from a lax one): a \u escape of a surrogate that is not a
 * high one followed by a low one (json-c turns it into U+FFFD, so only the
 * text shows it). Control characters, NaN and Infinity are caught on the
 * parsed tree (tree_check), after the known fields had their say.
 */
static const char *raw_check(const char *b, size_t len)
{
    const char *p = b, *end = b + len;
    int in_str = 0;
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (!in_str) {
            in_str = c == '"';
            continue;
        }
        if (c == '"') {
            in_str = 0;
        } else if (c == '\\' && p + 1 < end) {
            unsigned v, w;
            if (p[1] != 'u') {
                p++;
                continue;
            }
            if (!hex4(p + 2, end, &v))
                return NULL; /* the tokener reports it */
            p += 5;
            if (v >= 0xDC00 && v <= 0xDFFF)
                return "a string holds a lone low surrogate escape";
            if (v >= 0xD800 && v <= 0xDBFF) {
                if (end - p < 7 || p[1] != '\\' || p[2] != 'u' || !hex4(p + 3, end, &w) ||
                    w < 0xDC00 || w > 0xDFFF)
                    return "a string holds a lone high surrogate escape";
                p += 6;
            }
        }
    }
    return NULL;
}

/* Every number finite; with strings != 0, every string (keys too) without
 * control characters. */
static const char *tree_check(struct json_object *o, int strings)
{
    const char *why = NULL;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return isfinite(json_object_get_double(o)) ? NULL : "a number is not finite (NaN, Infinity)";
    case json_type_string: {
        const char *s = json_object_get_string(o);
        if (!strings)
            return NULL;
        for (size_t i = 0, n = (size_t)json_object_get_string_len(o); i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return "a string holds a control character";
        return NULL;
    }
    case json_type_array:
        for (size_t i = 0, n = json_object_array_length(o); i < n && !why; i++)
            why = tree_check(json_object_array_get_idx(o, i), strings);
        return why;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            for (const char *q = k; strings && *q && !why; q++)
                if ((unsigned char)*q < 0x20 || *q == 0x7f)
                    why = "a key holds a control character";
            if (!why)
                why = tree_check(v, strings);
            if (why)
                break;
        }
        return why;
    }
    default:
        return NULL;
    }
}

int fields_decode(const struct desc *d, const void *body, size_t len, void *out, char *err,
                  size_t errlen)
{
    size_t max = d->max_body ? d->max_body : DCV_PROTO_MAX_BODY;
    struct json_tokener *tok;
    struct json_object *o;
    int rc;

    memset(out, 0, d->size);
    if (!body || len == 0) {
        snprintf(err, errlen, "%s: empty body", d->name);
        return -EINVAL;
    }
    if (len > max) {
        snprintf(err, errlen, "%s: body of %zu bytes exceeds %zu", d->name, len, max);
        return -EINVAL;
    }
    if (memchr(body, '\0', len)) {
        snprintf(err, errlen, "%s: body contains a NUL byte", d->name);
        return -EINVAL;
    }
    if (!utf8_valid(body, len)) {
        snprintf(err, errlen, "%s: invalid JSON: not valid UTF-8", d->name);
        return -EINVAL;
    }
    /* Only an object can be a body; checking the first byte also spares the
     * tokener a bare number, which it cannot tell complete at the end. */
    size_t lead = 0;
    while (lead < len && is_space(((const char *)body)[lead]))
        lead++;
    if (lead == len || ((const char *)body)[lead] != '{') {
        snprintf(err, errlen, "%s: body is not a JSON object", d->name);
        return -EINVAL;
    }
    {
        const char *why = raw_check(body, len);
        if (why) {
            snprintf(err, errlen, "%s: invalid JSON: %s", d->name, why);
            return -EINVAL;
        }
    }
    if (!(tok = json_tokener_new_ex(DCV_PROTO_MAX_DEPTH)))
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, body, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success || !o) {
        enum json_tokener_error je = json_tokener_get_error(tok);
        snprintf(err, errlen, "%s: invalid JSON: %s", d->name,
                 je == json_tokener_continue ? "truncated" : json_tokener_error_desc(je));
        json_object_put(o);
        json_tokener_free(tok);
        return -EINVAL;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
        if (!is_space(((const char *)body)[i])) {
            snprintf(err, errlen, "%s: trailing data after the JSON object", d->name);
            json_object_put(o);
            json_tokener_free(tok);
            return -EINVAL;
        }
    json_tokener_free(tok);
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "%s: body is not a JSON object", d->name);
        json_object_put(o);
        return -EINVAL;
    }
    rc = parse_obj(o, d, out, d->name, err, errlen);
    if (rc == 0) {
        /* The rest of the body, unknown keys included, after the known
         * fields (their errors name them). Replies (PARTIAL/FINAL: the
         * larger max_body) carry stored texts, an FFmpeg error or a note,
         * that may hold a line break, escaped; the fields a client reads
         * are checked where it reads them. */
        const char *why = tree_check(o, d->max_body == 0);
        if (why) {
            snprintf(err, errlen, "%s: invalid JSON: %s", d->name, why);
            rc = -EINVAL;
        }
    }
    json_object_put(o);
    if (rc < 0)
        free_texts(d, out);
    return rc;
}

int fields_encode(const struct desc *d, const void *m, char **out, size_t *outlen, char *err,
                  size_t errlen)
{
    struct json_object *o = json_object_new_object();
    const char *s;
    size_t len;
    void *check;
    int rc;

    *out = NULL;
    if (!o)
        return -ENOMEM;
    if ((rc = emit_obj(m, d, o, d->name, err, errlen)) < 0) {
        json_object_put(o);
        return rc;
    }
    s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                          &len);
    if (!s || !(*out = strdup(s))) {
        json_object_put(o);
        return -ENOMEM;
    }
    json_object_put(o);
    /* Refuse to produce what a peer would refuse. */
    if (!(check = malloc(d->size))) {
        rc = -ENOMEM;
    } else {
        rc = fields_decode(d, *out, len, check, err, errlen);
        if (rc == 0)
            free_texts(d, check);
        free(check);
    }
    if (rc < 0) {
        free(*out);
        *out = NULL;
        return rc;
    }
    if (outlen)
        *outlen = len;
    return 0;
}
