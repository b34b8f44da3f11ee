/*
 * admin.c (with admin_workers.c): the admin verbs, one REQUEST in, one
 * FINAL out. Called by coord.c only.
 */
#ifndef DCV_CO_ADMIN_H
#define DCV_CO_ADMIN_H

#include "coordinator/coord_int.h"

void co_admin_input(struct dcv_coord *c, const struct dcv_tx_peer *from,
                    const struct dcv_proto_msg *m);
/* A REQUEST the socket refused (its body over the size limit): a 400 with
 * `why` to its req_id, when one can be read from the text. */
void co_admin_refuse(struct dcv_coord *c, const struct dcv_tx_peer *from,
                     const struct dcv_proto_msg *m, const char *why);

#endif
