/*
 * admin.c (with admin_workers.c): the admin verbs, one REQUEST in, one
 * FINAL out. Called by coord.c only.
 */
#ifndef DCV_CO_ADMIN_H
#define DCV_CO_ADMIN_H

#include "coordinator/coord_int.h"

void co_admin_input(struct dcv_coord *c, const struct dcv_tx_peer *from,
                    const struct dcv_proto_msg *m);

#endif
