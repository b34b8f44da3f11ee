/*
 * The worker's tail of a job process's log (core/worker/logtail.c): the
 * newest lines, oldest first, made protocol texts whatever the job process
 * wrote (binary, control characters, overlong lines), within the limits of
 * REJECT/FAIL.log_tail, so the FAIL that carries them always encodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "tap.h"
#include "worker/logtail.h"

static void add(struct dcv_logtail *t, const char *s)
{
    dcv_logtail_add(t, s, strlen(s));
}

/* The tail as a FAIL would carry it encodes and decodes. */
static int encodes(const struct dcv_proto_failure *f)
{
    char *j = NULL, err[512];
    size_t l;
    int r = dcv_proto_fail_to_json(f, &j, &l, err, sizeof err);
    if (r < 0)
        tap_diag("%s", err);
    free(j);
    return r == 0;
}

int main(void)
{
    struct dcv_logtail *t = calloc(1, sizeof *t);
    struct dcv_proto_failure *f = calloc(1, sizeof *f);
    char line[4096];

    if (!t || !f)
        tap_bail("out of memory");
    snprintf(f->fence.job_id, sizeof f->fence.job_id, "%032x", 1);
    f->fence.attempt = 1;
    snprintf(f->fence.session, sizeof f->fence.session, "s");
    f->code = DCV_CODE_ENCODE;
    snprintf(f->message, sizeof f->message, "m");

    dcv_logtail_copy(t, f);
    TAP_IS_INT(f->n_log_tail, 0, "an empty tail copies no line");
    add(t, "first");
    add(t, "   ");
    add(t, "");
    add(t, "second");
    dcv_logtail_copy(t, f);
    TAP_OK(f->n_log_tail == 2 && !strcmp(f->log_tail[0], "first") && !strcmp(f->log_tail[1], "second"),
           "lines oldest first, blank ones not kept");

    for (int i = 0; i < 30; i++) {
        snprintf(line, sizeof line, "line %d", i);
        add(t, line);
    }
    dcv_logtail_copy(t, f);
    TAP_OK(f->n_log_tail == DCV_PROTO_LOG_LINES && !strcmp(f->log_tail[0], "line 10") &&
               !strcmp(f->log_tail[DCV_PROTO_LOG_LINES - 1], "line 29"),
           "the newest %d lines are kept", DCV_PROTO_LOG_LINES);

    dcv_logtail_add(t, "bin\x01\x1b[31mred\x7f\xff\xfe end\r", 21);
    dcv_logtail_copy(t, f);
    TAP_IS_STR(f->log_tail[f->n_log_tail - 1], "bin  [31mred ?? end ",
               "control characters become spaces, invalid bytes '?'");
    dcv_logtail_add(t, "nul\0hidden", 10);
    dcv_logtail_copy(t, f);
    TAP_IS_STR(f->log_tail[f->n_log_tail - 1], "nul", "a NUL ends the line");

    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    memcpy(line + DCV_PROTO_LOG_LINE - 2, "\xc3\xa9", 2); /* a character across the cut */
    for (int i = 0; i < DCV_PROTO_LOG_LINES; i++)
        add(t, line);
    dcv_logtail_copy(t, f);
    TAP_OK(strlen(f->log_tail[0]) == DCV_PROTO_LOG_LINE - 2,
           "an overlong line is cut before a character that would not fit (%zu bytes)",
           strlen(f->log_tail[0]));
    TAP_OK(f->n_log_tail == DCV_PROTO_LOG_BYTES / (DCV_PROTO_LOG_LINE - 2),
           "only the newest lines within %d bytes in all (%zu lines)", DCV_PROTO_LOG_BYTES,
           f->n_log_tail);
    TAP_OK(encodes(f), "the tail always encodes in a FAIL");
    add(t, "after");
    dcv_logtail_copy(t, f);
    TAP_IS_STR(f->log_tail[f->n_log_tail - 1], "after", "the newest line is always last");
    TAP_OK(encodes(f), "... and encodes");
    free(t);
    free(f);
    return tap_done();
}
