/*
 * The coordinator service (DESIGN §2, docs/protocol.md): one object on the
 * daemon's loop that owns the job store, the worker registry, the
 * scheduler, blob storage, the data-plane server and the admin API, and
 * binds the three ROUTERs (control `bind`, data `data_bind`, admin `admin`
 * of the settings).
 *
 * Lifetime: dcv_coord_new() binds and registers everything on the loop and
 * returns; the daemon runs the loop; dcv_coord_free() tells connected
 * workers DISCONNECT (best effort), closes the sockets, the store and the
 * blob files. A restart loses no job: queued jobs stay queued, running ones
 * are re-attached when their workers say HELLO with them in `running`, or
 * requeued once a worker's liveness window passes without it.
 *
 * Threading: the loop's thread only.
 */
#ifndef DCV_COORD_H
#define DCV_COORD_H

#include <stddef.h>

struct dcv_conf;
struct dcv_loop;
struct dcv_net;
struct dcv_coord;

int dcv_coord_new(struct dcv_loop *loop, struct dcv_net *net, struct dcv_conf *conf,
                  struct dcv_coord **out, char *err, size_t errlen);
void dcv_coord_free(struct dcv_coord **c);

/* Endpoints as actually bound (ephemeral ports resolved), e.g. for the
 * standalone role's local worker and for logs. Valid until free. */
const char *dcv_coord_control_endpoint(const struct dcv_coord *c);
const char *dcv_coord_data_endpoint(const struct dcv_coord *c);
const char *dcv_coord_admin_endpoint(const struct dcv_coord *c);

#endif
