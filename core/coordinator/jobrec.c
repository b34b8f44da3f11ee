/*
 * The stored job records as the coordinator reads them (jobrec.h).
 */
#include "coordinator/jobrec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "errbuf.h"
#include "profile.h"
#include "profile_json.h"

/* The input record, written at submit:
 *   {"kind":"upload","xfer_id":N,"size":N,"sha256":"..","name":".."}
 *   {"kind":"path","path":"/real/path","size":N,"mtime":S,"name":".."}
 *     (mtime: seconds since the epoch; absent in records of older versions)
 *   {"kind":"url","url":"https://...","name":".."}
 * each with "submitter":"<identity>" when one was authenticated. */
int co_input_parse(struct dcv_coord *c, const char *input_json, struct co_input *in, char *err,
                   size_t errlen)
{
    json_object *o = input_json ? json_tokener_parse(input_json) : NULL, *v;
    const char *kind;
    int r = 0;

    memset(in, 0, sizeof *in);
    in->size = -1;
    if (!o || !json_object_is_type(o, json_type_object)) {
        r = dcv_err(err, errlen, -EINVAL, "stored input description is not a JSON object");
        goto out;
    }
    kind = json_object_object_get_ex(o, "kind", &v) ? json_object_get_string(v) : "";
    if (json_object_object_get_ex(o, "size", &v))
        in->size = json_object_get_int64(v);
    if (json_object_object_get_ex(o, "name", &v))
        copy_str(in->name, sizeof in->name, json_object_get_string(v));
    if (json_object_object_get_ex(o, "sha256", &v))
        copy_str(in->sha, sizeof in->sha, json_object_get_string(v));
    if (json_object_object_get_ex(o, "mtime", &v))
        in->mtime = json_object_get_int64(v);
    if (json_object_object_get_ex(o, "submitter", &v) && json_object_is_type(v, json_type_string))
        copy_str(in->submitter, sizeof in->submitter, json_object_get_string(v));
    if (strcmp(kind, "upload") == 0) {
        in->kind = DCV_SUBMIT_UPLOAD;
        in->xfer_id = json_object_object_get_ex(o, "xfer_id", &v) ? json_object_get_int64(v) : 0;
        if (in->xfer_id <= 0 || dcv_blobs_upload_path(c->blobs, in->xfer_id, in->path, sizeof in->path) < 0)
            r = dcv_err(err, errlen, -EINVAL, "stored upload input has no valid xfer_id");
    } else if (strcmp(kind, "path") == 0) {
        in->kind = DCV_SUBMIT_PATH;
        if (!json_object_object_get_ex(o, "path", &v) || json_object_get_string(v)[0] != '/')
            r = dcv_err(err, errlen, -EINVAL, "stored path input has no path");
        else
            copy_str(in->path, sizeof in->path, json_object_get_string(v));
    } else if (strcmp(kind, "url") == 0) {
        in->kind = DCV_SUBMIT_URL;
        if (!json_object_object_get_ex(o, "url", &v) || !strstr(json_object_get_string(v), "://"))
            r = dcv_err(err, errlen, -EINVAL, "stored url input has no URL");
        else
            copy_str(in->path, sizeof in->path, json_object_get_string(v));
    } else {
        r = dcv_err(err, errlen, -EINVAL, "stored input has unknown kind \"%s\"", kind);
    }
out:
    json_object_put(o);
    return r;
}

static char *record_text(json_object *o)
{
    char *text = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;
    json_object_put(o);
    return text;
}

static void add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

static void add_int(json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

char *co_input_record(const struct co_input *in)
{
    json_object *o = json_object_new_object();

    if (!o)
        return NULL;
    switch (in->kind) {
    case DCV_SUBMIT_UPLOAD:
        add_str(o, "kind", "upload");
        add_int(o, "xfer_id", in->xfer_id);
        add_int(o, "size", in->size);
        add_str(o, "sha256", in->sha);
        break;
    case DCV_SUBMIT_PATH:
        add_str(o, "kind", "path");
        add_str(o, "path", in->path);
        add_int(o, "size", in->size);
        /* with the size, what a worker's mount must match (JOB.input.mtime) */
        add_int(o, "mtime", in->mtime);
        break;
    default:
        add_str(o, "kind", "url");
        add_str(o, "url", in->path);
        break;
    }
    add_str(o, "name", in->name);
    if (in->submitter[0])
        add_str(o, "submitter", in->submitter);
    return record_text(o);
}

/* The output record, written when the job is done:
 *   {"outcome":"encoded","note":"..","file":"out-N","name":"..","size":N,"sha256":"..",
 *    "frames":N,"elapsed_ms":N,"encoder":{"plugin","encoder","device_id"},"worker":".."}
 *   {"outcome":"skipped"|"kept-original","note":"..","elapsed_ms":N,"worker":".."}
 * (no "file": the source is the result; records from before outcomes
 * existed have no "outcome" and are encoded ones). */
char *co_output_record(const struct co_output *out)
{
    json_object *o = json_object_new_object(), *enc;
    int encoded = out->file[0] != '\0';

    if (!o)
        return NULL;
    add_str(o, "outcome", out->outcome);
    if (out->note[0] || !encoded)
        add_str(o, "note", out->note[0] ? out->note : out->outcome);
    if (encoded) {
        add_str(o, "file", out->file);
        add_str(o, "name", out->name);
        add_int(o, "size", out->size);
        add_str(o, "sha256", out->sha);
        if (out->frames >= 0)
            add_int(o, "frames", out->frames);
    }
    if (out->elapsed_ms >= 0)
        add_int(o, "elapsed_ms", out->elapsed_ms);
    if (encoded && out->has_encoder && (enc = json_object_new_object())) {
        add_str(enc, "plugin", out->plugin);
        add_str(enc, "encoder", out->encoder);
        add_str(enc, "device_id", out->device_id);
        json_object_object_add(o, "encoder", enc);
    }
    add_str(o, "worker", out->worker);
    return record_text(o);
}

static void get_str(json_object *o, const char *k, char *out, size_t len)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
        copy_str(out, len, json_object_get_string(v));
}

static int64_t get_int(json_object *o, const char *k)
{
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

int co_output_parse(const char *output_json, struct co_output *out)
{
    json_object *o = output_json ? json_tokener_parse(output_json) : NULL, *enc;

    memset(out, 0, sizeof *out);
    out->size = out->frames = out->elapsed_ms = -1;
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -EINVAL;
    }
    copy_str(out->outcome, sizeof out->outcome, "encoded");
    get_str(o, "outcome", out->outcome, sizeof out->outcome);
    get_str(o, "note", out->note, sizeof out->note);
    get_str(o, "file", out->file, sizeof out->file);
    get_str(o, "name", out->name, sizeof out->name);
    get_str(o, "sha256", out->sha, sizeof out->sha);
    get_str(o, "worker", out->worker, sizeof out->worker);
    out->size = get_int(o, "size");
    out->frames = get_int(o, "frames");
    out->elapsed_ms = get_int(o, "elapsed_ms");
    if (json_object_object_get_ex(o, "encoder", &enc) && json_object_is_type(enc, json_type_object)) {
        out->has_encoder = 1;
        get_str(enc, "plugin", out->plugin, sizeof out->plugin);
        get_str(enc, "encoder", out->encoder, sizeof out->encoder);
        get_str(enc, "device_id", out->device_id, sizeof out->device_id);
    }
    json_object_put(o);
    return 0;
}

void co_input_to_path_job(const struct co_input *in, struct dcv_proto_input *out)
{
    out->kind = DCV_INPUT_PATH;
    copy_str(out->path, sizeof out->path, in->path);
    out->blob.size = in->size >= 0 && in->size <= DCV_PROTO_MAX_SIZE ? in->size : -1;
    out->mtime = in->mtime > 0 && in->mtime <= DCV_PROTO_MAX_SIZE ? in->mtime : 0;
    /* A digest makes the job process read the whole file once more before
     * encoding: sent only for a submitted path whose digest is at hand
     * (computed to serve it to a worker without the mount). An upload's
     * blob never changes in place; its size tells a wrong mount. */
    if (in->kind == DCV_SUBMIT_PATH)
        copy_str(out->blob.sha256, sizeof out->blob.sha256, in->sha);
}

/* Apply every key of a flat profile object with dcv_profile_set(). */
int co_profile_parse(const char *profile_json, struct dcv_profile *p, char *err, size_t errlen)
{
    /* The same reader as the job process (core/profile_json.c), plus the
     * cross-option checks a submit must pass; every refusal is a 400. */
    if (dcv_profile_from_json(p, profile_json ? profile_json : "", err, errlen) < 0)
        return -EINVAL;
    return dcv_profile_check(p, err, errlen);
}

/* The output name the user gets: the input's base name with the container's extension. */
void co_output_name(const char *in_name, const char *container, char *out, size_t len)
{
    char base[DCV_PROTO_HOST * 2];
    const char *ext = container && *container ? container : NULL;
    char *dot;

    copy_str(base, sizeof base, in_name && *in_name ? in_name : "output");
    if ((dot = strrchr(base, '.')) && dot != base) {
        if (!ext)
            ext = in_name + (dot - base) + 1;
        *dot = '\0';
    }
    if (!ext || !*ext)
        ext = "mkv";
    snprintf(out, len, "%s.%s", base, ext);
}

/* The profile's container, if it names one. */
void co_profile_container(const char *profile_json, char *out, size_t len)
{
    json_object *o = profile_json ? json_tokener_parse(profile_json) : NULL, *v;
    out[0] = '\0';
    if (o && json_object_object_get_ex(o, "container", &v) && json_object_is_type(v, json_type_string))
        copy_str(out, len, json_object_get_string(v));
    json_object_put(o);
}
