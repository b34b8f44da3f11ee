/*
 * inputhash.c: SHA-256 of inputs on shared storage, a slice per loop turn
 * so heartbeats keep flowing (c->hash). Called by dispatch.c and admin.c.
 */
#ifndef DCV_CO_INPUTHASH_H
#define DCV_CO_INPUTHASH_H

#include "coordinator/coord_int.h"

/* 1 sha ready (copied), 0 being computed (started now if needed), -errno failed. */
int co_hash_get(struct dcv_coord *c, const char *path, int64_t size, char sha[DCV_PROTO_SHA]);
void co_hash_free(struct dcv_coord *c);

#endif
