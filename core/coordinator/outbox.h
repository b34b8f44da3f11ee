/*
 * outbox.c: every send of the coordinator. Sends never block: a full peer
 * queue parks the message in an ordered per-peer backlog (c->out) retried
 * from a timer and the tick. A peer found gone is reported through
 * c->out.on_gone, so this file calls no registry code. Any file above
 * attempts.c may send; only outbox.c touches c->out.
 */
#ifndef DCV_CO_OUTBOX_H
#define DCV_CO_OUTBOX_H

#include "coordinator/coord_int.h"

/* Send on a socket to a peer, queueing on -EAGAIN; -EHOSTUNREACH when gone. */
int co_send(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
            const char *body, size_t len);
/* Encode msg (the command's struct, dcv_proto_encode) and co_send it. The
 * encoder's refusal, if any, goes to err (may be NULL) and the log. */
int co_send_msg(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
                const void *msg, char *err, size_t errlen);
void co_send_disconnect(struct dcv_coord *c, const struct dcv_tx_peer *to, const char *reason);
/* Tell worker w (NULL: nobody) to stop an attempt (CANCEL with its fence), best effort. */
void co_send_cancel(struct dcv_coord *c, const struct co_worker *w, const char *job_id,
                    int attempt, const char *session, const char *reason);
void co_send_drain(struct dcv_coord *c, struct co_worker *w);
/* Forget what waits for peer p on s (it is gone or reconnected). */
void co_drop_backlog(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p);
/* The tick's turn: send what the peers can take now. */
void co_outbox_flush(struct dcv_coord *c);
void co_outbox_free(struct dcv_coord *c);

#endif
