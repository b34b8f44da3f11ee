/*
 * dispatch.c: placing queued jobs. A pass builds the scheduler's views of
 * the registry, gates each job's input, applies the GPU policy and sends
 * JOBs (c->disp: the cursor, size hints, the next back-off and GPU-wait
 * deadlines). Called by coord.c only: other files ask for a pass with
 * co_dispatch_soon() (attempts.h).
 */
#ifndef DCV_CO_DISPATCH_H
#define DCV_CO_DISPATCH_H

#include "coordinator/coord_int.h"

/* One dispatch pass (the target of c->att.dispatch). */
void co_dispatch(struct dcv_coord *c);
/* The tick's turn: back-offs over, GPU waits timed out, holds expired. */
void dispatch_cron(struct dcv_coord *c, uint64_t now);
void co_dispatch_free(struct dcv_coord *c);

#endif
