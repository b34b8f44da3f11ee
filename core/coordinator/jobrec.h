/*
 * jobrec.c: the stored job records the coordinator reads: the input
 * description (input_json), the profile (profile_json) and the output's
 * name. No state; any coordinator file may call these.
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
};
struct dcv_profile;
/* Apply every key of a flat profile JSON object with dcv_profile_set(). */
int co_profile_parse(const char *profile_json, struct dcv_profile *p, char *err, size_t errlen);
int co_input_parse(struct dcv_coord *c, const char *input_json, struct co_input *in, char *err,
                   size_t errlen);
/* JOB.input for a worker that reads the file itself (kind path), with
 * what the coordinator recorded of it for the job process to compare. */
void co_input_to_path_job(const struct co_input *in, struct dcv_proto_input *out);
/* The output name the user gets: the input's base name with the container's extension. */
void co_output_name(const char *in_name, const char *container, char *out, size_t len);
/* The profile's container, if it names one ("" otherwise). */
void co_profile_container(const char *profile_json, char *out, size_t len);

#endif
