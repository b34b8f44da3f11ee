/*
 * A job's scratch directory under the worker's work_dir: what the worker
 * and its job processes both do to it. Links inside are never followed
 * (a job's files must not reach outside its directory).
 */
#ifndef DCV_WORKER_WORKDIR_H
#define DCV_WORKER_WORKDIR_H

#include <stdint.h>

/* Remove dir and everything below it; entries that cannot be removed are
 * logged (component `comp`) and skipped. A missing dir is fine. */
void dcv_workdir_remove(const char *dir, const char *comp);

/* Bytes allocated under dir (blocks, links not followed); 0 when missing. */
int64_t dcv_workdir_usage(const char *dir);

#endif
