/*
 * Wire protocol codec (see proto.h, docs/protocol.md). Messages are
 * described by field tables and one engine parses and emits them all, so
 * every message gets the same hostile-input rules and the same error
 * wording; per-message hooks add the cross-field rules.
 */
#include "proto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "caps_json.h"
#include "coordinator/jobstate.h"
#include "xfer/chunk.h"

/* ---- frames -------------------------------------------------------------- */

static const char *const sigs[] = {DCV_PROTO_SIG_CONTROL, DCV_PROTO_SIG_DATA, DCV_PROTO_SIG_ADMIN};

static const char *const control_names[16] = {
    [0x01] = "HELLO",    [0x02] = "WELCOME", [0x03] = "HEARTBEAT", [0x04] = "JOB",
    [0x05] = "ACCEPT",   [0x06] = "REJECT",  [0x07] = "PROGRESS",  [0x08] = "DONE",
    [0x09] = "FAIL",     [0x0A] = "CANCEL",  [0x0B] = "DRAIN",     [0x0F] = "DISCONNECT",
};
static const char *const data_names[16] = {
    [0x0] = "OFFER", [0x1] = "CREDIT", [0x2] = "CHUNK", [0x3] = "COMMIT", [0x4] = "FETCH",
    [0xF] = "ABORT",
};
static const char *const admin_names[3] = {"REQUEST", "PARTIAL", "FINAL"};

const char *dcv_proto_cmd_name(enum dcv_proto_plane plane, int cmd)
{
    switch (plane) {
    case DCV_PLANE_CONTROL:
        return cmd >= 0 && cmd < 16 ? control_names[cmd] : NULL;
    case DCV_PLANE_DATA:
        return cmd >= 0x20 && cmd < 0x30 ? data_names[cmd - 0x20] : NULL;
    case DCV_PLANE_ADMIN:
        return cmd >= 0x40 && cmd < 0x43 ? admin_names[cmd - 0x40] : NULL;
    }
    return NULL;
}

static int plane_ok(enum dcv_proto_plane plane)
{
    return plane == DCV_PLANE_CONTROL || plane == DCV_PLANE_DATA || plane == DCV_PLANE_ADMIN;
}

int dcv_proto_frames(enum dcv_proto_plane plane, int cmd, const void *body, size_t body_len,
                     const void *payload, size_t payload_len, struct dcv_tx_frame out[4],
                     unsigned *n, char *err, size_t errlen)
{
    const char *name;

    if (!plane_ok(plane) || !(name = dcv_proto_cmd_name(plane, cmd))) {
        snprintf(err, errlen, "command 0x%02x does not belong to this plane", (unsigned)cmd & 0xffu);
        return -EINVAL;
    }
    if (!body || body_len == 0) {
        snprintf(err, errlen, "%s: body missing", name);
        return -EINVAL;
    }
    if (cmd == DCV_CMD_CHUNK && payload_len > 0 && !payload) {
        snprintf(err, errlen, "CHUNK: payload missing");
        return -EINVAL;
    }
    /* The command byte must outlive this call: point into a static table. */
    static const uint8_t codes[256] = {
#define C(x) [x] = x
        C(0x01), C(0x02), C(0x03), C(0x04), C(0x05), C(0x06), C(0x07), C(0x08), C(0x09),
        C(0x0A), C(0x0B), C(0x0F), C(0x20), C(0x21), C(0x22), C(0x23), C(0x24), C(0x2F),
        C(0x40), C(0x41), C(0x42),
#undef C
    };
    out[0].data = sigs[plane];
    out[0].len = DCV_PROTO_SIG_LEN;
    out[1].data = &codes[cmd];
    out[1].len = 1;
    out[2].data = body;
    out[2].len = body_len;
    *n = 3;
    if (cmd == DCV_CMD_CHUNK) {
        out[3].data = payload_len ? payload : "";
        out[3].len = payload_len;
        *n = 4;
    }
    return 0;
}

int dcv_proto_parse(enum dcv_proto_plane plane, const struct dcv_tx_frame *frames, unsigned n,
                    struct dcv_proto_msg *out, char *err, size_t errlen)
{
    const char *name;
    int cmd;
    unsigned want;
    size_t max;

    if (!plane_ok(plane)) {
        snprintf(err, errlen, "unknown plane %d", (int)plane);
        return -EINVAL;
    }
    if (n < 1 || frames[0].len != DCV_PROTO_SIG_LEN ||
        memcmp(frames[0].data, sigs[plane], DCV_PROTO_SIG_LEN) != 0) {
        snprintf(err, errlen, "bad signature (expected %s)", sigs[plane]);
        return -EPROTO;
    }
    if (n < 2 || frames[1].len != 1) {
        snprintf(err, errlen, "command frame missing or not 1 byte");
        return -EPROTO;
    }
    cmd = ((const uint8_t *)frames[1].data)[0];
    if (!(name = dcv_proto_cmd_name(plane, cmd))) {
        snprintf(err, errlen, "unknown command 0x%02x on %s", (unsigned)cmd, sigs[plane]);
        return -EPROTO;
    }
    want = cmd == DCV_CMD_CHUNK ? 4 : 3;
    if (n != want) {
        snprintf(err, errlen, "%s: %u frames, expected %u", name, n, want);
        return -EPROTO;
    }
    if (frames[2].len == 0) {
        snprintf(err, errlen, "%s: body missing", name);
        return -EPROTO;
    }
    if (cmd == DCV_CMD_CHUNK && frames[2].len != DCV_XFER_CHUNK_HDR_LEN) {
        snprintf(err, errlen, "CHUNK: header is %zu bytes, expected %d", frames[2].len,
                 DCV_XFER_CHUNK_HDR_LEN);
        return -EPROTO;
    }
    if (cmd == DCV_CMD_CREDIT && frames[2].len != DCV_XFER_CREDIT_LEN) {
        snprintf(err, errlen, "CREDIT: body is %zu bytes, expected %d", frames[2].len,
                 DCV_XFER_CREDIT_LEN);
        return -EPROTO;
    }
    max = (cmd == DCV_CMD_PARTIAL || cmd == DCV_CMD_FINAL) ? DCV_PROTO_MAX_REPLY_BODY
                                                          : DCV_PROTO_MAX_BODY;
    if (cmd != DCV_CMD_CHUNK && cmd != DCV_CMD_CREDIT && frames[2].len > max) {
        snprintf(err, errlen, "%s: body of %zu bytes exceeds %zu", name, frames[2].len, max);
        return -EPROTO;
    }
    out->plane = plane;
    out->cmd = cmd;
    out->body = frames[2].data;
    out->body_len = frames[2].len;
    out->payload = n == 4 ? frames[3].data : NULL;
    out->payload_len = n == 4 ? frames[3].len : 0;
    return 0;
}

/* ---- names --------------------------------------------------------------- */

static const char *const code_names[] = {
    "busy", "nodev", "unsupported", "input", "encode", "io", "nospace",
    "transfer", "verify", "timeout", "cancelled", "stale", "protocol", "internal",
};
_Static_assert(sizeof(code_names) / sizeof(code_names[0]) == DCV_CODE_COUNT, "code names");

const char *dcv_proto_code_name(int code)
{
    return code >= 0 && code < DCV_CODE_COUNT ? code_names[code] : NULL;
}

static const char *const verb_names[] = {"submit", "status", "jobs", "cancel", "retry",
                                         "get", "workers", "worker", "drain", "undrain",
                                         "info"};
_Static_assert(sizeof(verb_names) / sizeof(verb_names[0]) == DCV_VERB_COUNT, "verb names");

const char *dcv_proto_verb_name(int verb)
{
    return verb >= 0 && verb < DCV_VERB_COUNT ? verb_names[verb] : NULL;
}

static const char *const state_names[] = {"queued", "assigned", "running", "verifying",
                                          "done", "failed", "cancelled"};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == DCV_JOB_STATE_COUNT,
               "job state names follow enum dcv_job_state");

static const char *const kind_names[] = {"xfer", "path", "url"};
static const char *const mode_names[] = {"copy", "stream"};
static const char *const phase_names[] = {"fetch", "encode", "upload", "verify"};
static const char *const purpose_names[] = {"upload", "input", "output", "download"};
static const char *const submit_kind_names[] = {"upload", "path", "url"};
static const char *const prio_names[] = {"low", "normal", "high"};
static const char *const get_what_names[] = {"output", "input"};
static const char *const outcome_names[] = {"encoded", "skipped", "kept-original"};
_Static_assert(sizeof(outcome_names) / sizeof(outcome_names[0]) == DCV_OUTCOME_COUNT,
               "outcome names follow enum dcv_proto_outcome");

const char *dcv_proto_outcome_name(int outcome)
{
    return outcome >= 0 && outcome < DCV_OUTCOME_COUNT ? outcome_names[outcome] : NULL;
}

/* ---- the field-table engine ---------------------------------------------- */

enum ftype {
    F_STR,   /* printable UTF-8, no control characters */
    F_TOKEN, /* [A-Za-z0-9._:-] */
    F_KEY,   /* printable ASCII without space (idempotency keys) */
    F_JOBID, /* 32 lower-case hex */
    F_SHA,   /* 64 lower-case hex */
    F_INT,
    F_DBL,
    F_BOOL,
    F_ENUM,
    F_FLAT,  /* flat JSON object, serialised into char[cap] */
    F_SUB,   /* nested object; off 0 and flat = 1: its fields live in the parent struct */
    F_ARR,   /* array of objects */
    F_SARR,  /* array of F_STR strings into char[cap][esize] (count at aux) */
    F_CAPS,  /* the enclosing object is also a dcv_device_caps (caps_json) */
    F_TEXT,  /* any JSON object, serialised into a malloc'd char * */
    F_DARR,  /* array of numbers dmin..dmax into double[cap] (count at aux) */
};

struct desc;

struct field {
    const char *name;
    enum ftype type;
    int req;
    size_t off;
    size_t cap;          /* strings: buffer size; arrays: max elements; F_TEXT: max bytes */
    int64_t min, max;    /* ints, string length minimum */
    int64_t def;         /* absent value of ints, enums, bools */
    double dmin, dmax, ddef;
    const char *const *names;
    int nnames;
    const struct desc *sub;
    size_t aux;          /* F_ARR: offset of the size_t count; F_SUB optional: int presence flag */
    size_t esize;        /* F_ARR: element size */
};

struct desc {
    const char *name;
    const struct field *f;
    size_t n;
    size_t size;
    int (*check)(const void *m, const char *where, char *err, size_t errlen);
    size_t max_body;
};

#define NOAUX ((size_t)-1)

#define FSTR(T, k, m, r, mn) {.name = k, .type = F_STR, .req = r, .off = offsetof(T, m), .cap = sizeof(((T *)0)->m), .min = mn}
#define FTOK(T, k, m, r) {.name = k, .type = F_TOKEN, .req = r, .off = offsetof(T, m), .cap = sizeof(((T *)0)->m), .min = 1}
#define FKEY(T, k, m, r) {.name = k, .type = F_KEY, .req = r, .off = offsetof(T, m), .cap = sizeof(((T *)0)->m), .min = 1}
#define FJOBID(T, k, m, r) {.name = k, .type = F_JOBID, .req = r, .off = offsetof(T, m)}
#define FSHA(T, k, m, r) {.name = k, .type = F_SHA, .req = r, .off = offsetof(T, m)}
#define FINT(T, k, m, r, lo, hi, d) {.name = k, .type = F_INT, .req = r, .off = offsetof(T, m), .min = lo, .max = hi, .def = d}
#define FDBL(T, k, m, r, lo, hi, d) {.name = k, .type = F_DBL, .req = r, .off = offsetof(T, m), .dmin = lo, .dmax = hi, .ddef = d}
#define FBOOL(T, k, m, r, d) {.name = k, .type = F_BOOL, .req = r, .off = offsetof(T, m), .def = d}
#define FENUM(T, k, m, r, nm, d) {.name = k, .type = F_ENUM, .req = r, .off = offsetof(T, m), .names = nm, .nnames = (int)(sizeof(nm) / sizeof(nm[0])), .def = d}
#define FFLAT(T, k, m, r) {.name = k, .type = F_FLAT, .req = r, .off = offsetof(T, m), .cap = sizeof(((T *)0)->m)}
#define FSUB(T, k, m, r, d, has) {.name = k, .type = F_SUB, .req = r, .off = offsetof(T, m), .sub = d, .aux = has}
#define FSARR(T, k, m, cnt, r) {.name = k, .type = F_SARR, .req = r, .off = offsetof(T, m), .cap = sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]), .esize = sizeof(((T *)0)->m[0]), .aux = offsetof(T, cnt), .min = 1}
#define FDARR(T, k, m, cnt, r, lo, hi) {.name = k, .type = F_DARR, .req = r, .off = offsetof(T, m), .cap = sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]), .esize = sizeof(double), .aux = offsetof(T, cnt), .dmin = lo, .dmax = hi}
#define FARR(T, k, m, cnt, r, d) {.name = k, .type = F_ARR, .req = r, .off = offsetof(T, m), .cap = sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]), .esize = sizeof(((T *)0)->m[0]), .aux = offsetof(T, cnt), .sub = d}

#define FENCE(T, r)                                                       \
    FJOBID(T, "job_id", fence.job_id, r),                                 \
    FINT(T, "attempt", fence.attempt, r, 1, DCV_PROTO_MAX_ATTEMPT, 0),    \
    FTOK(T, "session", fence.session, r)

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static int bad(char *err, size_t errlen, const char *where, const char *key, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
static int bad(char *err, size_t errlen, const char *where, const char *key, const char *fmt, ...)
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
            return bad(err, errlen, where, f->name, "expected 32 lower-case hex digits");
        return 0;
    case F_SHA:
        if (len != 64 || !is_lower_hex(s, len))
            return bad(err, errlen, where, f->name, "expected 64 lower-case hex digits");
        return 0;
    default:
        break;
    }
    if (len + 1 > f->cap || len < (size_t)f->min)
        return bad(err, errlen, where, f->name, "expected a string of %lld..%zu bytes",
                   (long long)f->min, f->cap - 1);
    if (!utf8_valid((const unsigned char *)s, len))
        return bad(err, errlen, where, f->name, "is not valid UTF-8");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (f->type == F_TOKEN && !is_token_char(c))
            return bad(err, errlen, where, f->name,
                       "may only contain letters, digits, '.', '_', '-', ':'");
        if (f->type == F_KEY && (c <= 0x20 || c >= 0x7f))
            return bad(err, errlen, where, f->name,
                       "may only contain printable ASCII without spaces");
        if (c < 0x20 || c == 0x7f)
            return bad(err, errlen, where, f->name, "contains a control character");
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
        return bad(err, errlen, where, key, "expected an object");
    if (json_object_object_length(v) > 32)
        return bad(err, errlen, where, key, "more than 32 keys");
    json_object_object_foreach(v, k, val)
    {
        size_t klen = strlen(k);
        if (klen == 0 || klen > 31)
            return bad(err, errlen, where, key, "option names must be 1..31 bytes");
        for (size_t i = 0; i < klen; i++)
            if (!is_token_char((unsigned char)k[i]))
                return bad(err, errlen, where, key, "option name '%.31s' has a bad character", k);
        switch (json_object_get_type(val)) {
        case json_type_string: {
            const char *s = json_object_get_string(val);
            size_t len = (size_t)json_object_get_string_len(val);
            if (len > 255)
                return bad(err, errlen, where, key, "value of '%s' longer than 255 bytes", k);
            for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                    return bad(err, errlen, where, key,
                               "value of '%s' contains a control character", k);
            break;
        }
        case json_type_int:
        case json_type_boolean:
            break;
        case json_type_double:
            if (!isfinite(json_object_get_double(val)))
                return bad(err, errlen, where, key, "value of '%s' is not finite", k);
            break;
        default:
            return bad(err, errlen, where, key, "value of '%s' must be a string, number or boolean",
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
        return bad(err, errlen, where, f->name, "expected an array");
    size_t n = json_object_array_length(v);
    if (n > f->cap)
        return bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
    return (int)n;
}

static int parse_field(const struct field *f, struct json_object *v, void *m, const char *where,
                       char *err, size_t errlen)
{
    char sub_where[192];

    switch (f->type) {
    case F_STR: case F_TOKEN: case F_KEY: case F_JOBID: case F_SHA: {
        if (!json_object_is_type(v, json_type_string))
            return bad(err, errlen, where, f->name, "expected a string");
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);
        if (memchr(s, '\0', len))
            return bad(err, errlen, where, f->name, "contains a NUL byte");
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
            return bad(err, errlen, where, f->name, "expected an integer %lld..%lld",
                       (long long)f->min, (long long)f->max);
        *AT(m, f->off, int64_t) = x;
        return 0;
    }
    case F_DBL: {
        double x;
        if ((!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) ||
            !isfinite(x = json_object_get_double(v)) || x < f->dmin || x > f->dmax)
            return bad(err, errlen, where, f->name, "expected a number %g..%g", f->dmin, f->dmax);
        *AT(m, f->off, double) = x;
        return 0;
    }
    case F_BOOL:
        if (!json_object_is_type(v, json_type_boolean))
            return bad(err, errlen, where, f->name, "expected true or false");
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
        return bad(err, errlen, where, f->name, "expected one of %s", list);
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
            return bad(err, errlen, where, f->name, "longer than %zu bytes", f->cap - 1);
        memcpy(AT(m, f->off, char), s, len + 1);
        return 0;
    }
    case F_TEXT: {
        if (!json_object_is_type(v, json_type_object))
            return bad(err, errlen, where, f->name, "expected an object");
        size_t len;
        const char *s = json_object_to_json_string_length(
            v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!s)
            return -ENOMEM;
        if (len > f->cap)
            return bad(err, errlen, where, f->name, "longer than %zu bytes", f->cap);
        char *dup = strdup(s);
        if (!dup)
            return -ENOMEM;
        *AT(m, f->off, char *) = dup;
        return 0;
    }
    case F_SUB:
        if (!json_object_is_type(v, json_type_object))
            return bad(err, errlen, where, f->name, "expected an object");
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
                return bad(err, errlen, where, sub_where, "expected a string");
            const char *s = json_object_get_string(e);
            size_t len = (size_t)json_object_get_string_len(e);
            if (memchr(s, '\0', len))
                return bad(err, errlen, where, sub_where, "contains a NUL byte");
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
                return bad(err, errlen, where, f->name, "required");
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
            return bad(err, errlen, where, f->name, "not NUL-terminated");
        return add(o, f->name, json_object_new_string_len(s, (int)len));
    }
    case F_INT:
        return add(o, f->name, json_object_new_int64(*CAT(m, f->off, int64_t)));
    case F_DBL: {
        double x = *CAT(m, f->off, double);
        if (!isfinite(x))
            return bad(err, errlen, where, f->name, "not finite");
        return add(o, f->name, json_object_new_double(x));
    }
    case F_BOOL:
        return add(o, f->name, json_object_new_boolean(*CAT(m, f->off, int) != 0));
    case F_ENUM: {
        int x = *CAT(m, f->off, int);
        if (x < 0 || x >= f->nnames)
            return bad(err, errlen, where, f->name, "value %d out of range", x);
        return add(o, f->name, json_object_new_string(f->names[x]));
    }
    case F_FLAT: case F_TEXT: {
        const char *s = f->type == F_FLAT ? CAT(m, f->off, char) : *CAT(m, f->off, char *const);
        size_t cap = f->type == F_FLAT ? f->cap : f->cap + 1;
        size_t len = strnlen(s, cap);
        if (len == cap)
            return bad(err, errlen, where, f->name, "too long");
        struct json_tokener *tok = json_tokener_new_ex(DCV_PROTO_MAX_DEPTH);
        if (!tok)
            return -ENOMEM;
        struct json_object *v = json_tokener_parse_ex(tok, s, (int)len);
        int ok = v && json_tokener_get_error(tok) == json_tokener_success &&
                 json_object_is_type(v, json_type_object);
        json_tokener_free(tok);
        if (!ok) {
            json_object_put(v);
            return bad(err, errlen, where, f->name, "is not a JSON object");
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
            return bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
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
            return bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
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
                return bad(err, errlen, where, sub_where, "not NUL-terminated");
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
            return bad(err, errlen, where, f->name, "more than %zu elements", f->cap);
        struct json_object *a = json_object_new_array();
        if (!a)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            double x = CAT(m, f->off, double)[i];
            struct json_object *e;
            if (!isfinite(x) || x < f->dmin || x > f->dmax) {
                json_object_put(a);
                snprintf(sub_where, sizeof(sub_where), "%s[%zu]", f->name, i);
                return bad(err, errlen, where, sub_where, "%g outside %g..%g", x, f->dmin,
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

static int decode(const struct desc *d, const void *body, size_t len, void *out, char *err,
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
    json_object_put(o);
    if (rc < 0)
        free_texts(d, out);
    return rc;
}

static int encode(const struct desc *d, const void *m, char **out, size_t *outlen, char *err,
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
        rc = decode(d, *out, len, check, err, errlen);
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

/* ---- message tables ------------------------------------------------------ */

static int check_path(const char *p, const char *where, const char *key, char *err, size_t errlen)
{
    if (p[0] != '/')
        return bad(err, errlen, where, key, "must be an absolute path");
    for (const char *s = p; (s = strstr(s, "/..")) != NULL; s += 3)
        if (s[3] == '/' || s[3] == '\0')
            return bad(err, errlen, where, key, "must not contain '..'");
    return 0;
}

static int check_name(const char *n, const char *where, char *err, size_t errlen)
{
    if (strchr(n, '/') || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
        return bad(err, errlen, where, "name", "must be a file name without '/'");
    return 0;
}

static int check_fence_all_or_none(const struct dcv_proto_fence *fc, const char *where, int need,
                                   char *err, size_t errlen)
{
    int have = (fc->job_id[0] != 0) + (fc->attempt != 0) + (fc->session[0] != 0);
    if (have != 0 && have != 3)
        return bad(err, errlen, where, "job_id", "job_id, attempt and session go together");
    if (need > 0 && have == 0)
        return bad(err, errlen, where, "job_id", "required for this purpose");
    if (need < 0 && have != 0)
        return bad(err, errlen, where, "job_id", "not allowed for this purpose");
    return 0;
}

/* blob */
#define T struct dcv_proto_blob
static const struct field blob_f[] = {
    FINT(T, "xfer_id", xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", size, 1, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", sha256, 1),
};
#undef T
static const struct desc blob_d = {"blob", blob_f, ARRAY_N(blob_f), sizeof(struct dcv_proto_blob), NULL, 0};

#define T struct dcv_proto_jobref
static const struct field jobref_f[] = {
    FJOBID(T, "job_id", job_id, 1),
    FINT(T, "attempt", attempt, 1, 1, DCV_PROTO_MAX_ATTEMPT, 0),
    FDBL(T, "progress", progress, 1, 0, 100, 0),
    FTOK(T, "plugin", plugin, 0),
    FSTR(T, "device_id", device_id, 0, 0),
};
#undef T
static const struct desc jobref_d = {"job", jobref_f, ARRAY_N(jobref_f), sizeof(struct dcv_proto_jobref), NULL, 0};

#define T struct dcv_proto_plugin
static const struct field plugin_f[] = {
    FTOK(T, "name", name, 1),
    FSTR(T, "version", version, 1, 0),
    FINT(T, "abi_minor", abi_minor, 1, 0, 65535, 0),
};
#undef T
static const struct desc plugin_d = {"plugin", plugin_f, ARRAY_N(plugin_f), sizeof(struct dcv_proto_plugin), NULL, 0};

#define T struct dcv_proto_bench
static const struct field bench_f[] = {
    FTOK(T, "codec", codec, 1),
    FDBL(T, "fps", fps, 1, 0, 1e6, 0),
};
#undef T
static const struct desc bench_d = {"bench", bench_f, ARRAY_N(bench_f), sizeof(struct dcv_proto_bench), NULL, 0};

#define T struct dcv_proto_device
static const struct field device_f[] = {
    FTOK(T, "plugin", plugin, 1),
    FDBL(T, "bench_fps", bench_fps, 0, 0, 1e6, -1),
    FARR(T, "bench", bench, n_bench, 0, &bench_d),
    {.name = "caps", .type = F_CAPS, .off = offsetof(T, caps)},
};
#undef T
static const struct desc device_d = {"device", device_f, ARRAY_N(device_f), sizeof(struct dcv_proto_device), NULL, 0};

static int hello_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_hello *h = m;
    char key[32];
    if (h->proto_min > h->proto_max)
        return bad(err, errlen, where, "proto_max", "must be >= proto_min");
    for (size_t i = 0; i < h->n_paths; i++) {
        snprintf(key, sizeof(key), "paths[%zu]", i);
        if (check_path(h->paths[i], where, key, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}
#define T struct dcv_proto_hello
static const struct field hello_f[] = {
    FTOK(T, "worker_id", worker_id, 1),
    FTOK(T, "session", session, 1),
    FINT(T, "proto_min", proto_min, 1, 1, 255, 0),
    FINT(T, "proto_max", proto_max, 1, 1, 255, 0),
    FTOK(T, "host", host, 1),
    FSTR(T, "hostname", hostname, 0, 0),
    FSTR(T, "version", version, 0, 0),
    FINT(T, "slots", slots, 1, 1, 1024, 0),
    FINT(T, "max_cpu_jobs", max_cpu_jobs, 0, 0, 1024, 0),
    FINT(T, "max_gpu_jobs", max_gpu_jobs, 0, 0, 1024, 0),
    FARR(T, "plugins", plugins, n_plugins, 1, &plugin_d),
    FARR(T, "devices", devices, n_devices, 1, &device_d),
    FARR(T, "running", running, n_running, 1, &jobref_d),
    FSARR(T, "paths", paths, n_paths, 0),
};
#undef T
static const struct desc hello_d = {"HELLO", hello_f, ARRAY_N(hello_f), sizeof(struct dcv_proto_hello), hello_check, 0};

static int welcome_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_welcome *w = m;
    if (w->chunk_max % 4096)
        return bad(err, errlen, where, "chunk_max", "must be a multiple of 4096");
    if (!strstr(w->data_endpoint, "://"))
        return bad(err, errlen, where, "data_endpoint", "expected an endpoint such as tcp://host:7401");
    return 0;
}
#define T struct dcv_proto_welcome
static const struct field welcome_f[] = {
    FTOK(T, "session", session, 1),
    FTOK(T, "coordinator_epoch", coordinator_epoch, 1),
    FINT(T, "proto", proto, 1, 1, 255, 0),
    FINT(T, "hb_ivl_ms", hb_ivl_ms, 1, 100, 60000, 0),
    FINT(T, "liveness", liveness, 1, 1, 100, 0),
    FINT(T, "chunk_max", chunk_max, 1, 4096, DCV_XFER_CHUNK_MAX_LIMIT, 0),
    FINT(T, "credit_chunks", credit_chunks, 1, 1, 4096, 0),
    FSTR(T, "data_endpoint", data_endpoint, 1, 1),
};
#undef T
static const struct desc welcome_d = {"WELCOME", welcome_f, ARRAY_N(welcome_f), sizeof(struct dcv_proto_welcome), welcome_check, 0};

static int telemetry_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_telemetry *t = m;
    if (t->mem_avail > t->mem_total)
        return bad(err, errlen, where, "mem_avail", "exceeds mem_total");
    if (t->disk_free > t->disk_total)
        return bad(err, errlen, where, "disk_free", "exceeds disk_total");
    return 0;
}
#define T struct dcv_proto_psi
static const struct field psi_f[] = {
    FDBL(T, "cpu_some", cpu_some, 1, 0, 100, 0),
    FDBL(T, "mem_some", mem_some, 1, 0, 100, 0),
    FDBL(T, "mem_full", mem_full, 1, 0, 100, 0),
    FDBL(T, "io_some", io_some, 1, 0, 100, 0),
    FDBL(T, "io_full", io_full, 1, 0, 100, 0),
};
#undef T
static const struct desc psi_d = {"psi", psi_f, ARRAY_N(psi_f), sizeof(struct dcv_proto_psi), NULL, 0};

#define T struct dcv_proto_gpu
static const struct field gpu_f[] = {
    FSTR(T, "id", id, 1, 1),
    FSTR(T, "name", name, 0, 0),
    FSTR(T, "pci", pci, 0, 0),
    FDBL(T, "util_pct", util_pct, 0, -1, 100, -1),
    FDBL(T, "enc_pct", enc_pct, 0, -1, 100, -1),
    FDBL(T, "dec_pct", dec_pct, 0, -1, 100, -1),
    FINT(T, "mem_total", mem_total, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FINT(T, "mem_used", mem_used, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FDBL(T, "temp_c", temp_c, 0, -1, 200, -1),
    FDBL(T, "power_w", power_w, 0, -1, 10000, -1),
    FINT(T, "enc_sessions", enc_sessions, 0, -1, 65535, -1),
};
#undef T
static const struct desc gpu_d = {"gpu", gpu_f, ARRAY_N(gpu_f), sizeof(struct dcv_proto_gpu), NULL, 0};

#define T struct dcv_proto_telemetry
static const struct field telemetry_f[] = {
    FDBL(T, "cpu_pct", cpu_pct, 1, 0, 100, 0),
    FDBL(T, "load1", load1, 1, 0, 1e6, 0),
    FINT(T, "ncpu", ncpu, 1, 1, 65536, 0),
    FINT(T, "mem_total", mem_total, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "mem_avail", mem_avail, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "disk_total", disk_total, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "disk_free", disk_free, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "slots_used", slots_used, 1, 0, 1024, 0),
    FBOOL(T, "busy", busy, 1, 0),
    FBOOL(T, "draining", draining, 1, 0),
    FARR(T, "jobs", jobs, n_jobs, 1, &jobref_d),
    FSTR(T, "busy_reason", busy_reason, 0, 0),
    FDBL(T, "load5", load5, 0, -1, 1e6, -1),
    FDBL(T, "load15", load15, 0, -1, 1e6, -1),
    FINT(T, "swap_total", swap_total, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FINT(T, "swap_free", swap_free, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FDARR(T, "cores", cores, n_cores, 0, -1, 100),
    FDBL(T, "net_rx_bps", net_rx_bps, 0, -1, 1e15, -1),
    FDBL(T, "net_tx_bps", net_tx_bps, 0, -1, 1e15, -1),
    FSUB(T, "psi", psi, 0, &psi_d, offsetof(T, has_psi)),
    FDBL(T, "temp_c", temp_c, 0, -1, 200, -1),
    FARR(T, "gpus", gpus, n_gpus, 0, &gpu_d),
};
#undef T
static const struct desc telemetry_d = {"telemetry", telemetry_f, ARRAY_N(telemetry_f), sizeof(struct dcv_proto_telemetry), telemetry_check, 0};

#define T struct dcv_proto_heartbeat
static const struct field heartbeat_f[] = {
    FSUB(T, "telemetry", telemetry, 0, &telemetry_d, offsetof(T, has_telemetry)),
};
#undef T
static const struct desc heartbeat_d = {"HEARTBEAT", heartbeat_f, ARRAY_N(heartbeat_f), sizeof(struct dcv_proto_heartbeat), NULL, 0};

static int input_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_input *in = m;
    int rc;
    if (in->name[0] && (rc = check_name(in->name, where, err, errlen)) < 0)
        return rc;
    if (in->kind != DCV_INPUT_URL && (in->url[0] || in->protocols[0]))
        return bad(err, errlen, where, "url", "only for kind url");
    if (in->kind == DCV_INPUT_XFER) {
        if (in->blob.xfer_id == 0)
            return bad(err, errlen, where, "xfer_id", "required for kind xfer");
        if (in->blob.size < 0)
            return bad(err, errlen, where, "size", "required for kind xfer");
        if (!in->blob.sha256[0])
            return bad(err, errlen, where, "sha256", "required for kind xfer");
        if (in->path[0])
            return bad(err, errlen, where, "path", "not allowed for kind xfer");
        return 0;
    }
    if (in->kind == DCV_INPUT_URL) {
        if (!strstr(in->url, "://"))
            return bad(err, errlen, where, "url", "required for kind url (scheme://...)");
        if (!in->protocols[0] || strspn(in->protocols, "abcdefghijklmnopqrstuvwxyz0123456789+-.,") !=
                                     strlen(in->protocols))
            return bad(err, errlen, where, "protocols",
                       "required for kind url: comma-separated protocol names");
        if (in->blob.xfer_id || in->path[0])
            return bad(err, errlen, where, "url", "kind url carries neither xfer_id nor path");
        return 0;
    }
    if (!in->path[0])
        return bad(err, errlen, where, "path", "required for kind path");
    if (in->blob.xfer_id)
        return bad(err, errlen, where, "xfer_id", "not allowed for kind path");
    return check_path(in->path, where, "path", err, errlen);
}
#define T struct dcv_proto_input
static const struct field input_f[] = {
    FENUM(T, "kind", kind, 1, kind_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 0, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 0),
    FENUM(T, "mode", mode, 0, mode_names, DCV_FETCH_COPY),
    FSTR(T, "path", path, 0, 0),
    FSTR(T, "url", url, 0, 0),
    FSTR(T, "protocols", protocols, 0, 0),
    FSTR(T, "name", name, 0, 0),
};
#undef T
static const struct desc input_d = {"input", input_f, ARRAY_N(input_f), sizeof(struct dcv_proto_input), input_check, 0};

#define T struct dcv_proto_placement
static const struct field placement_f[] = {
    FTOK(T, "plugin", plugin, 1),
    FSTR(T, "device_id", device_id, 1, 1),
    FTOK(T, "codec", codec, 1),
    FTOK(T, "encoder", encoder, 1),
    FBOOL(T, "hw", hw, 0, 0),
    FBOOL(T, "fallback", fallback, 0, 0),
};
#undef T
static const struct desc placement_d = {"placement", placement_f, ARRAY_N(placement_f), sizeof(struct dcv_proto_placement), NULL, 0};

#define T struct dcv_proto_job
static const struct field job_f[] = {
    FENCE(T, 1),
    FSUB(T, "input", input, 1, &input_d, NOAUX),
    FFLAT(T, "profile", profile, 1),
    FINT(T, "deadline_ms", deadline_ms, 0, 1, INT64_MAX / 2, 0),
    FSUB(T, "placement", placement, 0, &placement_d, offsetof(T, has_placement)),
};
#undef T
static const struct desc job_d = {"JOB", job_f, ARRAY_N(job_f), sizeof(struct dcv_proto_job), NULL, 0};

#define T struct dcv_proto_accept
static const struct field accept_f[] = {
    FENCE(T, 1),
    FTOK(T, "plugin", plugin, 1),
    FTOK(T, "encoder", encoder, 1),
    FSTR(T, "device_id", device_id, 1, 1),
};
#undef T
static const struct desc accept_d = {"ACCEPT", accept_f, ARRAY_N(accept_f), sizeof(struct dcv_proto_accept), NULL, 0};

#define T struct dcv_proto_failure
#define FAILURE_FIELDS                                           \
    FENCE(T, 1),                                                 \
    FENUM(T, "code", code, 1, code_names, 0),                    \
    FSTR(T, "message", message, 1, 1),                           \
    FBOOL(T, "retryable", retryable, 1, 0)
static const struct field reject_f[] = {FAILURE_FIELDS};
static const struct field fail_f[] = {FAILURE_FIELDS};
#undef T
static const struct desc reject_d = {"REJECT", reject_f, ARRAY_N(reject_f), sizeof(struct dcv_proto_failure), NULL, 0};
static const struct desc fail_d = {"FAIL", fail_f, ARRAY_N(fail_f), sizeof(struct dcv_proto_failure), NULL, 0};

#define T struct dcv_proto_progress
static const struct field progress_f[] = {
    FENCE(T, 1),
    FENUM(T, "phase", phase, 1, phase_names, 0),
    FDBL(T, "pct", pct, 1, 0, 100, 0),
    FINT(T, "frames", frames, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FDBL(T, "fps", fps, 0, 0, 1e6, -1),
};
#undef T
static const struct desc progress_d = {"PROGRESS", progress_f, ARRAY_N(progress_f), sizeof(struct dcv_proto_progress), NULL, 0};

/* Only an encoded outcome has an output; a skipped or kept-original job
 * leaves the source as the result, so an output there is a contradiction. */
static int done_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_done *d = m;
    if (d->outcome == DCV_OUTCOME_ENCODED && !d->has_output)
        return bad(err, errlen, where, "output", "required for outcome encoded");
    if (d->outcome != DCV_OUTCOME_ENCODED && d->has_output)
        return bad(err, errlen, where, "output", "not allowed for outcome %s",
                   outcome_names[d->outcome]);
    return 0;
}
#define T struct dcv_proto_done
static const struct field done_f[] = {
    FENCE(T, 1),
    FSUB(T, "output", output, 0, &blob_d, offsetof(T, has_output)),
    FINT(T, "frames", frames, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FINT(T, "elapsed_ms", elapsed_ms, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FENUM(T, "outcome", outcome, 0, outcome_names, DCV_OUTCOME_ENCODED),
    FSTR(T, "note", note, 0, 0),
};
#undef T
static const struct desc done_d = {"DONE", done_f, ARRAY_N(done_f), sizeof(struct dcv_proto_done), done_check, 0};

#define T struct dcv_proto_cancel
static const struct field cancel_f[] = {
    FENCE(T, 1),
    FSTR(T, "reason", reason, 0, 0),
};
#undef T
static const struct desc cancel_d = {"CANCEL", cancel_f, ARRAY_N(cancel_f), sizeof(struct dcv_proto_cancel), NULL, 0};

#define T struct dcv_proto_drain
static const struct field drain_f[] = {FBOOL(T, "draining", draining, 1, 0)};
#undef T
static const struct desc drain_d = {"DRAIN", drain_f, ARRAY_N(drain_f), sizeof(struct dcv_proto_drain), NULL, 0};

#define T struct dcv_proto_disconnect
static const struct field disconnect_f[] = {FSTR(T, "reason", reason, 1, 1)};
#undef T
static const struct desc disconnect_d = {"DISCONNECT", disconnect_f, ARRAY_N(disconnect_f), sizeof(struct dcv_proto_disconnect), NULL, 0};

/* data plane */
static int xfer_open_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_xfer_open *x = m;
    int worker = x->purpose == DCV_PURPOSE_INPUT || x->purpose == DCV_PURPOSE_OUTPUT;
    if (x->chunk_max % 4096)
        return bad(err, errlen, where, "chunk_max", "must be a multiple of 4096");
    return check_fence_all_or_none(&x->fence, where, worker ? 1 : -1, err, errlen);
}
#define T struct dcv_proto_xfer_open
static const struct field offer_f[] = {
    FENUM(T, "purpose", purpose, 1, purpose_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 1, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 1),
    FINT(T, "chunk_max", chunk_max, 1, 4096, DCV_XFER_CHUNK_MAX_LIMIT, 0),
    FENCE(T, 0),
};
static const struct field fetch_f[] = {
    FENUM(T, "purpose", purpose, 1, purpose_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 0),
    FINT(T, "chunk_max", chunk_max, 0, 4096, DCV_XFER_CHUNK_MAX_LIMIT, 0),
    FENCE(T, 0),
    /* FETCH only: an OFFER neither reads nor writes it */
    FBOOL(T, "range", range, 0, 0),
};
#undef T
static const struct desc offer_d = {"OFFER", offer_f, ARRAY_N(offer_f), sizeof(struct dcv_proto_xfer_open), xfer_open_check, 0};
static const struct desc fetch_d = {"FETCH", fetch_f, ARRAY_N(fetch_f), sizeof(struct dcv_proto_xfer_open), xfer_open_check, 0};

#define T struct dcv_proto_commit
static const struct field commit_f[] = {
    FINT(T, "xfer_id", xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FBOOL(T, "ok", ok, 1, 0),
    FINT(T, "size", size, 1, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", sha256, 1),
};
#undef T
static const struct desc commit_d = {"COMMIT", commit_f, ARRAY_N(commit_f), sizeof(struct dcv_proto_commit), NULL, 0};

#define T struct dcv_proto_abort
static const struct field abort_f[] = {
    FINT(T, "xfer_id", xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FENUM(T, "code", code, 1, code_names, 0),
    FSTR(T, "message", message, 1, 1),
};
#undef T
static const struct desc abort_d = {"ABORT", abort_f, ARRAY_N(abort_f), sizeof(struct dcv_proto_abort), NULL, 0};

/* admin plane */
#define T struct dcv_proto_args
static const struct field submit_input_f[] = {
    FENUM(T, "kind", input_kind, 1, submit_kind_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 0, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 0),
    FSTR(T, "source", path, 0, 0),
    FSTR(T, "name", name, 0, 0),
};
static const struct desc submit_input_d = {"input", submit_input_f, ARRAY_N(submit_input_f), sizeof(struct dcv_proto_args), NULL, 0};
static const struct field args_f[] = {
    FJOBID(T, "job_id", job_id, 0),
    FTOK(T, "worker_id", worker_id, 0),
    FENUM(T, "state", state, 0, state_names, -1),
    FINT(T, "limit", limit, 0, 1, 10000, 0),
    FINT(T, "offset", offset, 0, 0, INT32_MAX, 0),
    FFLAT(T, "profile", profile, 0),
    /* off 0: the input object's fields live in the args struct itself */
    {.name = "input", .type = F_SUB, .req = 0, .off = 0, .sub = &submit_input_d, .aux = offsetof(T, has_input)},
    FENUM(T, "prio_class", prio_class, 0, prio_names, 1),
    FINT(T, "priority", priority, 0, -1000, 1000, 0),
    FINT(T, "max_attempts", max_attempts, 0, 1, 100, 0),
    FENUM(T, "what", what, 0, get_what_names, 0),
};
#undef T
static const struct desc args_d = {"args", args_f, ARRAY_N(args_f), sizeof(struct dcv_proto_args), NULL, 0};

static int request_check(const void *m, const char *where0, char *err, size_t errlen)
{
    const struct dcv_proto_request *r = m;
    const struct dcv_proto_args *a = &r->args;
    char where[96];

    snprintf(where, sizeof(where), "%s.args", where0);
    switch (r->verb) {
    case DCV_VERB_SUBMIT:
        if (!a->profile[0])
            return bad(err, errlen, where, "profile", "required by submit");
        if (!a->has_input)
            return bad(err, errlen, where, "input", "required by submit");
        snprintf(where, sizeof(where), "%s.args.input", where0);
        if (a->name[0] && check_name(a->name, where, err, errlen) < 0)
            return -EINVAL;
        switch (a->input_kind) {
        case DCV_SUBMIT_UPLOAD:
            if (!a->blob.xfer_id || a->blob.size < 0 || !a->blob.sha256[0])
                return bad(err, errlen, where, "xfer_id", "kind upload needs xfer_id, size and sha256");
            if (a->path[0])
                return bad(err, errlen, where, "source", "not allowed for kind upload");
            return 0;
        case DCV_SUBMIT_PATH:
            if (!a->path[0])
                return bad(err, errlen, where, "source", "required for kind path");
            return check_path(a->path, where, "source", err, errlen);
        default:
            if (!strstr(a->path, "://"))
                return bad(err, errlen, where, "source", "expected a URL (scheme://...)");
            return 0;
        }
    case DCV_VERB_STATUS: case DCV_VERB_CANCEL: case DCV_VERB_RETRY: case DCV_VERB_GET:
        if (!a->job_id[0])
            return bad(err, errlen, where, "job_id", "required by %s", verb_names[r->verb]);
        return 0;
    case DCV_VERB_WORKER: case DCV_VERB_DRAIN: case DCV_VERB_UNDRAIN:
        if (!a->worker_id[0])
            return bad(err, errlen, where, "worker_id", "required by %s", verb_names[r->verb]);
        return 0;
    default:
        return 0;
    }
}

#define T struct dcv_proto_request
static const struct field request_f[] = {
    FTOK(T, "req_id", req_id, 1),
    FENUM(T, "verb", verb, 1, verb_names, 0),
    FKEY(T, "idempotency_key", idempotency_key, 0),
    FSUB(T, "args", args, 1, &args_d, NOAUX),
};
#undef T
static const struct desc request_d = {"REQUEST", request_f, ARRAY_N(request_f), sizeof(struct dcv_proto_request), request_check, 0};

static int reply_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_reply *r = m;
    if (r->status != 200 && r->status != 202 && r->status != 400 && r->status != 403 &&
        r->status != 404 && r->status != 500)
        return bad(err, errlen, where, "status", "expected one of 200|202|400|403|404|500");
    if (r->status >= 400 && !r->error[0])
        return bad(err, errlen, where, "error", "required when status >= 400");
    return 0;
}
/* status is an int in the struct but int64 in the engine: a shadow field
 * would complicate the table, so REQUEST/FINAL go through small wrappers. */
struct reply_wire {
    char req_id[DCV_PROTO_ID];
    int64_t status;
    char error[DCV_PROTO_TEXT];
    char *body;
};
static int reply_wire_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct reply_wire *w = m;
    struct dcv_proto_reply r = {.status = (int)w->status};
    memcpy(r.error, w->error, sizeof(r.error));
    return reply_check(&r, where, err, errlen);
}
#define T struct reply_wire
static const struct field reply_f[] = {
    FTOK(T, "req_id", req_id, 1),
    FINT(T, "status", status, 1, 100, 599, 0),
    FSTR(T, "error", error, 0, 0),
    {.name = "body", .type = F_TEXT, .req = 0, .off = offsetof(T, body), .cap = DCV_PROTO_MAX_REPLY_BODY - 8192},
};
#undef T
static const struct desc partial_d = {"PARTIAL", reply_f, ARRAY_N(reply_f), sizeof(struct reply_wire), reply_wire_check, DCV_PROTO_MAX_REPLY_BODY};
static const struct desc final_d = {"FINAL", reply_f, ARRAY_N(reply_f), sizeof(struct reply_wire), reply_wire_check, DCV_PROTO_MAX_REPLY_BODY};

void dcv_proto_reply_clear(struct dcv_proto_reply *r)
{
    if (r) {
        free(r->body);
        r->body = NULL;
    }
}

static int reply_to(const struct desc *d, const struct dcv_proto_reply *m, char **out,
                    size_t *len, char *err, size_t errlen)
{
    struct reply_wire w;
    memset(&w, 0, sizeof(w));
    memcpy(w.req_id, m->req_id, sizeof(w.req_id));
    memcpy(w.error, m->error, sizeof(w.error));
    w.status = m->status;
    w.body = m->body;
    return encode(d, &w, out, len, err, errlen);
}

static int reply_from(const struct desc *d, const void *body, size_t len,
                      struct dcv_proto_reply *out, char *err, size_t errlen)
{
    struct reply_wire w;
    int rc = decode(d, body, len, &w, err, errlen);
    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    memcpy(out->req_id, w.req_id, sizeof(out->req_id));
    memcpy(out->error, w.error, sizeof(out->error));
    out->status = (int)w.status;
    out->body = w.body;
    return 0;
}

/* ---- public wrappers ----------------------------------------------------- */

#define DCV_PROTO_DEF(x, type, d)                                                        \
    int dcv_proto_##x##_to_json(const struct type *m, char **out, size_t *len, char *err, \
                                size_t errlen)                                           \
    {                                                                                    \
        return encode(&d, m, out, len, err, errlen);                                     \
    }                                                                                    \
    int dcv_proto_##x##_from_json(const void *body, size_t len, struct type *out,        \
                                  char *err, size_t errlen)                              \
    {                                                                                    \
        return decode(&d, body, len, out, err, errlen);                                  \
    }

/* ---- one entry by command ------------------------------------------------ */

/* The JSON body of each command; CREDIT and CHUNK carry binary records. */
static const struct {
    enum dcv_proto_plane plane;
    int cmd;
    const struct desc *d;
} codecs[] = {
    {DCV_PLANE_CONTROL, DCV_CMD_HELLO, &hello_d},
    {DCV_PLANE_CONTROL, DCV_CMD_WELCOME, &welcome_d},
    {DCV_PLANE_CONTROL, DCV_CMD_HEARTBEAT, &heartbeat_d},
    {DCV_PLANE_CONTROL, DCV_CMD_JOB, &job_d},
    {DCV_PLANE_CONTROL, DCV_CMD_ACCEPT, &accept_d},
    {DCV_PLANE_CONTROL, DCV_CMD_REJECT, &reject_d},
    {DCV_PLANE_CONTROL, DCV_CMD_PROGRESS, &progress_d},
    {DCV_PLANE_CONTROL, DCV_CMD_DONE, &done_d},
    {DCV_PLANE_CONTROL, DCV_CMD_FAIL, &fail_d},
    {DCV_PLANE_CONTROL, DCV_CMD_CANCEL, &cancel_d},
    {DCV_PLANE_CONTROL, DCV_CMD_DRAIN, &drain_d},
    {DCV_PLANE_CONTROL, DCV_CMD_DISCONNECT, &disconnect_d},
    {DCV_PLANE_DATA, DCV_CMD_OFFER, &offer_d},
    {DCV_PLANE_DATA, DCV_CMD_FETCH, &fetch_d},
    {DCV_PLANE_DATA, DCV_CMD_COMMIT, &commit_d},
    {DCV_PLANE_DATA, DCV_CMD_ABORT, &abort_d},
    {DCV_PLANE_ADMIN, DCV_CMD_REQUEST, &request_d},
    {DCV_PLANE_ADMIN, DCV_CMD_PARTIAL, &partial_d},
    {DCV_PLANE_ADMIN, DCV_CMD_FINAL, &final_d},
};

static const struct desc *codec_of(enum dcv_proto_plane plane, int cmd, char *err, size_t errlen)
{
    for (size_t i = 0; i < ARRAY_N(codecs); i++)
        if (codecs[i].plane == plane && codecs[i].cmd == cmd)
            return codecs[i].d;
    if (err && errlen)
        snprintf(err, errlen, "command 0x%02x has no JSON body on this plane", (unsigned)cmd & 0xffu);
    return NULL;
}

int dcv_proto_encode(enum dcv_proto_plane plane, int cmd, const void *msg, char **out, size_t *len,
                     char *err, size_t errlen)
{
    const struct desc *d = codec_of(plane, cmd, err, errlen);
    if (!d)
        return -EINVAL;
    if (d == &partial_d || d == &final_d)
        return reply_to(d, msg, out, len, err, errlen);
    return encode(d, msg, out, len, err, errlen);
}

int dcv_proto_decode(enum dcv_proto_plane plane, int cmd, const void *body, size_t len, void *out,
                     char *err, size_t errlen)
{
    const struct desc *d = codec_of(plane, cmd, err, errlen);
    if (!d)
        return -EINVAL;
    if (d == &partial_d || d == &final_d)
        return reply_from(d, body, len, out, err, errlen);
    return decode(d, body, len, out, err, errlen);
}

DCV_PROTO_DEF(hello, dcv_proto_hello, hello_d)
DCV_PROTO_DEF(welcome, dcv_proto_welcome, welcome_d)
DCV_PROTO_DEF(heartbeat, dcv_proto_heartbeat, heartbeat_d)
DCV_PROTO_DEF(job, dcv_proto_job, job_d)
DCV_PROTO_DEF(accept, dcv_proto_accept, accept_d)
DCV_PROTO_DEF(reject, dcv_proto_failure, reject_d)
DCV_PROTO_DEF(progress, dcv_proto_progress, progress_d)
DCV_PROTO_DEF(done, dcv_proto_done, done_d)
DCV_PROTO_DEF(fail, dcv_proto_failure, fail_d)
DCV_PROTO_DEF(cancel, dcv_proto_cancel, cancel_d)
DCV_PROTO_DEF(drain, dcv_proto_drain, drain_d)
DCV_PROTO_DEF(disconnect, dcv_proto_disconnect, disconnect_d)
DCV_PROTO_DEF(offer, dcv_proto_xfer_open, offer_d)
DCV_PROTO_DEF(fetch, dcv_proto_xfer_open, fetch_d)
DCV_PROTO_DEF(commit, dcv_proto_commit, commit_d)
DCV_PROTO_DEF(abort, dcv_proto_abort, abort_d)
DCV_PROTO_DEF(request, dcv_proto_request, request_d)

int dcv_proto_partial_to_json(const struct dcv_proto_reply *m, char **out, size_t *len,
                              char *err, size_t errlen)
{
    return reply_to(&partial_d, m, out, len, err, errlen);
}
int dcv_proto_partial_from_json(const void *body, size_t len, struct dcv_proto_reply *out,
                                char *err, size_t errlen)
{
    return reply_from(&partial_d, body, len, out, err, errlen);
}
int dcv_proto_final_to_json(const struct dcv_proto_reply *m, char **out, size_t *len, char *err,
                            size_t errlen)
{
    return reply_to(&final_d, m, out, len, err, errlen);
}
int dcv_proto_final_from_json(const void *body, size_t len, struct dcv_proto_reply *out,
                              char *err, size_t errlen)
{
    return reply_from(&final_d, body, len, out, err, errlen);
}
