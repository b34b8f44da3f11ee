/*
 * An attempt's progress as the coordinator keeps it (progress.h).
 */
#include "coordinator/progress.h"

#include <string.h>

static const char *const phase_names[] = {"fetch", "encode", "upload", "verify"};

void co_progress_init(struct co_progress *p)
{
    memset(p, 0, sizeof *p);
    p->fps = p->speed = -1;
    p->frames = p->frames_total = -1;
}

int co_progress_update(struct co_progress *p, const struct dcv_proto_progress *m, uint64_t now,
                       int64_t wall)
{
    int moved = !p->has || m->phase != p->phase || m->pct > p->pct ||
                (m->frames >= 0 && m->frames > p->frames);

    if (!p->has || m->phase != p->phase)
        p->phase_at = now;
    p->has = 1;
    p->phase = m->phase;
    p->pct = m->pct;
    p->frames = m->frames;
    p->fps = m->fps;
    p->speed = m->speed;
    /* A total below what is done already is an estimate the encode outran. */
    p->frames_total = m->frames_total >= 0 && m->frames_total < m->frames ? m->frames
                                                                           : m->frames_total;
    if (moved) {
        p->moved_at = now;
        p->moved_wall_ms = wall;
        p->stalled = 0;
    }
    return moved;
}

double co_progress_eta_s(const struct co_progress *p, uint64_t now)
{
    double el;

    if (!p->has)
        return -1;
    if (p->frames >= 0 && p->frames_total >= 0 && p->fps > 0)
        return p->frames_total > p->frames ? (double)(p->frames_total - p->frames) / p->fps : 0;
    if (p->pct >= 100)
        return 0;
    if (p->pct <= 0 || now <= p->phase_at)
        return -1;
    el = (double)(now - p->phase_at) / 1000.0;
    return el * (100.0 - p->pct) / p->pct;
}

uint64_t co_progress_idle_ms(const struct co_progress *p, uint64_t now)
{
    return p->moved_at && now > p->moved_at ? now - p->moved_at : 0;
}

json_object *co_progress_json(const struct co_progress *p, uint64_t now)
{
    json_object *o = json_object_new_object();
    double eta = co_progress_eta_s(p, now);

    if (!o)
        return NULL;
    json_object_object_add(o, "phase", json_object_new_string(phase_names[p->phase & 3]));
    json_object_object_add(o, "pct", json_object_new_double(p->pct));
    if (p->frames >= 0)
        json_object_object_add(o, "frames", json_object_new_int64(p->frames));
    if (p->frames_total >= 0)
        json_object_object_add(o, "frames_total", json_object_new_int64(p->frames_total));
    if (p->fps >= 0)
        json_object_object_add(o, "fps", json_object_new_double(p->fps));
    if (p->speed >= 0)
        json_object_object_add(o, "speed", json_object_new_double(p->speed));
    /* Whole seconds: a tenth of a second of an estimate is noise. */
    json_object_object_add(o, "eta_s", eta >= 0 ? json_object_new_int64((int64_t)(eta + 0.5)) : NULL);
    json_object_object_add(o, "stalled", json_object_new_boolean(p->stalled));
    json_object_object_add(o, "idle_s", json_object_new_int64((int64_t)(co_progress_idle_ms(p, now) / 1000)));
    if (p->moved_wall_ms > 0)
        json_object_object_add(o, "last_progress_ms", json_object_new_int64(p->moved_wall_ms));
    return o;
}
