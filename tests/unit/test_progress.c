/*
 * An attempt's progress as the coordinator keeps it (core/coordinator/
 * progress.c, issue 12): what counts as moving (the stall detector's input),
 * the ETA from frames and fps or from pct and the phase's elapsed time, and
 * the admin plane's "progress" object.
 */
#include <stdint.h>
#include <string.h>

#include "coordinator/progress.h"
#include "jsonutil.h"
#include "tap.h"

static struct dcv_proto_progress msg(int phase, double pct, int64_t frames, int64_t total,
                                     double fps, double speed)
{
    struct dcv_proto_progress m;
    memset(&m, 0, sizeof m);
    m.phase = phase;
    m.pct = pct;
    m.frames = frames;
    m.frames_total = total;
    m.fps = fps;
    m.speed = speed;
    return m;
}

static void test_moves(void)
{
    struct co_progress p;
    struct dcv_proto_progress m;

    co_progress_init(&p);
    TAP_OK(!p.has && co_progress_idle_ms(&p, 5000) == 0, "nothing reported: never idle");
    TAP_OK(co_progress_eta_s(&p, 5000) < 0, "nothing reported: no ETA");
    m = msg(DCV_PHASE_FETCH, 0, -1, -1, -1, -1);
    TAP_OK(co_progress_update(&p, &m, 1000, 111), "the first report moves");
    TAP_OK(!co_progress_update(&p, &m, 2000, 222), "the same report again does not");
    TAP_IS_INT((int64_t)co_progress_idle_ms(&p, 4000), 3000, "idle since the first report");
    m = msg(DCV_PHASE_ENCODE, 0, 0, 250, -1, -1);
    TAP_OK(co_progress_update(&p, &m, 5000, 555), "a new phase moves (even at 0%%)");
    TAP_IS_INT((int64_t)p.phase_at, 5000, "the phase starts then");
    m = msg(DCV_PHASE_ENCODE, 0, 10, 250, 5, 0.2);
    TAP_OK(co_progress_update(&p, &m, 6000, 666), "more frames move");
    m = msg(DCV_PHASE_ENCODE, 4, 10, 250, 5, 0.2);
    TAP_OK(co_progress_update(&p, &m, 7000, 777), "a higher pct moves");
    p.stalled = 1;
    m = msg(DCV_PHASE_ENCODE, 4, 10, 250, 4, 0.2);
    TAP_OK(!co_progress_update(&p, &m, 9000, 999) && p.stalled,
           "a lower fps with the same frames and pct is no progress: still stalled");
    TAP_IS_INT(p.moved_wall_ms, 777, "the last move's wall time is kept");
    m = msg(DCV_PHASE_ENCODE, 5, 11, 250, 4, 0.2);
    TAP_OK(co_progress_update(&p, &m, 10000, 1000) && !p.stalled, "moving again clears the flag");
    m = msg(DCV_PHASE_ENCODE, 6, 300, 250, 4, 0.2);
    co_progress_update(&p, &m, 11000, 1100);
    TAP_IS_INT(p.frames_total, 300, "a total below the frames done is raised to them");
}

static void test_eta(void)
{
    struct co_progress p;
    struct dcv_proto_progress m;

    co_progress_init(&p);
    m = msg(DCV_PHASE_ENCODE, 40, 100, 250, 50, 2);
    co_progress_update(&p, &m, 1000, 1);
    TAP_OK(co_progress_eta_s(&p, 1000) == 3.0, "frames left / fps: 150 / 50 = 3 s");
    m = msg(DCV_PHASE_ENCODE, 100, 250, 250, 50, 2);
    co_progress_update(&p, &m, 2000, 2);
    TAP_OK(co_progress_eta_s(&p, 2000) == 0.0, "all frames done: 0");

    co_progress_init(&p);
    m = msg(DCV_PHASE_UPLOAD, 0, -1, -1, -1, -1);
    co_progress_update(&p, &m, 10000, 1);
    TAP_OK(co_progress_eta_s(&p, 10000) < 0, "0%% of a phase: unknown");
    m = msg(DCV_PHASE_UPLOAD, 25, -1, -1, -1, -1);
    co_progress_update(&p, &m, 14000, 2);
    TAP_OK(co_progress_eta_s(&p, 14000) == 12.0, "25%% in 4 s: 12 s left (from pct and elapsed)");
    m = msg(DCV_PHASE_UPLOAD, 100, -1, -1, -1, -1);
    co_progress_update(&p, &m, 15000, 3);
    TAP_OK(co_progress_eta_s(&p, 15000) == 0.0, "100%%: 0");

    co_progress_init(&p);
    m = msg(DCV_PHASE_ENCODE, 30, 10, -1, 0, -1);
    co_progress_update(&p, &m, 1000, 1);
    TAP_OK(co_progress_eta_s(&p, 1000) < 0, "no total, no time elapsed yet: unknown");
    TAP_OK(co_progress_eta_s(&p, 4000) == 7.0, "no total: 30%% in 3 s leaves 7 s");
}

static void test_json(void)
{
    struct co_progress p;
    struct dcv_proto_progress m;
    json_object *o;

    co_progress_init(&p);
    m = msg(DCV_PHASE_ENCODE, 40, 100, 250, 50, 1.9);
    co_progress_update(&p, &m, 1000, 1700000000000);
    o = co_progress_json(&p, 3500);
    TAP_OK(o && !strcmp(dcv_json_str(o, "phase", ""), "encode") &&
               dcv_json_int(o, "frames", -1) == 100 && dcv_json_int(o, "frames_total", -1) == 250 &&
               dcv_json_dbl(o, "fps", -1) == 50 && dcv_json_dbl(o, "speed", -1) == 1.9 &&
               dcv_json_int(o, "eta_s", -1) == 3 && !dcv_json_bool(o, "stalled") &&
               dcv_json_int(o, "idle_s", -1) == 2 &&
               dcv_json_int(o, "last_progress_ms", 0) == 1700000000000,
           "the progress object: %s", o ? json_object_to_json_string(o) : "(null)");
    json_object_put(o);

    co_progress_init(&p);
    m = msg(DCV_PHASE_VERIFY, 0, -1, -1, -1, -1);
    co_progress_update(&p, &m, 1000, 5);
    p.stalled = 1;
    o = co_progress_json(&p, 1000);
    {
        json_object *v = NULL;
        TAP_OK(o && json_object_object_get_ex(o, "eta_s", &v) && v == NULL &&
                   !json_object_object_get_ex(o, "frames", NULL) &&
                   !json_object_object_get_ex(o, "fps", NULL) && dcv_json_bool(o, "stalled"),
               "unknown figures left out, eta_s null, stalled true: %s",
               o ? json_object_to_json_string(o) : "(null)");
    }
    json_object_put(o);
}

int main(void)
{
    test_moves();
    test_eta();
    test_json();
    return tap_done();
}
