/*
 * A job process's last log lines (logtail.h).
 */
#include "worker/logtail.h"

#include <stdlib.h>
#include <string.h>

#include "worker/jobspec.h"

void dcv_logtail_add(struct dcv_logtail *t, const char *text, size_t len)
{
    char src[DCV_PROTO_LOG_LINE * 2];
    size_t i;

    /* More than a line's room is cut anyway; sanitize what can stay. */
    if (len > sizeof src - 1)
        len = sizeof src - 1;
    memcpy(src, text, len);
    src[len] = '\0';
    for (i = 0; i < len && (src[i] == ' ' || src[i] == '\t' || src[i] == '\r'); i++)
        ;
    if (i == len)
        return;
    dcv_text_sanitize(t->line[t->next], sizeof t->line[t->next], src);
    t->next = (t->next + 1) % DCV_PROTO_LOG_LINES;
    if (t->n < DCV_PROTO_LOG_LINES)
        t->n++;
}

void dcv_logtail_copy(const struct dcv_logtail *t, struct dcv_proto_failure *f)
{
    size_t keep = 0, bytes = 0;

    /* Newest first until the byte budget is spent: the end of a log says
     * most about why it ended. */
    while (keep < t->n) {
        size_t idx = (t->next + DCV_PROTO_LOG_LINES - 1 - keep) % DCV_PROTO_LOG_LINES;
        size_t l = strlen(t->line[idx]);
        if (bytes + l > DCV_PROTO_LOG_BYTES)
            break;
        bytes += l;
        keep++;
    }
    f->n_log_tail = keep;
    for (size_t i = 0; i < keep; i++) {
        size_t idx = (t->next + DCV_PROTO_LOG_LINES - keep + i) % DCV_PROTO_LOG_LINES;
        memcpy(f->log_tail[i], t->line[idx], sizeof f->log_tail[i]);
    }
}
