/*
 * store_retention.c: what the job store records about a job's blobs for
 * retention (core/coordinator/retention.h) and for removing jobs (`rm`,
 * `purge`): the output's first whole download, the removal of its input
 * and output by retention, and the queries that find what is due. Same
 * contract as store.h (0 or -errno with err). A job "ended" when it became
 * done, failed or cancelled: its updated_ms, which nothing moves after.
 */
#ifndef DCV_STORE_RETENTION_H
#define DCV_STORE_RETENTION_H

#include "coordinator/store.h"

struct dcv_blob_facts {
    int64_t downloaded_ms;     /* the output's first whole download (wall ms), 0 none */
    int64_t input_removed_ms;  /* its uploaded input was removed by retention, 0 not */
    int64_t output_removed_ms; /* its output was removed by retention, 0 not */
};

/* The job's facts; all 0 when nothing was recorded. */
int dcv_store_blob_facts(struct dcv_store *s, const char *job_id, struct dcv_blob_facts *out,
                         char *err, size_t errlen);
/* The output was downloaded whole at when_ms; only the first one counts. */
int dcv_store_note_downloaded(struct dcv_store *s, const char *job_id, int64_t when_ms, char *err,
                              size_t errlen);
/* Retention removes the job's output (what 1) now: recorded BEFORE the file
 * goes, so a crash between leaves a file to sweep, never a record pointing
 * at nothing. */
int dcv_store_note_output_removed(struct dcv_store *s, const char *job_id, int64_t when_ms,
                                  char *err, size_t errlen);
/* The same for upload xfer_id: every job that names it as its input. */
int dcv_store_note_upload_removed(struct dcv_store *s, int64_t xfer_id, int64_t when_ms,
                                  char *err, size_t errlen);

/* Jobs naming upload xfer_id as their input (*jobs), and of those, how many
 * are not marked removed (*live). */
int dcv_store_upload_refs(struct dcv_store *s, int64_t xfer_id, int64_t *jobs, int64_t *live,
                          char *err, size_t errlen);

/* Done jobs whose output retention may remove: not removed yet, ended and
 * (if downloaded) first downloaded at or before cutoff_ms, and downloaded
 * at all when need_download. cb gets the id and the output description;
 * non-zero stops and is returned. */
typedef int (*dcv_store_output_cb)(const char *job_id, const char *output_json, void *ud);
int dcv_store_outputs_due(struct dcv_store *s, int64_t cutoff_ms, int need_download,
                          dcv_store_output_cb cb, void *ud, char *err, size_t errlen);
/* Uploads every job of which ended at or before cutoff_ms and that some
 * job still counts as present. */
typedef int (*dcv_store_upload_cb)(int64_t xfer_id, void *ud);
int dcv_store_uploads_due(struct dcv_store *s, int64_t cutoff_ms, dcv_store_upload_cb cb,
                          void *ud, char *err, size_t errlen);

/* Jobs that ended before before_ms, oldest first (purge). */
int dcv_store_list_ended(struct dcv_store *s, int64_t before_ms, dcv_store_job_cb cb, void *ud,
                         char *err, size_t errlen);
/* Delete an ended job's record (attempts, history and facts go with it).
 * -EBUSY when it is not done, failed or cancelled; -ENOENT unknown. */
int dcv_store_delete_ended(struct dcv_store *s, const char *job_id, char *err, size_t errlen);

#endif
