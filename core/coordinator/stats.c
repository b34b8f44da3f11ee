/*
 * Counters and histograms for /metrics (stats.h).
 */
#include "coordinator/stats.h"

#include <string.h>

/* Seconds: a short clip is placed or encoded within seconds, a film in
 * hours; the bounds are http_metrics.c's `le` labels. */
const double co_hist_bounds[CO_HIST_BOUNDS] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600,
                                               7200, 21600};

void co_stats_submitted(struct dcv_coord *c)
{
    c->stats.submitted++;
}

void co_stats_event(struct dcv_coord *c, int ev, int state)
{
    if (ev < 0 || ev >= DCV_EV_COUNT)
        return;
    switch (ev) {
    case DCV_EV_SUCCEED:
    case DCV_EV_REJECT:
    case DCV_EV_FAIL_RETRYABLE:
    case DCV_EV_FAIL_PERMANENT:
    case DCV_EV_WORKER_LOST:
    case DCV_EV_REQUEUE_BUSY:
        c->stats.attempts[ev]++;
        break;
    default:
        break;
    }
    /* The events that end a job; a retry brings it back, counted again. */
    if ((state == DCV_JOB_DONE && ev == DCV_EV_SUCCEED) ||
        (state == DCV_JOB_FAILED && ev != DCV_EV_RETRY) ||
        (state == DCV_JOB_CANCELLED && ev == DCV_EV_CANCEL))
        c->stats.ended[state]++;
}

static void observe(struct co_hist *h, size_t *n, const char *codec, const char *family,
                    double v)
{
    struct co_hist *e = NULL;
    size_t b = 0;

    codec = codec && *codec ? codec : "unknown";
    family = family && *family ? family : "unknown";
    for (size_t i = 0; i < *n && !e; i++)
        if (strcmp(h[i].codec, codec) == 0 && strcmp(h[i].family, family) == 0)
            e = &h[i];
    if (!e && *n < CO_HIST_SERIES - 1) {
        e = &h[(*n)++];
        copy_str(e->codec, sizeof e->codec, codec);
        copy_str(e->family, sizeof e->family, family);
    }
    if (!e) { /* bounded cardinality: the last series takes the rest */
        e = &h[CO_HIST_SERIES - 1];
        if (*n < CO_HIST_SERIES) {
            (*n)++;
            copy_str(e->codec, sizeof e->codec, "other");
            copy_str(e->family, sizeof e->family, "other");
        }
    }
    if (v < 0)
        v = 0;
    while (b < CO_HIST_BOUNDS && v > co_hist_bounds[b])
        b++;
    e->bucket[b]++;
    e->count++;
    e->sum += v;
}

void co_stats_queue_wait(struct dcv_coord *c, const char *codec, const char *family,
                         double seconds)
{
    observe(c->stats.wait, &c->stats.n_wait, codec, family, seconds);
}

void co_stats_run_time(struct dcv_coord *c, const char *codec, const char *family,
                       double seconds)
{
    observe(c->stats.run, &c->stats.n_run, codec, family, seconds);
}
