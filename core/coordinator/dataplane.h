/*
 * dataplane.c: the data-plane server's callbacks, which map transfers to
 * blob files (uploads, inputs, outputs, downloads), and the garbage
 * collection of abandoned parts (c->dp). Called by coord.c only; admin.c
 * adds downloads to c->dp.downloads.
 */
#ifndef DCV_CO_DATAPLANE_H
#define DCV_CO_DATAPLANE_H

#include "coordinator/coord_int.h"

extern const struct dcv_xsrv_cbs co_xsrv_cbs;
void co_on_data(struct dcv_coord *c, const struct dcv_tx_peer *from, const struct dcv_proto_msg *m);
/* Remove parts nobody will finish (blobs.h, dcv_blobs_gc). */
void co_gc_sweep(struct dcv_coord *c, const char *when);
/* The tick's turn: periodic GC, expired downloads, an overdue pump. */
void dataplane_cron(struct dcv_coord *c, uint64_t now);
void co_dataplane_free(struct dcv_coord *c);

#endif
