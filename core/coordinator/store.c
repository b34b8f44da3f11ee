/* Durable job store on SQLite: the connection, the schema and its migrations,
 * and the SQL, validation and row helpers store_jobs.c and store_apply.c share. */
#include "coordinator/store_int.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS 5000

/* Schema steps; version N is the state after migrations[N-1]. Append only:
 * a released step is never edited, a change is a new step. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE jobs ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " idem_key TEXT UNIQUE,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " prio_class INTEGER NOT NULL,"
    " priority INTEGER NOT NULL,"
    " profile TEXT NOT NULL,"
    " input TEXT NOT NULL,"
    " output TEXT,"
    " last_error TEXT,"
    " worker TEXT,"
    " session TEXT);"
    "CREATE INDEX jobs_sched ON jobs(state, prio_class DESC, priority DESC, created_ms, id);"
    "CREATE INDEX jobs_created ON jobs(created_ms, id);"
    "CREATE INDEX jobs_worker ON jobs(worker, session);"
    "CREATE TABLE attempts ("
    " job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " worker TEXT,"
    " session TEXT,"
    " started_ms INTEGER NOT NULL,"
    " ended_ms INTEGER,"
    " outcome TEXT,"
    " error TEXT,"
    " PRIMARY KEY (job_id, seq));"
    "CREATE TABLE history ("
    " job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " from_state TEXT NOT NULL,"
    " to_state TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " time_ms INTEGER NOT NULL,"
    " note TEXT,"
    " PRIMARY KEY (job_id, seq));",
    /* 2: retry back-off. A requeued job is not dispatched before this wall
     * clock time (0: at once); stored so a restart keeps the pause. */
    "ALTER TABLE jobs ADD COLUMN not_before_ms INTEGER NOT NULL DEFAULT 0;",
    /* 3: the last lines a failed attempt's job process logged (REJECT/FAIL
     * log_tail, '\n'-separated), so they outlive the worker's log. */
    "ALTER TABLE attempts ADD COLUMN log_tail TEXT;",
    /* 4: blob retention (store_retention.c). What happened to a job's
     * blobs, kept beside the job so a removed file is never a mystery;
     * uploads are found by their xfer_id (several jobs may share one). */
    "CREATE TABLE blob_facts ("
    " job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    " downloaded_ms INTEGER NOT NULL DEFAULT 0,"
    " input_removed_ms INTEGER NOT NULL DEFAULT 0,"
    " output_removed_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_upload ON jobs(json_extract(input, '$.xfer_id'));"
    "CREATE INDEX jobs_ended ON jobs(state, updated_ms);",
    /* 5: HTTP API tokens (store_tokens.c): only the SHA-256 of a secret is
     * kept; revoking deletes the row. */
    "CREATE TABLE api_tokens ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " role TEXT NOT NULL,"
    " sha256 TEXT NOT NULL UNIQUE,"
    " created_ms INTEGER NOT NULL,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " last_used_ms INTEGER NOT NULL DEFAULT 0);",
    /* 6: listings by state and a submitter's own, newest first, from an
     * index rather than a sort of every such job (100k jobs: bench/http). */
    "CREATE INDEX jobs_state_created ON jobs(state, created_ms);"
    "CREATE INDEX jobs_submitter ON jobs(json_extract(input, '$.submitter'), created_ms);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

int64_t sto_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_IOERR: return -EIO;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_READONLY: return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_CANTOPEN: return -EACCES;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return -EBADMSG;
    case SQLITE_CONSTRAINT: return -EEXIST;
    case SQLITE_TOOBIG: return -E2BIG;
    default: return -EIO;
    }
}

/* Turn a failed sqlite3 call into -errno with SQLite's own words in err. */
int sto_db_fail(struct dcv_store *s, int rc, const char *what, char *err, size_t errlen)
{
    dcv_errf(err, errlen, "job store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return map_rc(rc);
}

int sto_prep(struct dcv_store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return sto_db_fail(s, rc, "prepare", err, errlen);
    }
    return 0;
}

static int exec_sql(struct dcv_store *s, const char *sql, char *err, size_t errlen)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sto_db_fail(s, rc, sql, err, errlen);
}

/* Bind helpers return the sqlite rc so a chain can be checked once. */
int sto_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int sto_begin(struct dcv_store *s, char *err, size_t errlen)
{
    /* IMMEDIATE takes the write lock up front, so read-check-write (idempotency,
     * fencing) cannot race another connection. */
    return exec_sql(s, "BEGIN IMMEDIATE", err, errlen);
}

int sto_commit(struct dcv_store *s, char *err, size_t errlen)
{
    return exec_sql(s, "COMMIT", err, errlen);
}

void sto_rollback(struct dcv_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Step a statement that returns no rows; finalizes it. */
int sto_step_done(struct dcv_store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? 0 : sto_db_fail(s, rc, what, err, errlen);
    sqlite3_finalize(st);
    return ret;
}

/* ---- validation ---- */

int sto_check_text(const char *what, const char *p, size_t len, size_t max, int required,
                   size_t *outlen, char *err, size_t errlen)
{
    if (!p) {
        *outlen = 0;
        if (required) {
            dcv_errf(err, errlen, "%s is required", what);
            return -EINVAL;
        }
        return 0;
    }
    if (len == 0)
        len = strnlen(p, max + 1);
    else if (memchr(p, '\0', len)) {
        dcv_errf(err, errlen, "%s contains a NUL byte", what);
        return -EINVAL;
    }
    if (len > max) {
        dcv_errf(err, errlen, "%s is longer than %zu bytes", what, max);
        return -EINVAL;
    }
    if (required && len == 0) {
        dcv_errf(err, errlen, "%s is empty", what);
        return -EINVAL;
    }
    *outlen = len;
    return 0;
}

int sto_check_key(const char *p, size_t len, char *err, size_t errlen)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f) {
            dcv_errf(err, errlen, "idempotency key may hold only printable ASCII without spaces");
            return -EINVAL;
        }
    if (len == 0) {
        dcv_errf(err, errlen, "idempotency key is empty");
        return -EINVAL;
    }
    return 0;
}

int sto_check_job_id(const char *id, char *err, size_t errlen)
{
    size_t i;
    for (i = 0; id && i < DCV_JOB_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            break;
    if (!id || i != DCV_JOB_ID_LEN || id[i] != '\0') {
        dcv_errf(err, errlen, "job id must be %d lower-case hex characters", DCV_JOB_ID_LEN);
        return -EINVAL;
    }
    return 0;
}

int sto_check_opt(const char *what, const char *v, size_t max, char *err, size_t errlen)
{
    size_t n;
    return sto_check_text(what, v, 0, max, 0, &n, err, errlen);
}

/* ---- names ---- */

static const char *const prio_names[] = { "low", "normal", "high" };

const char *dcv_prio_class_name(enum dcv_prio_class c)
{
    return (unsigned)c < 3 ? prio_names[c] : NULL;
}

/* ---- row decoding ---- */

void dcv_job_clear(struct dcv_job *job)
{
    if (!job)
        return;
    free(job->idempotency_key);
    free(job->profile_json);
    free(job->input_json);
    free(job->output_json);
    free(job->last_error);
    free(job->worker);
    free(job->session);
    memset(job, 0, sizeof *job);
}

/* Copy a text column; 0, or -ENOMEM. NULL column -> NULL. */
int sto_col_dup(sqlite3_stmt *st, int i, char **out)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    *out = NULL;
    if (!t)
        return sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM ? -ENOMEM : 0;
    *out = strdup((const char *)t);
    return *out ? 0 : -ENOMEM;
}

int sto_row_to_job(sqlite3_stmt *st, struct dcv_job *job, char *err, size_t errlen)
{
    const unsigned char *id = sqlite3_column_text(st, 0);
    const unsigned char *state = sqlite3_column_text(st, 4);
    int pc = sqlite3_column_int(st, 7);
    int r = 0;

    memset(job, 0, sizeof *job);
    if (!id || strlen((const char *)id) != DCV_JOB_ID_LEN || !state ||
        dcv_job_state_parse((const char *)state, &job->state) < 0 || pc < 0 || pc > 2) {
        dcv_errf(err, errlen, "job store: malformed job row");
        return -EBADMSG;
    }
    memcpy(job->id, id, DCV_JOB_ID_LEN + 1);
    job->created_ms = sqlite3_column_int64(st, 2);
    job->updated_ms = sqlite3_column_int64(st, 3);
    job->attempt = sqlite3_column_int(st, 5);
    job->max_attempts = sqlite3_column_int(st, 6);
    job->prio_class = (enum dcv_prio_class)pc;
    job->priority = sqlite3_column_int(st, 8);
    job->not_before_ms = sqlite3_column_int64(st, 15);
    if ((r = sto_col_dup(st, 1, &job->idempotency_key)) < 0 || (r = sto_col_dup(st, 9, &job->profile_json)) < 0 ||
        (r = sto_col_dup(st, 10, &job->input_json)) < 0 || (r = sto_col_dup(st, 11, &job->output_json)) < 0 ||
        (r = sto_col_dup(st, 12, &job->last_error)) < 0 || (r = sto_col_dup(st, 13, &job->worker)) < 0 ||
        (r = sto_col_dup(st, 14, &job->session)) < 0) {
        dcv_job_clear(job);
        dcv_errf(err, errlen, "job store: out of memory");
        return r;
    }
    return 0;
}

/* ---- open / migrate ---- */

static int schema_version(struct dcv_store *s, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = exec_sql(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                      err, errlen)) < 0)
        return r;
    if ((r = sto_prep(s, "SELECT max(version) FROM schema_version", &st, err, errlen)) < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = sto_db_fail(s, rc, "read schema version", err, errlen);
    } else {
        *version = sqlite3_column_int(st, 0); /* NULL (empty table) reads as 0 */
        r = 0;
    }
    sqlite3_finalize(st);
    return r;
}

static int migrate(struct dcv_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int version = 0, r;

    if ((r = sto_begin(s, err, errlen)) < 0)
        return r;
    if ((r = schema_version(s, &version, err, errlen)) < 0)
        goto fail;
    if (version > SCHEMA_VERSION) {
        dcv_errf(err, errlen, "job store schema version %d is newer than this program's %d",
               version, SCHEMA_VERSION);
        r = -EPROTONOSUPPORT;
        goto fail;
    }
    for (; version < SCHEMA_VERSION; version++) {
        if ((r = exec_sql(s, migrations[version], err, errlen)) < 0)
            goto fail;
        if ((r = sto_prep(s, "INSERT INTO schema_version (version) VALUES (?)", &st, err, errlen)) < 0)
            goto fail;
        if ((r = sqlite3_bind_int(st, 1, version + 1)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = sto_db_fail(s, r, "bind", err, errlen);
            goto fail;
        }
        if ((r = sto_step_done(s, st, "record schema version", err, errlen)) < 0)
            goto fail;
    }
    if ((r = sto_commit(s, err, errlen)) < 0)
        goto fail;
    return 0;
fail:
    sto_rollback(s);
    return r;
}

int dcv_store_open(const char *dir, struct dcv_store **out, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct dcv_store *s;
    struct stat sb;
    int fd, rc, r;

    *out = NULL;
    if (!dir || !*dir) {
        dcv_errf(err, errlen, "job store: no directory given");
        return -EINVAL;
    }
    if (stat(dir, &sb) < 0)
        r = -errno;
    else
        r = S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
    if (r < 0) {
        dcv_errf(err, errlen, "job store: %s: %s", dir, strerror(-r));
        return r;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, DCV_STORE_FILE) >= sizeof path) {
        dcv_errf(err, errlen, "job store: directory path too long");
        return -ENAMETOOLONG;
    }
    /* Create the file ourselves so it is 0600 whatever the umask; SQLite gives
     * the -wal and -shm files the same mode. O_NOFOLLOW: never write through a
     * planted symlink. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = -errno;
        dcv_errf(err, errlen, "job store: %s: %s", path, strerror(errno));
        return r;
    }
    close(fd);

    s = calloc(1, sizeof *s);
    if (!s) {
        dcv_errf(err, errlen, "job store: out of memory");
        return -ENOMEM;
    }
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = sto_db_fail(s, rc, path, err, errlen);
        goto fail;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    if ((rc = sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS)) != SQLITE_OK) {
        r = sto_db_fail(s, rc, "busy_timeout", err, errlen);
        goto fail;
    }
    /* journal_mode answers with a row; read it to be sure WAL took. */
    {
        sqlite3_stmt *st;
        if ((r = sto_prep(s, "PRAGMA journal_mode=WAL", &st, err, errlen)) < 0)
            goto fail;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            r = sto_db_fail(s, rc, "journal_mode", err, errlen);
            sqlite3_finalize(st);
            goto fail;
        }
        const unsigned char *mode = sqlite3_column_text(st, 0);
        int wal = mode && strcasecmp((const char *)mode, "wal") == 0;
        sqlite3_finalize(st);
        if (!wal) {
            dcv_errf(err, errlen, "job store: %s: cannot switch to WAL mode", path);
            r = -EIO;
            goto fail;
        }
    }
    /* FULL: every commit (a submit above all) is fsync'd before it returns. */
    if ((r = exec_sql(s, "PRAGMA synchronous=FULL", err, errlen)) < 0 ||
        (r = exec_sql(s, "PRAGMA foreign_keys=ON", err, errlen)) < 0 ||
        (r = migrate(s, err, errlen)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    dcv_store_close(&s);
    return r;
}

void dcv_store_close(struct dcv_store **sp)
{
    struct dcv_store *s = sp ? *sp : NULL;
    if (!s)
        return;
    if (s->db)
        (void)sqlite3_close_v2(s->db);
    free(s);
    *sp = NULL;
}
