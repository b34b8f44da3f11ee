/* The HTTP API's tokens (tokens.h). */
#include "coordinator/tokens.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "coordinator/attempts.h"
#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "rand.h"
#include "xfer/chunk.h"

/* A token's last use is written at most this often (a busy dashboard
 * would otherwise write the store on every request). */
#define USED_EVERY_MS (60 * 1000)

static int hash_secret(const char *secret, char hex[2 * DCV_SHA256_LEN + 1])
{
    struct dcv_sha256 *h;
    uint8_t d[DCV_SHA256_LEN];

    if (dcv_sha256_new(&h) < 0)
        return -ENOMEM;
    dcv_sha256_update(h, secret, strlen(secret));
    dcv_sha256_final(h, d);
    dcv_sha256_free(&h);
    dcv_sha256_hex(d, hex);
    return 0;
}

int co_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = 0;

    if (la != lb)
        return 0;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int co_token_roles(const struct dcv_token_rec *t)
{
    int r = dcv_auth_role_parse(t->role);
    return r & DCV_AUTH_PEOPLE;
}

int co_tokens_load(struct dcv_coord *c, char *err, size_t errlen)
{
    co_tokens_free(c);
    return dcv_store_token_list(c->store, &c->web.tokens, &c->web.n_tokens, err, errlen);
}

void co_tokens_free(struct dcv_coord *c)
{
    free(c->web.tokens);
    c->web.tokens = NULL;
    c->web.n_tokens = 0;
}

int co_tokens_create(struct dcv_coord *c, const char *name, const char *role, const char *by,
                     char secret[CO_TOKEN_SECRET_LEN + 1], char *err, size_t errlen)
{
    struct dcv_token_rec t;
    char hex[65];
    int r;

    if (!dcv_auth_valid_name(name))
        return dcv_err(err, errlen, -EINVAL,
                       "'%s' is not a valid token name (1..63 of letters, digits, '.', '_', "
                       "'-', not starting with '.' or '-')", name);
    if (!(dcv_auth_role_parse(role) & DCV_AUTH_PEOPLE))
        return dcv_err(err, errlen, -EINVAL,
                       "'%s' is not a role: expected viewer, submitter or operator", role);
    if ((r = dcv_random_hex(hex, 32, err, errlen)) < 0)
        return r;
    snprintf(secret, CO_TOKEN_SECRET_LEN + 1, "dcv_%s", hex);
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.role, sizeof t.role, "%s", role);
    snprintf(t.created_by, sizeof t.created_by, "%s", by && *by ? by : "local");
    t.created_ms = co_wall_ms();
    if ((r = hash_secret(secret, t.sha256)) < 0)
        return dcv_err(err, errlen, r, "out of memory");
    if ((r = dcv_store_token_add(c->store, &t, err, errlen)) < 0)
        return r;
    if ((r = co_tokens_load(c, err, errlen)) < 0)
        return r;
    dcv_log(DCV_LOG_INFO, CO_LOG, "API token %s (%s) created by %s", name, role, t.created_by);
    return 0;
}

int co_tokens_revoke(struct dcv_coord *c, const char *name, char *err, size_t errlen)
{
    int r = dcv_store_token_delete(c->store, name, err, errlen);
    if (r < 0)
        return r;
    dcv_log(DCV_LOG_INFO, CO_LOG, "API token %s revoked", name);
    return co_tokens_load(c, err, errlen);
}

const struct dcv_token_rec *co_tokens_check(struct dcv_coord *c, const char *secret)
{
    struct dcv_token_rec *hit = NULL;
    char hex[65], err[256];

    if (strlen(secret) != CO_TOKEN_SECRET_LEN || hash_secret(secret, hex) < 0)
        return NULL;
    /* Every entry compared, so the time says nothing of where it matched. */
    for (size_t i = 0; i < c->web.n_tokens; i++)
        if (co_secret_equal(c->web.tokens[i].sha256, hex))
            hit = &c->web.tokens[i];
    if (hit) {
        int64_t now = co_wall_ms();
        if (now - hit->last_used_ms >= USED_EVERY_MS) {
            hit->last_used_ms = now;
            if (dcv_store_token_used(c->store, hit->name, now, err, sizeof err) < 0)
                dcv_log(DCV_LOG_WARN, CO_LOG, "API token %s: %s", hit->name, err);
        }
    }
    return hit;
}

const struct dcv_token_rec *co_tokens_list(struct dcv_coord *c, size_t *n)
{
    *n = c->web.n_tokens;
    return c->web.tokens;
}
