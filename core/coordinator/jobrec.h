/*
 * jobrec.c: the stored job records: the input description (input_json,
 * written at submit), the output description (output_json, written when a
 * job is done) and the profile (profile_json). Every key of a stored record
 * appears in this file only: the others fill or read the structs below.
 * No state; any coordinator file may call these.
 */
#ifndef DCV_CO_JOBREC_H
#define DCV_CO_JOBREC_H

#include "coordinator/coord_int.h"

/* The job's stored input description (input_json), parsed. */
struct co_input {
    int kind;  /* DCV_SUBMIT_UPLOAD, DCV_SUBMIT_PATH or DCV_SUBMIT_URL (path = the URL) */
    int64_t xfer_id, size;
    char sha[DCV_PROTO_SHA]; /* "" when not known yet (path) */
    char path[PATH_MAX];     /* the file on the coordinator */
    char name[DCV_PROTO_HOST * 2];
    int64_t mtime;           /* path: seconds since the epoch at submit; 0 unknown */
    char submitter[DCV_PROTO_HOST]; /* who submitted it ("" before security, or none) */
};

/* The job's stored output description (output_json). */
struct co_output {
    char outcome[32];          /* encoded | skipped | kept-original (older records: encoded) */
    char note[DCV_PROTO_TEXT]; /* "" none */
    char file[64];             /* the blob in the job's directory; "" = no output file */
    char name[600];            /* what `get` names it (co_output_name) */
    int64_t size;              /* -1 unknown */
    char sha[DCV_PROTO_SHA];
    int64_t frames, elapsed_ms; /* -1 unknown */
    int has_encoder;
    char plugin[DCV_PROTO_ID], encoder[DCV_PROTO_ID], device_id[DCV_PROTO_HOST];
    char worker[DCV_PROTO_ID];
};
struct dcv_profile;
/* Apply every key of a flat profile JSON object with dcv_profile_set(). */
int co_profile_parse(const char *profile_json, struct dcv_profile *p, char *err, size_t errlen);
/* 0, or -EINVAL with the reason when the record is unusable; the common
 * fields (size, name, submitter, ...) are filled even then. */
int co_input_parse(struct dcv_coord *c, const char *input_json, struct co_input *in, char *err,
                   size_t errlen);
/* The record a new job stores for in (kind, its fields, name, submitter).
 * Malloc'd JSON; NULL when out of memory. */
char *co_input_record(const struct co_input *in);
/* The record of a done job; malloc'd JSON, NULL when out of memory. */
char *co_output_record(const struct co_output *out);
/* 0, or -EINVAL when output_json is not an object (out then says nothing:
 * outcome "", file ""). */
int co_output_parse(const char *output_json, struct co_output *out);
/* JOB.input for a worker that reads the file itself (kind path), with
 * what the coordinator recorded of it for the job process to compare. */
void co_input_to_path_job(const struct co_input *in, struct dcv_proto_input *out);
/* The output name the user gets: the input's base name with the container's extension. */
void co_output_name(const char *in_name, const char *container, char *out, size_t len);
/* The profile's container, if it names one ("" otherwise). */
void co_profile_container(const char *profile_json, char *out, size_t len);

#endif
