/*
 * progress.c: what the coordinator knows of a running attempt's progress
 * (PROGRESS, docs/protocol.md 3.5), the ETA it derives from it and when it
 * last moved, for `status`/`jobs`, /metrics and the stall detector
 * (stalls.c). Pure: no I/O, no clock of its own (callers pass the time),
 * so the arithmetic is unit-tested alone (tests/unit/test_progress.c).
 */
#ifndef DCV_CO_PROGRESS_H
#define DCV_CO_PROGRESS_H

#include <stdint.h>

#include <json-c/json.h>

#include "proto.h"

struct co_progress {
    int has;                      /* a PROGRESS (or a re-attach's figure) came */
    int phase;                    /* enum dcv_proto_phase */
    double pct;                   /* 0..100, of the current phase */
    double fps, speed;            /* -1 unknown */
    int64_t frames, frames_total; /* -1 unknown */
    uint64_t phase_at;            /* monotonic ms the current phase was first reported */
    uint64_t moved_at;            /* monotonic ms of the last report that moved; 0 = none yet */
    int64_t moved_wall_ms;        /* the same on the wall clock, for display */
    int stalled;                  /* flagged by the stall detector, until it moves again */
};

/* Before any report: figures unknown, nothing moved yet. */
void co_progress_init(struct co_progress *p);

/* Take a report in (now: monotonic ms, wall: wall-clock ms). Returns 1 when
 * it moved (a first report, a new phase, more frames or a higher pct: what
 * a stuck process cannot fake by repeating itself), else 0. */
int co_progress_update(struct co_progress *p, const struct dcv_proto_progress *m, uint64_t now,
                       int64_t wall);

/* Seconds until the current phase ends, -1 unknown: the frames left at the
 * reported fps when both counts are known, else the phase's elapsed time
 * scaled by what pct says is left; 0 at 100%. */
double co_progress_eta_s(const struct co_progress *p, uint64_t now);

/* Milliseconds since it last moved (0 before it ever did). */
uint64_t co_progress_idle_ms(const struct co_progress *p, uint64_t now);

/* The admin plane's "progress" object: phase, pct, frames, frames_total,
 * fps, speed (each only when known), eta_s (null when unknown), stalled,
 * idle_s and last_progress_ms (wall ms of the last move). NULL on ENOMEM. */
json_object *co_progress_json(const struct co_progress *p, uint64_t now);

#endif
