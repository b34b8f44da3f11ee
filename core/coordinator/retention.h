/*
 * retention.c: how long the coordinator keeps blobs (storage.* settings,
 * docs/operations.md "Blob retention"), the removal of ended jobs (`rm`,
 * `purge`) and the sweep of blob files no record needs. It never removes
 * a blob a job that has not ended, an upload or output being received, or
 * a registered download still uses; an upload serves every job that names
 * its xfer_id and goes only when none of them needs it. Order: the store
 * first (the record says "removed", or is gone), then the file, so a
 * crash between leaves a file the sweep takes, never a record pointing at
 * nothing. Called by coord.c (the cron) and admin_storage.c.
 */
#ifndef DCV_CO_RETENTION_H
#define DCV_CO_RETENTION_H

#include "coordinator/coord_int.h"

/* The tick's turn: a retention pass when one is due; the orphan sweep at
 * the first turn and hourly. */
void retention_cron(struct dcv_coord *c, uint64_t now);

/* What removing an ended job frees: its own files, and its upload when no
 * other job names it (*xfer_id 0 when it has none of ours). */
struct co_job_blobs {
    int64_t own_bytes;
    int64_t xfer_id, input_bytes;
    int input_shared; /* other jobs name the same upload */
};
int co_job_blobs(struct dcv_coord *c, const struct dcv_job *j, struct co_job_blobs *out);

/* Remove an ended job: the record, then its files, then its upload unless
 * another job names it. 0 with *bytes freed; -ENOENT unknown; -EBUSY not
 * ended; -EAGAIN a download of its blobs is under way; err says which. */
int co_job_remove(struct dcv_coord *c, const char *job_id, int64_t *bytes, char *err,
                  size_t errlen);

/* 1 when a receive, a download under way or one registered by `get` and
 * not yet fetched whole uses path. */
int co_blob_held(struct dcv_coord *c, const char *path);

#endif
