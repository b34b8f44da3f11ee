/* The HTTP API's tokens in the job store (store_tokens.h). */
#include "coordinator/store_tokens.h"
#include "coordinator/store_int.h"
#include "errbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t len)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    snprintf(out, len, "%s", v ? (const char *)v : "");
}

int dcv_store_token_add(struct dcv_store *s, const struct dcv_token_rec *t, char *err,
                        size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = sto_prep(s, "INSERT INTO api_tokens (name, role, sha256, created_ms, created_by) "
                         "VALUES (?1, ?2, ?3, ?4, ?5)", &st, err, errlen)) < 0)
        return r;
    rc = sto_bind_text(st, 1, t->name);
    if (rc == SQLITE_OK)
        rc = sto_bind_text(st, 2, t->role);
    if (rc == SQLITE_OK)
        rc = sto_bind_text(st, 3, t->sha256);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 4, t->created_ms);
    if (rc == SQLITE_OK)
        rc = sto_bind_text(st, 5, t->created_by);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    r = sto_step_done(s, st, "add token", err, errlen);
    if (r == -EEXIST)
        dcv_errf(err, errlen, "a token named %s exists: revoke it first", t->name);
    return r;
}

int dcv_store_token_list(struct dcv_store *s, struct dcv_token_rec **out, size_t *n, char *err,
                         size_t errlen)
{
    struct dcv_token_rec *v = NULL, *nv;
    size_t cap = 0, k = 0;
    sqlite3_stmt *st;
    int r, rc;

    *out = NULL;
    *n = 0;
    if ((r = sto_prep(s, "SELECT name, role, sha256, created_ms, created_by, last_used_ms "
                         "FROM api_tokens ORDER BY name", &st, err, errlen)) < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            if (!(nv = realloc(v, cap * sizeof *v))) {
                sqlite3_finalize(st);
                free(v);
                return dcv_err(err, errlen, -ENOMEM, "job store: out of memory");
            }
            v = nv;
        }
        memset(&v[k], 0, sizeof v[k]);
        col_copy(st, 0, v[k].name, sizeof v[k].name);
        col_copy(st, 1, v[k].role, sizeof v[k].role);
        col_copy(st, 2, v[k].sha256, sizeof v[k].sha256);
        v[k].created_ms = sqlite3_column_int64(st, 3);
        col_copy(st, 4, v[k].created_by, sizeof v[k].created_by);
        v[k].last_used_ms = sqlite3_column_int64(st, 5);
        k++;
    }
    r = rc == SQLITE_DONE ? 0 : sto_db_fail(s, rc, "list tokens", err, errlen);
    sqlite3_finalize(st);
    if (r < 0) {
        free(v);
        return r;
    }
    *out = v;
    *n = k;
    return 0;
}

static int exec_name(struct dcv_store *s, const char *sql, const char *name, int64_t when,
                     const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = sto_prep(s, sql, &st, err, errlen)) < 0)
        return r;
    rc = sto_bind_text(st, 1, name);
    if (rc == SQLITE_OK && when)
        rc = sqlite3_bind_int64(st, 2, when);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    if ((r = sto_step_done(s, st, what, err, errlen)) < 0)
        return r;
    return sqlite3_changes(s->db) ? 0 : dcv_err(err, errlen, -ENOENT, "no token named %s", name);
}

int dcv_store_token_delete(struct dcv_store *s, const char *name, char *err, size_t errlen)
{
    return exec_name(s, "DELETE FROM api_tokens WHERE name = ?1", name, 0, "revoke token", err,
                     errlen);
}

int dcv_store_token_used(struct dcv_store *s, const char *name, int64_t when_ms, char *err,
                         size_t errlen)
{
    return exec_name(s, "UPDATE api_tokens SET last_used_ms = ?2 WHERE name = ?1", name,
                     when_ms, "note token use", err, errlen);
}
