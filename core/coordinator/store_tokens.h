/*
 * store_tokens.c: the HTTP API's tokens in the job store (docs/api.md).
 * A token is a name, a role and the SHA-256 (hex) of its secret; the secret
 * itself is never stored. Revoking deletes the row. Same contract as
 * store.h (0 or -errno with err).
 */
#ifndef DCV_STORE_TOKENS_H
#define DCV_STORE_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/store.h"

struct dcv_token_rec {
    char name[64];
    char role[16];     /* "viewer", "submitter", "operator" */
    char sha256[65];   /* of the secret, lowercase hex */
    int64_t created_ms;
    char created_by[128];
    int64_t last_used_ms; /* 0: never */
};

/* -EEXIST (with the reason) when the name or the hash is taken. */
int dcv_store_token_add(struct dcv_store *s, const struct dcv_token_rec *t, char *err,
                        size_t errlen);
/* Every token, by name; *out malloc'd (free()), NULL when none. */
int dcv_store_token_list(struct dcv_store *s, struct dcv_token_rec **out, size_t *n, char *err,
                         size_t errlen);
/* -ENOENT when there is no such token. */
int dcv_store_token_delete(struct dcv_store *s, const char *name, char *err, size_t errlen);
int dcv_store_token_used(struct dcv_store *s, const char *name, int64_t when_ms, char *err,
                         size_t errlen);

#endif
