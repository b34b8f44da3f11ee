/*
 * tokens.c: the HTTP API's tokens (docs/api.md "Authentication"), kept in
 * the job store (store_tokens.h) and cached here, so checking a request's
 * token reads no disk. A secret is "dcv_" and 64 hex digits (256 random
 * bits); only its SHA-256 is stored, so a plain hash is enough (nothing to
 * guess), and a lookup hashes the presented secret and compares hashes in
 * constant time.
 */
#ifndef DCV_CO_TOKENS_H
#define DCV_CO_TOKENS_H

#include <stddef.h>

#include "coordinator/coord_int.h"
#include "coordinator/store_tokens.h"

#define CO_TOKEN_SECRET_LEN 68 /* "dcv_" + 64 hex, without the NUL */

/* Read the store's tokens into the cache (at start). */
int co_tokens_load(struct dcv_coord *c, char *err, size_t errlen);
void co_tokens_free(struct dcv_coord *c);

/* A new token: name (allow-list NAME rule), role "viewer" | "submitter" |
 * "operator"; by is who asked (for the list). secret gets its secret, the
 * only time it is known. -EEXIST for a name in use. */
int co_tokens_create(struct dcv_coord *c, const char *name, const char *role, const char *by,
                     char secret[CO_TOKEN_SECRET_LEN + 1], char *err, size_t errlen);
/* -ENOENT when there is none. The caller ends its sessions. */
int co_tokens_revoke(struct dcv_coord *c, const char *name, char *err, size_t errlen);
/* The token whose secret this is (noting its use), or NULL. */
const struct dcv_token_rec *co_tokens_check(struct dcv_coord *c, const char *secret);
/* The cached list (names, roles, dates; the hashes stay inside). */
const struct dcv_token_rec *co_tokens_list(struct dcv_coord *c, size_t *n);
/* DCV_AUTH_* of a token's role name. */
int co_token_roles(const struct dcv_token_rec *t);

/* Equal strings of equal length, in time that depends only on the length. */
int co_secret_equal(const char *a, const char *b);

#endif
