/*
 * Why queued jobs wait (waits.h).
 */
#include "coordinator/waits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/attempts.h"
#include "coordinator/registry.h"

/* While jobs wait a pass runs at least this often, so their reasons follow
 * the cluster even when nothing else triggers one. */
#define WAIT_REFRESH_MS 10000
/* An entry this old belongs to a job that left the queue or is beyond the
 * pass's batch. */
#define WAIT_STALE_MS 60000
/* A bound on the list (each entry ~1 KiB): the oldest notes go first. */
#define WAIT_MAX 4096

static struct co_wait **find_link(struct dcv_coord *c, const char *id)
{
    struct co_wait **pp = &c->disp.waits;
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

const struct co_wait *co_wait_note(struct dcv_coord *c, const char *id, const char *why,
                                   int unschedulable, int64_t wall)
{
    struct co_wait **pp = find_link(c, id), *w = *pp;

    if (!w) {
        if (c->disp.n_waits >= WAIT_MAX) {
            /* Drop the least recently noted one. */
            struct co_wait **old = &c->disp.waits;
            for (struct co_wait **q = &c->disp.waits; *q; q = &(*q)->next)
                if ((*q)->seen < (*old)->seen)
                    old = q;
            struct co_wait *victim = *old;
            *old = victim->next;
            free(victim);
            c->disp.n_waits--;
        }
        if (!(w = calloc(1, sizeof *w)))
            return NULL;
        snprintf(w->id, sizeof w->id, "%s", id);
        w->next = c->disp.waits;
        c->disp.waits = w;
        c->disp.n_waits++;
    }
    snprintf(w->why, sizeof w->why, "%s", why);
    if (!unschedulable)
        w->since_ms = 0;
    else if (!w->unschedulable || !w->since_ms)
        w->since_ms = wall;
    w->unschedulable = unschedulable;
    w->seen = co_now();
    return w;
}

void co_wait_clear(struct dcv_coord *c, const char *id)
{
    struct co_wait **pp = find_link(c, id), *w = *pp;
    if (w) {
        *pp = w->next;
        free(w);
        c->disp.n_waits--;
    }
}

const struct co_wait *co_wait_find(const struct dcv_coord *c, const char *id)
{
    for (const struct co_wait *w = c->disp.waits; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

void co_wait_text(const struct dcv_coord *c, const struct co_wait *w, char *buf, size_t len)
{
    size_t online = 0;

    buf[0] = '\0';
    for (const struct co_worker *k = c->reg.workers; k; k = k->next)
        online += co_worker_eligible(k) ? 1 : 0;
    if (!online)
        snprintf(buf, len, "no worker online");
    else if (w && w->unschedulable)
        snprintf(buf, len, "no worker can run it: %s", w->why);
    else if (w)
        snprintf(buf, len, "%s", w->why);
}

void waits_cron(struct dcv_coord *c, uint64_t now)
{
    struct co_wait **pp = &c->disp.waits;

    if (c->disp.waits && now - c->disp.last_pass >= WAIT_REFRESH_MS)
        co_dispatch_soon(c);
    while (*pp) {
        struct co_wait *w = *pp;
        if (now - w->seen > WAIT_STALE_MS) {
            *pp = w->next;
            free(w);
            c->disp.n_waits--;
        } else {
            pp = &w->next;
        }
    }
}

void co_waits_free(struct dcv_coord *c)
{
    while (c->disp.waits) {
        struct co_wait *w = c->disp.waits;
        c->disp.waits = w->next;
        free(w);
    }
    c->disp.n_waits = 0;
}
