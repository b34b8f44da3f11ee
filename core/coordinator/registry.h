/*
 * registry.c: the workers (c->reg): HELLO (admit, reconcile the store with
 * what the worker runs, update), heartbeats, liveness, and losing a worker.
 * Only registry.c adds, removes or changes a worker record, except the
 * operator's drain flag (admin). Called by control.c, dispatch.c,
 * dataplane.c, admin.c and coord.c.
 */
#ifndef DCV_CO_REGISTRY_H
#define DCV_CO_REGISTRY_H

#include "coordinator/coord_int.h"
#include "profile.h"

struct co_worker *co_worker_find(struct dcv_coord *c, const char *id);
struct co_worker *co_worker_by_peer(struct dcv_coord *c, const struct dcv_tx_peer *p);
int co_worker_reads_path(const struct co_worker *w, const char *file);
int co_worker_eligible(const struct co_worker *w);

/* The store's active jobs (of one worker), copied by co_collect_active. */
struct co_active {
    size_t n, cap;
    struct act {
        char id[DCV_PROTO_JOB_ID];
        int attempt;
        enum dcv_job_state state;
        char session[DCV_PROTO_ID];
        char worker[DCV_PROTO_ID];
    } *v;
    int err;
};
int co_collect_active(const struct dcv_job *j, void *ud);

/* A worker is gone (silent, DISCONNECT, unenrolled): its attempts are lost. */
void co_worker_lost(struct dcv_coord *c, struct co_worker *w, const char *why);
/* The worker said DISCONNECT: the same, logged as a departure, not a loss. */
void co_worker_left(struct dcv_coord *c, struct co_worker *w, const char *reason);
void co_peer_gone(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p);
void co_on_hello(struct dcv_coord *c, const struct dcv_tx_peer *from, const void *body, size_t len);
void co_on_heartbeat(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_heartbeat *m);
/* Could any plugin anywhere run this profile? 0, or -EINVAL with the reason
 * when its codec or encoder is a name no plugin offers: one of the known
 * codecs, the standard plugin families and this FFmpeg's encoders, or what
 * any worker ever registered here (online or not) said it offers; or when
 * it asks for gpu-policy fallback with an encoder those workers' devices
 * all report as hardware (DCV_CAP_HARDWARE): nothing to fall back to. */
int co_profile_known(struct dcv_coord *c, const struct dcv_profile *p, char *err, size_t errlen);
/* The tick's turn: liveness, the end of busy pauses, heartbeats to send. */
void registry_cron(struct dcv_coord *c, uint64_t now);
void co_registry_free(struct dcv_coord *c);

#endif
