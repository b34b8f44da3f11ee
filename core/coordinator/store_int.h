/*
 * Internal to the job store (store.c, store_jobs.c, store_apply.c): the
 * handle, and the SQL, validation and row helpers the three share. The
 * public API is store.h.
 */
#ifndef DCV_STORE_INT_H
#define DCV_STORE_INT_H

#include <sqlite3.h>

#include "coordinator/store.h"

struct dcv_store {
    sqlite3 *db;
    int32_t backoff_ms, backoff_max_ms; /* dcv_store_set_backoff(); 0 = retry at once */
};

#define JOB_COLS                                                                         \
    "id, idem_key, created_ms, updated_ms, state, attempt, max_attempts, prio_class, " \
    "priority, profile, input, output, last_error, worker, session, not_before_ms"

int64_t sto_now_ms(void); /* CLOCK_REALTIME milliseconds */

/* Turn a failed sqlite3 call into -errno with SQLite's own words in err. */
int sto_db_fail(struct dcv_store *s, int rc, const char *what, char *err, size_t errlen);
int sto_prep(struct dcv_store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen);
/* Returns the sqlite rc so a chain of binds can be checked once. */
int sto_bind_text(sqlite3_stmt *st, int i, const char *v);
int sto_begin(struct dcv_store *s, char *err, size_t errlen); /* BEGIN IMMEDIATE */
int sto_commit(struct dcv_store *s, char *err, size_t errlen);
void sto_rollback(struct dcv_store *s);
/* Step a statement that returns no rows; finalizes it. */
int sto_step_done(struct dcv_store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen);

int sto_check_text(const char *what, const char *p, size_t len, size_t max, int required,
                   size_t *outlen, char *err, size_t errlen);
int sto_check_key(const char *p, size_t len, char *err, size_t errlen);
int sto_check_job_id(const char *id, char *err, size_t errlen);
int sto_check_opt(const char *what, const char *v, size_t max, char *err, size_t errlen);

/* Copy a text column; 0, or -ENOMEM. NULL column -> NULL. */
int sto_col_dup(sqlite3_stmt *st, int i, char **out);
int sto_row_to_job(sqlite3_stmt *st, struct dcv_job *job, char *err, size_t errlen);
/* Load one job by id inside or outside a transaction: 0, -ENOENT, -errno. */
int sto_load_job(struct dcv_store *s, const char *id, struct dcv_job *out, char *err, size_t errlen);

#endif
