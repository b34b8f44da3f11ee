/*
 * The last lines a job process logged, kept by the worker so a failed
 * attempt can carry them to the coordinator (REJECT/FAIL.log_tail,
 * docs/protocol.md §3.5): a ring of DCV_PROTO_LOG_LINES protocol texts.
 */
#ifndef DCV_WORKER_LOGTAIL_H
#define DCV_WORKER_LOGTAIL_H

#include <stddef.h>

#include "proto.h"

struct dcv_logtail {
    char line[DCV_PROTO_LOG_LINES][DCV_PROTO_LOG_LINE];
    size_t next; /* where the next line goes */
    size_t n;    /* lines held */
};

/* Keep text (len bytes, need not be NUL-terminated) as the newest line,
 * made a protocol text: cut at a character boundary, control characters
 * as spaces, invalid UTF-8 as '?'. Blank lines are not kept. */
void dcv_logtail_add(struct dcv_logtail *t, const char *text, size_t len);

/* Copy the newest lines that fit DCV_PROTO_LOG_BYTES into f->log_tail,
 * oldest first. */
void dcv_logtail_copy(const struct dcv_logtail *t, struct dcv_proto_failure *f);

#endif
