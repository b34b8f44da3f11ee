/*
 * control.c: the control plane's job messages from workers (ACCEPT,
 * REJECT, FAIL, PROGRESS, DONE), each checked against the fence of the
 * attempt out with that worker, and the attempts' lease (a JOB not
 * ACCEPTed in time, the grace after a restart). Called by coord.c only.
 */
#ifndef DCV_CO_CONTROL_H
#define DCV_CO_CONTROL_H

#include "coordinator/coord_int.h"

/* One received control-plane message. */
void co_on_control(struct dcv_coord *c, const struct dcv_tx_peer *from,
                   const struct dcv_proto_msg *m);
/* The tick's turn: expire unaccepted attempts; after a restart's grace,
 * give up the jobs whose workers did not come back. */
void attempts_cron(struct dcv_coord *c, uint64_t now);

#endif
