/*
 * The job process's SPEC and stdout lines (see jobspec.h). Job lines reuse
 * the protocol codec, so what a job prints is validated exactly as what the
 * worker will send.
 */
#include "worker/jobspec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "errbuf.h"

static const char *const phase_names[] = {"fetch", "encode", "upload", "verify"};

const char *dcv_phase_name(int phase)
{
    if (phase < 0 || phase >= (int)(sizeof phase_names / sizeof phase_names[0]))
        return NULL;
    return phase_names[phase];
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void dcv_text_sanitize(char *dst, size_t cap, const char *src)
{
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t n = strlen((const char *)s), o = 0;

    if (cap == 0)
        return;
    while (n > 0 && o + 1 < cap) {
        size_t l = utf8_seq(s, n);
        if (l == 0) {
            dst[o++] = '?';
            s++, n--;
        } else if (l == 1) {
            dst[o++] = (char)(s[0] < 0x20 || s[0] == 0x7f ? ' ' : s[0]);
            s++, n--;
        } else {
            if (o + l >= cap)
                break; /* never split a character */
            memcpy(dst + o, s, l);
            o += l, s += l, n -= l;
        }
    }
    dst[o] = '\0';
    if (o == 0 && cap >= 2)
        snprintf(dst, cap, "-");
}

/* ---- SPEC ------------------------------------------------------------------ */

static int add_str(struct json_object *o, const char *k, const char *v)
{
    struct json_object *j = json_object_new_string(v);
    if (!j || json_object_object_add(o, k, j) != 0) {
        json_object_put(j);
        return -ENOMEM;
    }
    return 0;
}

static int add_int(struct json_object *o, const char *k, int64_t v)
{
    struct json_object *j = json_object_new_int64(v);
    if (!j || json_object_object_add(o, k, j) != 0) {
        json_object_put(j);
        return -ENOMEM;
    }
    return 0;
}

static int add_bool(struct json_object *o, const char *k, int v)
{
    struct json_object *j = json_object_new_boolean(v ? 1 : 0);
    if (!j || json_object_object_add(o, k, j) != 0) {
        json_object_put(j);
        return -ENOMEM;
    }
    return 0;
}

int dcv_jobspec_to_json(const struct dcv_jobspec *s, char **out, char *err, size_t errlen)
{
    struct json_object *o = json_object_new_object(), *in = json_object_new_object();
    struct json_object *prof = NULL;
    const char *txt;
    int r = 0;

    *out = NULL;
    if (!o || !in) {
        json_object_put(o);
        json_object_put(in);
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    }
    prof = json_tokener_parse(s->profile[0] ? s->profile : "{}");
    if (!prof || !json_object_is_type(prof, json_type_object)) {
        json_object_put(prof);
        json_object_put(o);
        json_object_put(in);
        return dcv_err(err, errlen, -EINVAL, "SPEC.profile: not a JSON object");
    }
    r |= add_str(o, "job_id", s->fence.job_id);
    r |= add_int(o, "attempt", s->fence.attempt);
    r |= add_str(o, "session", s->fence.session);
    if (s->input_kind == DCV_INPUT_PATH) {
        r |= add_str(in, "kind", "path");
        r |= add_str(in, "path", s->path);
        if (s->coord_path[0])
            r |= add_str(in, "coordinator_path", s->coord_path);
        if (s->blob.size >= 0)
            r |= add_int(in, "size", s->blob.size);
        if (s->mtime > 0)
            r |= add_int(in, "mtime", s->mtime);
        if (s->blob.sha256[0])
            r |= add_str(in, "sha256", s->blob.sha256);
    } else if (s->input_kind == DCV_INPUT_URL) {
        r |= add_str(in, "kind", "url");
        r |= add_str(in, "url", s->path);
        r |= add_str(in, "protocols", s->protocols);
    } else {
        r |= add_str(in, "kind", "xfer");
        r |= add_int(in, "xfer_id", s->blob.xfer_id);
        r |= add_int(in, "size", s->blob.size);
        r |= add_str(in, "sha256", s->blob.sha256);
        r |= add_str(in, "mode", s->mode == DCV_FETCH_STREAM ? "stream" : "copy");
    }
    if (s->name[0])
        r |= add_str(in, "name", s->name);
    if (json_object_object_add(o, "input", in) != 0) {
        json_object_put(in);
        r = -ENOMEM;
    }
    r |= add_str(o, "data_endpoint", s->data_endpoint);
    r |= add_int(o, "chunk_max", s->chunk_max);
    r |= add_int(o, "credit_chunks", s->credit_chunks);
    r |= add_int(o, "stall_ms", s->stall_ms);
    if (json_object_object_add(o, "profile", prof) != 0) {
        json_object_put(prof);
        r = -ENOMEM;
    }
    r |= add_str(o, "work_dir", s->work_dir);
    if (s->deadline_ms > 0)
        r |= add_int(o, "deadline_ms", s->deadline_ms);
    if (s->has_placement) {
        struct json_object *pl = json_object_new_object();
        if (!pl)
            r = -ENOMEM;
        else {
            r |= add_str(pl, "plugin", s->placement.plugin);
            r |= add_str(pl, "device_id", s->placement.device_id);
            r |= add_str(pl, "codec", s->placement.codec);
            r |= add_str(pl, "encoder", s->placement.encoder);
            r |= add_bool(pl, "hw", s->placement.hw);
            r |= add_bool(pl, "fallback", s->placement.fallback);
            if (json_object_object_add(o, "placement", pl) != 0) {
                json_object_put(pl);
                r = -ENOMEM;
            }
        }
    }
    txt = r ? NULL : json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (txt)
        *out = strdup(txt);
    json_object_put(o);
    if (!*out)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    return 0;
}

/* Field getters for the SPEC: each names the field it refuses. */
static int get_str(struct json_object *o, const char *where, const char *key, int required,
                   char *dst, size_t cap, char *err, size_t errlen)
{
    struct json_object *v;
    const char *s;

    dst[0] = '\0';
    if (!json_object_object_get_ex(o, key, &v)) {
        if (!required)
            return 0;
        return dcv_err(err, errlen, -EINVAL, "%s.%s: missing", where, key);
    }
    if (!json_object_is_type(v, json_type_string))
        return dcv_err(err, errlen, -EINVAL, "%s.%s: expected a string", where, key);
    s = json_object_get_string(v);
    if (strlen(s) >= cap || (required && !s[0]))
        return dcv_err(err, errlen, -EINVAL, "%s.%s: expected 1..%zu bytes", where, key, cap - 1);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int get_int(struct json_object *o, const char *where, const char *key, int required,
                   int64_t lo, int64_t hi, int64_t *dst, char *err, size_t errlen)
{
    struct json_object *v;
    int64_t x;

    if (!json_object_object_get_ex(o, key, &v)) {
        if (!required)
            return 0;
        return dcv_err(err, errlen, -EINVAL, "%s.%s: missing", where, key);
    }
    if (!json_object_is_type(v, json_type_int))
        return dcv_err(err, errlen, -EINVAL, "%s.%s: expected an integer", where, key);
    errno = 0;
    x = json_object_get_int64(v);
    if (errno || x < lo || x > hi)
        return dcv_err(err, errlen, -EINVAL, "%s.%s: expected an integer %lld..%lld", where,
                       key, (long long)lo, (long long)hi);
    *dst = x;
    return 0;
}

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static int is_token(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == ':' || *s == '-'))
            return 0;
    return 1;
}

/* An optional boolean of SPEC.placement (absent = false). */
static int get_flag(struct json_object *o, const char *key, int *out, char *err, size_t errlen)
{
    struct json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return dcv_err(err, errlen, -EINVAL, "SPEC.placement.%s: expected true or false", key);
    *out = json_object_get_boolean(v) ? 1 : 0;
    return 0;
}

static int parse_spec(struct json_object *o, struct dcv_jobspec *s, char *err, size_t errlen)
{
    struct json_object *in, *prof, *pl;
    char kind[16], mode[16];
    const char *ptxt;
    int r;

    if (!json_object_is_type(o, json_type_object))
        return dcv_err(err, errlen, -EINVAL, "SPEC: expected a JSON object");
#define TRY(x)          \
    do {                \
        if ((r = (x)) < 0) \
            return r;   \
    } while (0)
    TRY(get_str(o, "SPEC", "job_id", 1, s->fence.job_id, sizeof s->fence.job_id, err, errlen));
    if (!is_hex(s->fence.job_id, 32))
        return dcv_err(err, errlen, -EINVAL, "SPEC.job_id: expected 32 lower-case hex digits");
    TRY(get_int(o, "SPEC", "attempt", 1, 1, DCV_PROTO_MAX_ATTEMPT, &s->fence.attempt, err,
                errlen));
    TRY(get_str(o, "SPEC", "session", 1, s->fence.session, sizeof s->fence.session, err,
                errlen));
    if (!is_token(s->fence.session))
        return dcv_err(err, errlen, -EINVAL, "SPEC.session: expected a token");

    if (!json_object_object_get_ex(o, "input", &in) || !json_object_is_type(in, json_type_object))
        return dcv_err(err, errlen, -EINVAL, "SPEC.input: expected an object");
    TRY(get_str(in, "SPEC.input", "kind", 1, kind, sizeof kind, err, errlen));
    TRY(get_str(in, "SPEC.input", "name", 0, s->name, sizeof s->name, err, errlen));
    if (strchr(s->name, '/'))
        return dcv_err(err, errlen, -EINVAL, "SPEC.input.name: must not contain '/'");
    if (strcmp(kind, "path") == 0) {
        s->input_kind = DCV_INPUT_PATH;
        TRY(get_str(in, "SPEC.input", "path", 1, s->path, sizeof s->path, err, errlen));
        if (s->path[0] != '/')
            return dcv_err(err, errlen, -EINVAL, "SPEC.input.path: expected an absolute path");
        TRY(get_str(in, "SPEC.input", "coordinator_path", 0, s->coord_path, sizeof s->coord_path,
                    err, errlen));
        s->blob.size = -1;
        TRY(get_int(in, "SPEC.input", "size", 0, 0, DCV_PROTO_MAX_SIZE, &s->blob.size, err,
                    errlen));
        TRY(get_int(in, "SPEC.input", "mtime", 0, 1, DCV_PROTO_MAX_SIZE, &s->mtime, err, errlen));
        TRY(get_str(in, "SPEC.input", "sha256", 0, s->blob.sha256, sizeof s->blob.sha256, err,
                    errlen));
        if (s->blob.sha256[0] && !is_hex(s->blob.sha256, 64))
            return dcv_err(err, errlen, -EINVAL,
                           "SPEC.input.sha256: expected 64 lower-case hex digits");
    } else if (strcmp(kind, "xfer") == 0) {
        s->input_kind = DCV_INPUT_XFER;
        TRY(get_int(in, "SPEC.input", "xfer_id", 1, 1, DCV_PROTO_MAX_SIZE, &s->blob.xfer_id, err,
                    errlen));
        TRY(get_int(in, "SPEC.input", "size", 1, 0, DCV_PROTO_MAX_SIZE, &s->blob.size, err,
                    errlen));
        TRY(get_str(in, "SPEC.input", "sha256", 1, s->blob.sha256, sizeof s->blob.sha256, err,
                    errlen));
        if (!is_hex(s->blob.sha256, 64))
            return dcv_err(err, errlen, -EINVAL,
                           "SPEC.input.sha256: expected 64 lower-case hex digits");
        TRY(get_str(in, "SPEC.input", "mode", 0, mode, sizeof mode, err, errlen));
        if (!mode[0] || strcmp(mode, "copy") == 0)
            s->mode = DCV_FETCH_COPY;
        else if (strcmp(mode, "stream") == 0)
            s->mode = DCV_FETCH_STREAM;
        else
            return dcv_err(err, errlen, -EINVAL, "SPEC.input.mode: expected copy or stream");
    } else if (strcmp(kind, "url") == 0) {
        s->input_kind = DCV_INPUT_URL;
        TRY(get_str(in, "SPEC.input", "url", 1, s->path, sizeof s->path, err, errlen));
        TRY(get_str(in, "SPEC.input", "protocols", 1, s->protocols, sizeof s->protocols, err,
                    errlen));
        if (!strstr(s->path, "://"))
            return dcv_err(err, errlen, -EINVAL, "SPEC.input.url: expected scheme://...");
    } else {
        return dcv_err(err, errlen, -EINVAL, "SPEC.input.kind: expected path, xfer or url");
    }

    TRY(get_str(o, "SPEC", "data_endpoint", 1, s->data_endpoint, sizeof s->data_endpoint, err,
                errlen));
    if (!strstr(s->data_endpoint, "://"))
        return dcv_err(err, errlen, -EINVAL, "SPEC.data_endpoint: expected an endpoint URL");
    TRY(get_int(o, "SPEC", "chunk_max", 1, 4096, 64 << 20, &s->chunk_max, err, errlen));
    if (s->chunk_max % 4096)
        return dcv_err(err, errlen, -EINVAL, "SPEC.chunk_max: expected a multiple of 4096");
    TRY(get_int(o, "SPEC", "credit_chunks", 1, 1, 4096, &s->credit_chunks, err, errlen));
    TRY(get_int(o, "SPEC", "stall_ms", 1, 100, 6000000, &s->stall_ms, err, errlen));

    if (!json_object_object_get_ex(o, "profile", &prof) ||
        !json_object_is_type(prof, json_type_object))
        return dcv_err(err, errlen, -EINVAL, "SPEC.profile: expected an object");
    ptxt = json_object_to_json_string_ext(prof, JSON_C_TO_STRING_PLAIN);
    if (!ptxt || strlen(ptxt) >= sizeof s->profile)
        return dcv_err(err, errlen, -EINVAL, "SPEC.profile: too large");
    memcpy(s->profile, ptxt, strlen(ptxt) + 1);

    TRY(get_str(o, "SPEC", "work_dir", 1, s->work_dir, sizeof s->work_dir, err, errlen));
    if (s->work_dir[0] != '/' || strcmp(s->work_dir, "/") == 0)
        return dcv_err(err, errlen, -EINVAL,
                       "SPEC.work_dir: expected an absolute directory other than /");
    TRY(get_int(o, "SPEC", "deadline_ms", 0, 0, DCV_PROTO_MAX_SIZE, &s->deadline_ms, err,
                errlen));
    if (json_object_object_get_ex(o, "placement", &pl)) {
        struct dcv_proto_placement *p = &s->placement;
        if (!json_object_is_type(pl, json_type_object))
            return dcv_err(err, errlen, -EINVAL, "SPEC.placement: expected an object");
        s->has_placement = 1;
        TRY(get_str(pl, "SPEC.placement", "plugin", 1, p->plugin, sizeof p->plugin, err, errlen));
        TRY(get_str(pl, "SPEC.placement", "device_id", 1, p->device_id, sizeof p->device_id, err,
                    errlen));
        TRY(get_str(pl, "SPEC.placement", "codec", 1, p->codec, sizeof p->codec, err, errlen));
        TRY(get_str(pl, "SPEC.placement", "encoder", 1, p->encoder, sizeof p->encoder, err,
                    errlen));
        TRY(get_flag(pl, "hw", &p->hw, err, errlen));
        TRY(get_flag(pl, "fallback", &p->fallback, err, errlen));
        if (!p->plugin[0] || !p->device_id[0] || !p->codec[0] || !p->encoder[0])
            return dcv_err(err, errlen, -EINVAL,
                           "SPEC.placement: plugin, device_id, codec and encoder must be set");
    }
#undef TRY
    return 0;
}

int dcv_jobspec_from_json(const char *text, struct dcv_jobspec *out, char *err, size_t errlen)
{
    struct json_tokener *tok;
    struct json_object *o;
    enum json_tokener_error je;
    size_t len = text ? strlen(text) : 0;
    int r;

    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return dcv_err(err, errlen, -EINVAL, "SPEC: empty");
    tok = json_tokener_new();
    if (!tok)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    o = json_tokener_parse_ex(tok, text, (int)(len > 1u << 20 ? 1u << 20 : len));
    je = json_tokener_get_error(tok);
    if (!o || je != json_tokener_success) {
        r = dcv_err(err, errlen, -EINVAL, "SPEC: not valid JSON (%s)",
                    json_tokener_error_desc(je == json_tokener_success ? json_tokener_continue
                                                                      : je));
        json_tokener_free(tok);
        json_object_put(o);
        return r;
    }
    json_tokener_free(tok);
    r = parse_spec(o, out, err, errlen);
    json_object_put(o);
    return r;
}

/* ---- job lines --------------------------------------------------------------- */

static const char *const line_events[] = {"accept", "progress", "done", "fail"};

int dcv_jobline_format(const struct dcv_jobline *l, char **out, char *err, size_t errlen)
{
    char *body = NULL, *line;
    size_t len = 0, need;
    int r;

    *out = NULL;
    switch (l->kind) {
    case DCV_JOBLINE_ACCEPT:
        r = dcv_proto_accept_to_json(&l->accept, &body, &len, err, errlen);
        break;
    case DCV_JOBLINE_PROGRESS:
        r = dcv_proto_progress_to_json(&l->progress, &body, &len, err, errlen);
        break;
    case DCV_JOBLINE_DONE:
        r = dcv_proto_done_to_json(&l->done, &body, &len, err, errlen);
        break;
    case DCV_JOBLINE_FAIL: {
        struct dcv_proto_failure f = l->fail;
        dcv_text_sanitize(f.message, sizeof f.message, l->fail.message);
        r = dcv_proto_fail_to_json(&f, &body, &len, err, errlen);
        break;
    }
    default:
        return dcv_err(err, errlen, -EINVAL, "unknown job line kind %d", l->kind);
    }
    if (r < 0)
        return r;
    /* body is "{...}" with at least the fence inside: splice the event in. */
    need = len + 32;
    line = malloc(need);
    if (!line || len < 2 || body[0] != '{') {
        free(line);
        free(body);
        return dcv_err(err, errlen, line ? -EINVAL : -ENOMEM, "cannot render job line");
    }
    snprintf(line, need, "{\"event\":\"%s\",%s", line_events[l->kind], body + 1);
    free(body);
    *out = line;
    return 0;
}

int dcv_jobline_parse(const char *line, size_t len, struct dcv_jobline *out, char *err,
                      size_t errlen)
{
    struct json_tokener *tok;
    struct json_object *o, *ev;
    const char *name;
    int r = -EINVAL, kind = -1;

    memset(out, 0, sizeof *out);
    if (len == 0 || len > DCV_PROTO_MAX_BODY)
        return dcv_err(err, errlen, -EINVAL, "job line: empty or too long");
    tok = json_tokener_new();
    if (!tok)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    o = json_tokener_parse_ex(tok, line, (int)len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "event", &ev) || !json_object_is_type(ev, json_type_string)) {
        json_tokener_free(tok);
        json_object_put(o);
        return dcv_err(err, errlen, -EINVAL, "job line: not a JSON object with an event");
    }
    json_tokener_free(tok);
    name = json_object_get_string(ev);
    for (int i = 0; i < (int)(sizeof line_events / sizeof line_events[0]); i++)
        if (strcmp(name, line_events[i]) == 0)
            kind = i;
    if (kind < 0) {
        r = dcv_err(err, errlen, -EINVAL, "job line: unknown event '%.32s'", name);
        json_object_put(o);
        return r;
    }
    json_object_put(o);
    /* The codec ignores the unknown "event" key and validates the rest. */
    out->kind = kind;
    switch (kind) {
    case DCV_JOBLINE_ACCEPT:
        r = dcv_proto_accept_from_json(line, len, &out->accept, err, errlen);
        break;
    case DCV_JOBLINE_PROGRESS:
        r = dcv_proto_progress_from_json(line, len, &out->progress, err, errlen);
        break;
    case DCV_JOBLINE_DONE:
        r = dcv_proto_done_from_json(line, len, &out->done, err, errlen);
        break;
    case DCV_JOBLINE_FAIL:
        r = dcv_proto_fail_from_json(line, len, &out->fail, err, errlen);
        break;
    }
    return r;
}
