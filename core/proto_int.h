/*
 * Internal to the wire codec (proto_fields.c, proto_msgs.c): the field-table
 * format the message tables are written in and the engine that reads them.
 * The public API is proto.h.
 */
#ifndef DCV_PROTO_INT_H
#define DCV_PROTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

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

/* "WHERE.KEY: what" into err; returns -EINVAL. */
int fields_bad(char *err, size_t errlen, const char *where, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Parse a hostile body into the struct d describes (zeroed first). */
int fields_decode(const struct desc *d, const void *body, size_t len, void *out, char *err,
                  size_t errlen);
/* Emit m as JSON, then decode the result again: never send what we would
 * refuse. *out is malloc'd. */
int fields_encode(const struct desc *d, const void *m, char **out, size_t *outlen, char *err,
                  size_t errlen);

#endif
