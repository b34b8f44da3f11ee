/*
 * The worker's outbox (worker_int.h): messages to the coordinator go
 * through one FIFO so they keep their order when a send would block. A
 * job's final message (DONE, FAIL, or REJECT for an attempt that never
 * started) survives reconnects: the job stays listed in HELLO.running until
 * that message is sent, so the coordinator does not requeue an attempt
 * whose outcome is on its way. Everything else (ACCEPT, PROGRESS, busy
 * REJECTs) is dropped on reconnect: HELLO.running re-attaches the attempt
 * instead.
 */
#include "worker/worker_int.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "net.h"

/* Invariant: a job has at most one final message, and is not freed while
 * it sits in the outbox (wk_gc_jobs waits for its outcome SENT, set when popped). */
struct outmsg {
    struct outmsg *next;
    int cmd;
    char *json;
    struct wjob *final_of; /* non-NULL: this is that job's final message */
};

static int queue_msg(struct dcv_worker *w, int cmd, char *json, struct wjob *final_of)
{
    struct outmsg *m = calloc(1, sizeof *m);
    if (!m) {
        free(json);
        dcv_log(DCV_LOG_ERROR, COMP, "out of memory: %s dropped",
                dcv_proto_cmd_name(DCV_PLANE_CONTROL, cmd));
        return -ENOMEM;
    }
    m->cmd = cmd;
    m->json = json;
    m->final_of = final_of;
    if (final_of)
        wjob_step(final_of, WJ_EV_QUEUE);
    if (w->out_tail)
        w->out_tail->next = m;
    else
        w->out_head = m;
    w->out_tail = m;
    return 0;
}

/* Send queued messages in order while the socket takes them. */
void wk_flush(struct dcv_worker *w)
{
    char err[256];

    while (w->state == CONN_READY && w->out_head) {
        struct outmsg *m = w->out_head;
        int r = dcv_sock_send_json(w->sock, NULL, m->cmd, m->json, err, sizeof err);
        if (r == -EAGAIN)
            return; /* next tick */
        if (r < 0)
            dcv_log(DCV_LOG_ERROR, COMP, "%s dropped: %s",
                    dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd), err);
        if (m->final_of)
            wjob_step(m->final_of, WJ_EV_SENT);
        w->out_head = m->next;
        if (!w->out_head)
            w->out_tail = NULL;
        free(m->json);
        free(m);
    }
}

/* A new connection: what only made sense on the old one goes. */
void wk_drop_transient(struct dcv_worker *w)
{
    struct outmsg **pp = &w->out_head;
    w->out_tail = NULL;
    while (*pp) {
        struct outmsg *m = *pp;
        if (!m->final_of) {
            *pp = m->next;
            free(m->json);
            free(m);
        } else {
            /* The next HELLO lists the attempt as running, so the
             * coordinator re-attaches it: from RUNNING a REJECT is not a
             * legal event, a FAIL is, and the bodies are identical. */
            if (m->cmd == DCV_CMD_REJECT && wjob_spawned(m->final_of))
                m->cmd = DCV_CMD_FAIL;
            w->out_tail = m;
            pp = &m->next;
        }
    }
}

void wk_send(struct dcv_worker *w, int cmd, const void *body, struct wjob *final_of)
{
    char *json = NULL, err[512];
    size_t len;
    /* Only a final message outlives the connection it was meant for. */
    if (w->state != CONN_READY && !final_of)
        return;
    if (dcv_proto_encode(DCV_PLANE_CONTROL, cmd, body, &json, &len, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, COMP, "cannot encode %s: %s",
                dcv_proto_cmd_name(DCV_PLANE_CONTROL, cmd), err);
        if (final_of)
            wjob_step(final_of, WJ_EV_SENT); /* nothing better will come */
        return;
    }
    if (queue_msg(w, cmd, json, final_of) == 0)
        wk_flush(w);
}

void wk_outbox_free(struct dcv_worker *w)
{
    while (w->out_head) {
        struct outmsg *m = w->out_head;
        w->out_head = m->next;
        free(m->json);
        free(m);
    }
    w->out_tail = NULL;
}
