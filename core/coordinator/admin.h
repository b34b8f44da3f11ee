/*
 * admin.c (with admin_workers.c): the admin verbs, one REQUEST in, one
 * FINAL out. Called by coord.c only.
 */
#ifndef DCV_CO_ADMIN_H
#define DCV_CO_ADMIN_H

#include <json-c/json.h>

#include "coordinator/coord_int.h"

void co_admin_input(struct dcv_coord *c, const struct dcv_tx_peer *from,
                    const struct dcv_proto_msg *m);
/* A REQUEST the socket refused (its body over the size limit): a 400 with
 * `why` to its req_id, when one can be read from the text. */
void co_admin_refuse(struct dcv_coord *c, const struct dcv_tx_peer *from,
                     const struct dcv_proto_msg *m, const char *why);

/*
 * The HTTP API's door to the same verbs: rq (decoded as the admin plane
 * decodes, so the same validation) runs with user's identity and roles
 * through the same permission table, and the FINAL it would have sent is
 * put in res instead: status, error (>= 400) and the body (owned by res:
 * json_object_put it). Returns 0.
 */
struct co_admin_res {
    int status;
    char error[DCV_PROTO_TEXT];
    json_object *body; /* may be NULL */
    int replied;
};
int co_admin_call(struct dcv_coord *c, const char *user, int roles,
                  const struct dcv_proto_request *rq, struct co_admin_res *res);

/* A job object as `status` (full) and `jobs` (not) reply it. */
json_object *co_admin_job_json(struct dcv_coord *c, const struct dcv_job *j, int full);
/* A worker object as `workers` (not full) and `worker` (full) reply it. */
json_object *co_admin_worker_json(struct dcv_coord *c, struct co_worker *w, int full);

#endif
