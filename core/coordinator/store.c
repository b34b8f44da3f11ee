/* Durable job store on SQLite. */
#include "coordinator/store.h"
#include "errbuf.h"
#include "rand.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define DEFAULT_MAX_ATTEMPTS 3
#define MAX_ATTEMPTS_LIMIT 1000
#define BUSY_TIMEOUT_MS 5000

struct dcv_store {
    sqlite3 *db;
    int32_t backoff_ms, backoff_max_ms; /* dcv_store_set_backoff(); 0 = retry at once */
};

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
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

#define JOB_COLS                                                                         \
    "id, idem_key, created_ms, updated_ms, state, attempt, max_attempts, prio_class, " \
    "priority, profile, input, output, last_error, worker, session, not_before_ms"


static int64_t now_ms(void)
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
static int db_fail(struct dcv_store *s, int rc, const char *what, char *err, size_t errlen)
{
    dcv_errf(err, errlen, "job store: %s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return map_rc(rc);
}

static int prep(struct dcv_store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return db_fail(s, rc, "prepare", err, errlen);
    }
    return 0;
}

static int exec_sql(struct dcv_store *s, const char *sql, char *err, size_t errlen)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(s, rc, sql, err, errlen);
}

/* Bind helpers return the sqlite rc so a chain can be checked once. */
static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int begin(struct dcv_store *s, char *err, size_t errlen)
{
    /* IMMEDIATE takes the write lock up front, so read-check-write (idempotency,
     * fencing) cannot race another connection. */
    return exec_sql(s, "BEGIN IMMEDIATE", err, errlen);
}

static int commit(struct dcv_store *s, char *err, size_t errlen)
{
    return exec_sql(s, "COMMIT", err, errlen);
}

static void rollback(struct dcv_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Step a statement that returns no rows; finalizes it. */
static int step_done(struct dcv_store *s, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? 0 : db_fail(s, rc, what, err, errlen);
    sqlite3_finalize(st);
    return ret;
}

/* ---- validation ---- */

static int check_text(const char *what, const char *p, size_t len, size_t max, int required,
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

static int check_key(const char *p, size_t len, char *err, size_t errlen)
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

static int check_job_id(const char *id, char *err, size_t errlen)
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

static int check_opt(const char *what, const char *v, size_t max, char *err, size_t errlen)
{
    size_t n;
    return check_text(what, v, 0, max, 0, &n, err, errlen);
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
static int col_dup(sqlite3_stmt *st, int i, char **out)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    *out = NULL;
    if (!t)
        return sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM ? -ENOMEM : 0;
    *out = strdup((const char *)t);
    return *out ? 0 : -ENOMEM;
}

static int row_to_job(sqlite3_stmt *st, struct dcv_job *job, char *err, size_t errlen)
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
    if ((r = col_dup(st, 1, &job->idempotency_key)) < 0 || (r = col_dup(st, 9, &job->profile_json)) < 0 ||
        (r = col_dup(st, 10, &job->input_json)) < 0 || (r = col_dup(st, 11, &job->output_json)) < 0 ||
        (r = col_dup(st, 12, &job->last_error)) < 0 || (r = col_dup(st, 13, &job->worker)) < 0 ||
        (r = col_dup(st, 14, &job->session)) < 0) {
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
    if ((r = prep(s, "SELECT max(version) FROM schema_version", &st, err, errlen)) < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = db_fail(s, rc, "read schema version", err, errlen);
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

    if ((r = begin(s, err, errlen)) < 0)
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
        if ((r = prep(s, "INSERT INTO schema_version (version) VALUES (?)", &st, err, errlen)) < 0)
            goto fail;
        if ((r = sqlite3_bind_int(st, 1, version + 1)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = db_fail(s, r, "bind", err, errlen);
            goto fail;
        }
        if ((r = step_done(s, st, "record schema version", err, errlen)) < 0)
            goto fail;
    }
    if ((r = commit(s, err, errlen)) < 0)
        goto fail;
    return 0;
fail:
    rollback(s);
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
        r = db_fail(s, rc, path, err, errlen);
        goto fail;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    if ((rc = sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS)) != SQLITE_OK) {
        r = db_fail(s, rc, "busy_timeout", err, errlen);
        goto fail;
    }
    /* journal_mode answers with a row; read it to be sure WAL took. */
    {
        sqlite3_stmt *st;
        if ((r = prep(s, "PRAGMA journal_mode=WAL", &st, err, errlen)) < 0)
            goto fail;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            r = db_fail(s, rc, "journal_mode", err, errlen);
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
    dcv_store_close(s);
    return r;
}

void dcv_store_close(struct dcv_store *s)
{
    if (!s)
        return;
    if (s->db)
        (void)sqlite3_close_v2(s->db);
    free(s);
}

/* ---- reads ---- */

/* Load one job by id inside or outside a transaction: 0, -ENOENT, -errno. */
static int load_job(struct dcv_store *s, const char *id, struct dcv_job *out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = prep(s, "SELECT " JOB_COLS " FROM jobs WHERE id = ?", &st, err, errlen)) < 0)
        return r;
    if ((rc = bind_text(st, 1, id)) != SQLITE_OK) {
        r = db_fail(s, rc, "bind", err, errlen);
    } else if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = row_to_job(st, out, err, errlen);
    } else if (rc == SQLITE_DONE) {
        dcv_errf(err, errlen, "no job %s", id);
        r = -ENOENT;
    } else {
        r = db_fail(s, rc, "read job", err, errlen);
    }
    sqlite3_finalize(st);
    return r;
}

int dcv_store_get(struct dcv_store *s, const char *job_id, struct dcv_job *out, char *err, size_t errlen)
{
    int r;
    memset(out, 0, sizeof *out);
    if ((r = check_job_id(job_id, err, errlen)) < 0)
        return r;
    return load_job(s, job_id, out, err, errlen);
}

/* Run a prepared job SELECT, calling cb per row. Finalizes st. */
static int each_job(struct dcv_store *s, sqlite3_stmt *st, dcv_store_job_cb cb, void *ud, char *err,
                    size_t errlen)
{
    struct dcv_job job;
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r = row_to_job(st, &job, err, errlen)) < 0)
            break;
        r = cb(&job, ud);
        dcv_job_clear(&job);
        if (r != 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = db_fail(s, rc, "list jobs", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_list(struct dcv_store *s, int state, int limit, int offset, dcv_store_job_cb cb,
                   void *ud, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if (!cb || offset < 0 || (state >= 0 && !dcv_job_state_name((enum dcv_job_state)state))) {
        dcv_errf(err, errlen, "job list: bad state filter, offset or callback");
        return -EINVAL;
    }
    if ((r = prep(s,
                  "SELECT " JOB_COLS " FROM jobs WHERE (?1 IS NULL OR state = ?1)"
                  " ORDER BY created_ms, rowid LIMIT ?2 OFFSET ?3",
                  &st, err, errlen)) < 0)
        return r;
    if ((rc = bind_text(st, 1, state >= 0 ? dcv_job_state_name((enum dcv_job_state)state) : NULL)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 2, limit > 0 ? limit : -1)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 3, offset)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(s, rc, "bind", err, errlen);
    }
    return each_job(s, st, cb, ud, err, errlen);
}

/* Queued jobs whose back-off ended by `due` (INT64_MAX: all of them), in
 * scheduling order. */
static int list_queued(struct dcv_store *s, int64_t due, int limit, int offset,
                       dcv_store_job_cb cb, void *ud, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if (!cb || offset < 0) {
        dcv_errf(err, errlen, "queued list: bad offset or callback");
        return -EINVAL;
    }
    if ((r = prep(s,
                  "SELECT " JOB_COLS " FROM jobs WHERE state = 'QUEUED' AND not_before_ms <= ?3"
                  " ORDER BY prio_class DESC, priority DESC, created_ms, rowid LIMIT ?1 OFFSET ?2",
                  &st, err, errlen)) < 0)
        return r;
    if ((rc = sqlite3_bind_int(st, 1, limit > 0 ? limit : -1)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 2, offset)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 3, due)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(s, rc, "bind", err, errlen);
    }
    return each_job(s, st, cb, ud, err, errlen);
}

int dcv_store_list_queued(struct dcv_store *s, int limit, int offset, dcv_store_job_cb cb, void *ud,
                          char *err, size_t errlen)
{
    return list_queued(s, INT64_MAX, limit, offset, cb, ud, err, errlen);
}

int dcv_store_list_due(struct dcv_store *s, int64_t now, int limit, dcv_store_job_cb cb, void *ud,
                       char *err, size_t errlen)
{
    return list_queued(s, now, limit, 0, cb, ud, err, errlen);
}

int dcv_store_next_due(struct dcv_store *s, int64_t now, int64_t *when, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    *when = 0;
    if ((r = prep(s, "SELECT min(not_before_ms) FROM jobs WHERE state = 'QUEUED' AND not_before_ms > ?1",
                  &st, err, errlen)) < 0)
        return r;
    if ((rc = sqlite3_bind_int64(st, 1, now)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(s, rc, "bind", err, errlen);
    }
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        r = db_fail(s, rc, "next due", err, errlen);
    } else if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
        r = 0;
    } else {
        *when = sqlite3_column_int64(st, 0);
        r = 1;
    }
    sqlite3_finalize(st);
    return r;
}

struct first_ud {
    struct dcv_job *out;
    int err;
};

static int take_first(const struct dcv_job *job, void *ud)
{
    struct first_ud *f = ud;
    struct dcv_job *o = f->out;
    /* Deep copy: the listed job is cleared after the callback. */
    *o = *job;
    o->idempotency_key = o->profile_json = o->input_json = o->output_json = NULL;
    o->last_error = o->worker = o->session = NULL;
#define DUP(field)                                                  \
    if (job->field && !(o->field = strdup(job->field))) {           \
        dcv_job_clear(o);                                           \
        f->err = -ENOMEM;                                           \
        return 1;                                                   \
    }
    DUP(idempotency_key) DUP(profile_json) DUP(input_json) DUP(output_json)
    DUP(last_error) DUP(worker) DUP(session)
#undef DUP
    return 1;
}

int dcv_store_next_queued(struct dcv_store *s, struct dcv_job *out, char *err, size_t errlen)
{
    struct first_ud f = { out, 0 };
    int r;

    memset(out, 0, sizeof *out);
    r = dcv_store_list_queued(s, 1, 0, take_first, &f, err, errlen);
    if (r < 0)
        return r;
    if (f.err < 0) {
        dcv_errf(err, errlen, "job store: out of memory");
        return f.err;
    }
    return r; /* 1: found (take_first stops the listing), 0: none */
}

/* ---- submit ---- */

static int find_by_key(struct dcv_store *s, const char *key, size_t keylen, struct dcv_job *out,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = prep(s, "SELECT " JOB_COLS " FROM jobs WHERE idem_key = ?", &st, err, errlen)) < 0)
        return r;
    if ((rc = sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_TRANSIENT)) != SQLITE_OK)
        r = db_fail(s, rc, "bind", err, errlen);
    else if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        r = row_to_job(st, out, err, errlen) < 0 ? -EBADMSG : 1;
    else if (rc == SQLITE_DONE)
        r = 0;
    else
        r = db_fail(s, rc, "find idempotency key", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_submit(struct dcv_store *s, const struct dcv_job_new *req, struct dcv_job *out,
                     int *created, char *err, size_t errlen)
{
    size_t klen, plen, ilen, olen;
    char id[DCV_JOB_ID_LEN + 1];
    sqlite3_stmt *st;
    int64_t now;
    int max_attempts, r, rc;

    memset(out, 0, sizeof *out);
    *created = 0;
    if (!req) {
        dcv_errf(err, errlen, "submit: no request");
        return -EINVAL;
    }
    if ((r = check_text("idempotency key", req->idempotency_key, req->idempotency_key_len,
                        DCV_STORE_KEY_MAX, 0, &klen, err, errlen)) < 0 ||
        (req->idempotency_key && (r = check_key(req->idempotency_key, klen, err, errlen)) < 0) ||
        (r = check_text("profile JSON", req->profile_json, req->profile_json_len, DCV_STORE_TEXT_MAX,
                        1, &plen, err, errlen)) < 0 ||
        (r = check_text("input description", req->input_json, req->input_json_len,
                        DCV_STORE_TEXT_MAX, 1, &ilen, err, errlen)) < 0 ||
        (r = check_text("output description", req->output_json, req->output_json_len,
                        DCV_STORE_TEXT_MAX, 0, &olen, err, errlen)) < 0)
        return r;
    if (!dcv_prio_class_name(req->prio_class)) {
        dcv_errf(err, errlen, "submit: unknown priority class %d", (int)req->prio_class);
        return -EINVAL;
    }
    max_attempts = req->max_attempts ? req->max_attempts : DEFAULT_MAX_ATTEMPTS;
    if (max_attempts < 1 || max_attempts > MAX_ATTEMPTS_LIMIT) {
        dcv_errf(err, errlen, "submit: max_attempts must be 1..%d", MAX_ATTEMPTS_LIMIT);
        return -EINVAL;
    }
    if ((r = dcv_random_hex(id, DCV_JOB_ID_LEN / 2, err, errlen)) < 0)
        return r;

    if ((r = begin(s, err, errlen)) < 0)
        return r;
    if (req->idempotency_key) {
        r = find_by_key(s, req->idempotency_key, klen, out, err, errlen);
        if (r != 0) {
            rollback(s);
            return r < 0 ? r : 0; /* existing job: *created stays 0 */
        }
    }
    now = now_ms();
    if ((r = prep(s,
                  "INSERT INTO jobs (id, idem_key, created_ms, updated_ms, state, attempt, "
                  "max_attempts, prio_class, priority, profile, input, output) "
                  "VALUES (?1, ?2, ?3, ?3, 'QUEUED', 1, ?4, ?5, ?6, ?7, ?8, ?9)",
                  &st, err, errlen)) < 0)
        goto fail;
    if ((rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT)) != SQLITE_OK ||
        (rc = req->idempotency_key
                  ? sqlite3_bind_text(st, 2, req->idempotency_key, (int)klen, SQLITE_TRANSIENT)
                  : sqlite3_bind_null(st, 2)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 3, now)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 4, max_attempts)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 5, (int)req->prio_class)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 6, req->priority)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(st, 7, req->profile_json, (int)plen, SQLITE_TRANSIENT)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(st, 8, req->input_json, (int)ilen, SQLITE_TRANSIENT)) != SQLITE_OK ||
        (rc = req->output_json
                  ? sqlite3_bind_text(st, 9, req->output_json, (int)olen, SQLITE_TRANSIENT)
                  : sqlite3_bind_null(st, 9)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    if ((r = step_done(s, st, "insert job", err, errlen)) < 0)
        goto fail;
    if ((r = commit(s, err, errlen)) < 0)
        goto fail;
    *created = 1;
    /* Committed: a failure to read it back is reported but the job exists. */
    return load_job(s, id, out, err, errlen);
fail:
    rollback(s);
    return r;
}

/* ---- apply ---- */

static const char *outcome_of(enum dcv_job_event ev, enum dcv_job_state to)
{
    switch (ev) {
    case DCV_EV_SUCCEED: return "done";
    case DCV_EV_FAIL_PERMANENT: return "failed";
    case DCV_EV_FAIL_RETRYABLE: return to == DCV_JOB_FAILED ? "failed" : "retryable";
    case DCV_EV_REJECT: return "rejected";
    case DCV_EV_WORKER_LOST: return "worker-lost";
    case DCV_EV_CANCEL: return "cancelled";
    case DCV_EV_REQUEUE_BUSY: return "busy";
    default: return "ended";
    }
}

int64_t dcv_retry_backoff_ms(int retry, int32_t base_ms, int32_t max_ms, uint32_t rnd)
{
    int64_t d;

    if (retry < 1 || base_ms <= 0 || max_ms <= 0)
        return 0;
    d = base_ms;
    /* Doubling stops at the cap, so no shift can overflow. */
    for (int i = 1; i < retry && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* "Equal jitter": half fixed, half random. Jobs requeued together (one
     * worker lost with many jobs) spread out, and no wait exceeds the cap. */
    return d - d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

void dcv_store_set_backoff(struct dcv_store *s, int32_t base_ms, int32_t max_ms)
{
    s->backoff_ms = base_ms > 0 ? base_ms : 0;
    s->backoff_max_ms = max_ms > 0 ? max_ms : 0;
}

/* When a job that goes to `to` on `ev` may be dispatched again: -1 keeps
 * the stored value (the job is not (re)queued), 0 at once. Only a spent
 * attempt waits: a busy requeue has its own pause on the worker, and an
 * operator's retry means now. */
static int64_t not_before_of(const struct dcv_store *s, enum dcv_job_event ev,
                             enum dcv_job_state to, int spent_attempt, int64_t now)
{
    uint32_t rnd = 0;
    int64_t d;

    if (to != DCV_JOB_QUEUED)
        return -1;
    if (ev != DCV_EV_FAIL_RETRYABLE && ev != DCV_EV_WORKER_LOST && ev != DCV_EV_REJECT)
        return 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)now;
    d = dcv_retry_backoff_ms(spent_attempt, s->backoff_ms, s->backoff_max_ms, rnd);
    return d > 0 ? now + d : 0;
}

static int next_seq(struct dcv_store *s, const char *table_sql, const char *id, int *seq,
                    char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = prep(s, table_sql, &st, err, errlen)) < 0)
        return r;
    if ((rc = bind_text(st, 1, id)) != SQLITE_OK)
        r = db_fail(s, rc, "bind", err, errlen);
    else if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *seq = sqlite3_column_int(st, 0) + 1;
        r = 0;
    } else
        r = db_fail(s, rc, "next sequence", err, errlen);
    sqlite3_finalize(st);
    return r;
}

/* The body of apply, inside the caller's transaction. */
static int apply_locked(struct dcv_store *s, const char *id, enum dcv_job_event ev,
                        int expected_attempt, const char *note, const char *worker,
                        const char *session, const char *error_text, char *err, size_t errlen)
{
    struct dcv_job job;
    enum dcv_job_state to;
    sqlite3_stmt *st;
    int next_attempt, seq, r, rc;
    int64_t now = now_ms();
    int was_active, is_active;

    if ((r = load_job(s, id, &job, err, errlen)) < 0)
        return r;
    if (expected_attempt != job.attempt) {
        dcv_errf(err, errlen, "stale %s for job %s: attempt %d, job is on attempt %d",
               dcv_job_event_name(ev), id, expected_attempt, job.attempt);
        r = -ESTALE;
        goto out;
    }
    was_active = dcv_job_state_is_active(job.state);
    if (was_active && ev != DCV_EV_ASSIGN && session && job.session && strcmp(session, job.session) != 0) {
        dcv_errf(err, errlen, "stale %s for job %s: session %s, job is held by session %s",
               dcv_job_event_name(ev), id, session, job.session);
        r = -ESTALE;
        goto out;
    }
    if ((r = dcv_job_transition(job.state, ev, job.attempt, job.max_attempts, &to, &next_attempt,
                                err, errlen)) < 0)
        goto out;
    if (ev == DCV_EV_ASSIGN && !worker) {
        dcv_errf(err, errlen, "ASSIGN needs a worker");
        r = -EINVAL;
        goto out;
    }
    is_active = dcv_job_state_is_active(to);

    if (ev == DCV_EV_PROGRESS) {
        /* Heartbeat-rate event: keep the history readable, only touch the clock. */
        if ((r = prep(s, "UPDATE jobs SET updated_ms = ?2 WHERE id = ?1", &st, err, errlen)) < 0)
            goto out;
        if ((rc = bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int64(st, 2, now)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = db_fail(s, rc, "bind", err, errlen);
            goto out;
        }
        r = step_done(s, st, "update job", err, errlen);
        goto out;
    }

    /* Close the open attempt when the worker lets go of the job. */
    if (was_active && !is_active) {
        if ((r = prep(s,
                      "UPDATE attempts SET ended_ms = ?2, outcome = ?3, error = ?4 "
                      "WHERE job_id = ?1 AND ended_ms IS NULL",
                      &st, err, errlen)) < 0)
            goto out;
        if ((rc = bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int64(st, 2, now)) != SQLITE_OK ||
            (rc = bind_text(st, 3, outcome_of(ev, to))) != SQLITE_OK ||
            (rc = bind_text(st, 4, error_text)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = db_fail(s, rc, "bind", err, errlen);
            goto out;
        }
        if ((r = step_done(s, st, "close attempt", err, errlen)) < 0)
            goto out;
    }
    /* Open one when a worker takes it. */
    if (ev == DCV_EV_ASSIGN) {
        if ((r = next_seq(s, "SELECT coalesce(max(seq), 0) FROM attempts WHERE job_id = ?", id, &seq,
                          err, errlen)) < 0)
            goto out;
        if ((r = prep(s,
                      "INSERT INTO attempts (job_id, seq, attempt, worker, session, started_ms) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      &st, err, errlen)) < 0)
            goto out;
        if ((rc = bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int(st, 2, seq)) != SQLITE_OK ||
            (rc = sqlite3_bind_int(st, 3, job.attempt)) != SQLITE_OK ||
            (rc = bind_text(st, 4, worker)) != SQLITE_OK || (rc = bind_text(st, 5, session)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(st, 6, now)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = db_fail(s, rc, "bind", err, errlen);
            goto out;
        }
        if ((r = step_done(s, st, "open attempt", err, errlen)) < 0)
            goto out;
    }

    if ((r = prep(s,
                  "UPDATE jobs SET state = ?2, attempt = ?3, updated_ms = ?4,"
                  " last_error = CASE WHEN ?5 IS NULL THEN last_error ELSE ?5 END,"
                  " worker = CASE WHEN ?6 THEN ?7 ELSE worker END,"
                  " session = CASE WHEN ?6 THEN ?8 ELSE session END,"
                  " not_before_ms = CASE WHEN ?9 < 0 THEN not_before_ms ELSE ?9 END"
                  " WHERE id = ?1",
                  &st, err, errlen)) < 0)
        goto out;
    if ((rc = bind_text(st, 1, id)) != SQLITE_OK ||
        (rc = bind_text(st, 2, dcv_job_state_name(to))) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 3, next_attempt)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 4, now)) != SQLITE_OK ||
        (rc = bind_text(st, 5, error_text)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 6, ev == DCV_EV_ASSIGN)) != SQLITE_OK ||
        (rc = bind_text(st, 7, worker)) != SQLITE_OK || (rc = bind_text(st, 8, session)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 9, not_before_of(s, ev, to, job.attempt, now))) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = db_fail(s, rc, "bind", err, errlen);
        goto out;
    }
    if ((r = step_done(s, st, "update job", err, errlen)) < 0)
        goto out;

    if ((r = next_seq(s, "SELECT coalesce(max(seq), 0) FROM history WHERE job_id = ?", id, &seq, err,
                      errlen)) < 0)
        goto out;
    if ((r = prep(s,
                  "INSERT INTO history (job_id, seq, from_state, to_state, event, attempt, time_ms, note) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                  &st, err, errlen)) < 0)
        goto out;
    if ((rc = bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int(st, 2, seq)) != SQLITE_OK ||
        (rc = bind_text(st, 3, dcv_job_state_name(job.state))) != SQLITE_OK ||
        (rc = bind_text(st, 4, dcv_job_state_name(to))) != SQLITE_OK ||
        (rc = bind_text(st, 5, dcv_job_event_name(ev))) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 6, job.attempt)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 7, now)) != SQLITE_OK || (rc = bind_text(st, 8, note)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = db_fail(s, rc, "bind", err, errlen);
        goto out;
    }
    r = step_done(s, st, "record history", err, errlen);
out:
    dcv_job_clear(&job);
    return r;
}

int dcv_store_apply(struct dcv_store *s, const char *job_id, enum dcv_job_event ev,
                    int expected_attempt, const char *note, const char *worker,
                    const char *session, const char *error_text, struct dcv_job *out,
                    char *err, size_t errlen)
{
    int r;

    if (out)
        memset(out, 0, sizeof *out);
    if ((r = check_job_id(job_id, err, errlen)) < 0 ||
        (r = check_opt("note", note, DCV_STORE_TEXT_MAX, err, errlen)) < 0 ||
        (r = check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = check_opt("session", session, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = check_opt("error text", error_text, DCV_STORE_TEXT_MAX, err, errlen)) < 0)
        return r;
    if (!dcv_job_event_name(ev)) {
        dcv_errf(err, errlen, "unknown job event %d", (int)ev);
        return -EINVAL;
    }
    if ((r = begin(s, err, errlen)) < 0)
        return r;
    if ((r = apply_locked(s, job_id, ev, expected_attempt, note, worker, session, error_text, err,
                          errlen)) < 0 ||
        (r = commit(s, err, errlen)) < 0) {
        rollback(s);
        return r;
    }
    return out ? load_job(s, job_id, out, err, errlen) : 0;
}

int dcv_store_requeue_running_of_worker(struct dcv_store *s, const char *worker, const char *session,
                                        const char *note, char *err, size_t errlen)
{
    struct { char id[DCV_JOB_ID_LEN + 1]; int attempt; } *ids = NULL, *tmp;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st;
    int r, rc, count = 0;

    if (!worker) {
        dcv_errf(err, errlen, "requeue: no worker given");
        return -EINVAL;
    }
    if ((r = check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = check_opt("session", session, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = check_opt("note", note, DCV_STORE_TEXT_MAX, err, errlen)) < 0)
        return r;
    if ((r = begin(s, err, errlen)) < 0)
        return r;
    if ((r = prep(s,
                  "SELECT id, attempt FROM jobs WHERE worker = ?1 AND (?2 IS NULL OR session = ?2)"
                  " AND state IN ('ASSIGNED', 'RUNNING', 'VERIFYING') ORDER BY created_ms, rowid",
                  &st, err, errlen)) < 0)
        goto fail;
    if ((rc = bind_text(st, 1, worker)) != SQLITE_OK || (rc = bind_text(st, 2, session)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    /* Collect first: the updates below must not run under an open SELECT on the same rows. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(st, 0);
        if (!id || strlen((const char *)id) != DCV_JOB_ID_LEN)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            if (!(tmp = realloc(ids, cap * sizeof *ids))) {
                sqlite3_finalize(st);
                dcv_errf(err, errlen, "requeue: out of memory");
                r = -ENOMEM;
                goto fail;
            }
            ids = tmp;
        }
        memcpy(ids[n].id, id, DCV_JOB_ID_LEN + 1);
        ids[n++].attempt = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        r = db_fail(s, rc, "find worker's jobs", err, errlen);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if ((r = apply_locked(s, ids[i].id, DCV_EV_WORKER_LOST, ids[i].attempt, note, NULL, NULL,
                              "worker lost", err, errlen)) < 0)
            goto fail;
        count++;
    }
    if ((r = commit(s, err, errlen)) < 0)
        goto fail;
    free(ids);
    return count;
fail:
    rollback(s);
    free(ids);
    return r;
}

/* ---- history / attempts ---- */

void dcv_store_history_free(struct dcv_transition *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++)
        free(h[i].note);
    free(h);
}

void dcv_store_attempts_free(struct dcv_attempt *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].worker);
        free(a[i].session);
        free(a[i].outcome);
        free(a[i].error);
    }
    free(a);
}

/* Prepare a per-job SELECT and check the job exists (so an unknown id is
 * -ENOENT, not an empty list). */
static int per_job_query(struct dcv_store *s, const char *id, const char *sql, sqlite3_stmt **st,
                         char *err, size_t errlen)
{
    struct dcv_job job;
    int r, rc;

    if ((r = check_job_id(id, err, errlen)) < 0 || (r = load_job(s, id, &job, err, errlen)) < 0)
        return r;
    dcv_job_clear(&job);
    if ((r = prep(s, sql, st, err, errlen)) < 0)
        return r;
    if ((rc = bind_text(*st, 1, id)) != SQLITE_OK) {
        sqlite3_finalize(*st);
        return db_fail(s, rc, "bind", err, errlen);
    }
    return 0;
}

/* Grow *arr (elements of size sz) to hold one more; 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * sz);
    if (!p)
        return -ENOMEM;
    memset((char *)p + n * sz, 0, (nc - n) * sz);
    *arr = p;
    *cap = nc;
    return 0;
}

int dcv_store_history(struct dcv_store *s, const char *job_id, struct dcv_transition **out, size_t *n,
                      char *err, size_t errlen)
{
    struct dcv_transition *h = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    int r, rc;

    *out = NULL;
    *n = 0;
    if ((r = per_job_query(s, job_id,
                           "SELECT seq, from_state, to_state, event, attempt, time_ms, note "
                           "FROM history WHERE job_id = ? ORDER BY seq",
                           &st, err, errlen)) < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        void *arr = h;
        if ((r = grow(&arr, &cap, cnt, sizeof *h)) < 0)
            break;
        h = arr;
        struct dcv_transition *t = &h[cnt++];
        t->seq = sqlite3_column_int(st, 0);
        if (dcv_job_state_parse((const char *)sqlite3_column_text(st, 1), &t->from) < 0 ||
            dcv_job_state_parse((const char *)sqlite3_column_text(st, 2), &t->to) < 0 ||
            dcv_job_event_parse((const char *)sqlite3_column_text(st, 3), &t->event) < 0) {
            r = -EBADMSG;
            break;
        }
        t->attempt = sqlite3_column_int(st, 4);
        t->time_ms = sqlite3_column_int64(st, 5);
        if ((r = col_dup(st, 6, &t->note)) < 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = db_fail(s, rc, "read history", err, errlen);
    else if (r == -ENOMEM)
        dcv_errf(err, errlen, "history: out of memory");
    else if (r == -EBADMSG)
        dcv_errf(err, errlen, "job store: malformed history row");
    sqlite3_finalize(st);
    if (r < 0) {
        dcv_store_history_free(h, cnt);
        return r;
    }
    *out = h;
    *n = cnt;
    return 0;
}

int dcv_store_attempts(struct dcv_store *s, const char *job_id, struct dcv_attempt **out, size_t *n,
                       char *err, size_t errlen)
{
    struct dcv_attempt *a = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    int r, rc;

    *out = NULL;
    *n = 0;
    if ((r = per_job_query(s, job_id,
                           "SELECT seq, attempt, worker, session, started_ms, ended_ms, outcome, error "
                           "FROM attempts WHERE job_id = ? ORDER BY seq",
                           &st, err, errlen)) < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        void *arr = a;
        if ((r = grow(&arr, &cap, cnt, sizeof *a)) < 0)
            break;
        a = arr;
        struct dcv_attempt *t = &a[cnt++];
        t->seq = sqlite3_column_int(st, 0);
        t->attempt = sqlite3_column_int(st, 1);
        t->started_ms = sqlite3_column_int64(st, 4);
        t->ended_ms = sqlite3_column_int64(st, 5);
        if ((r = col_dup(st, 2, &t->worker)) < 0 || (r = col_dup(st, 3, &t->session)) < 0 ||
            (r = col_dup(st, 6, &t->outcome)) < 0 || (r = col_dup(st, 7, &t->error)) < 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = db_fail(s, rc, "read attempts", err, errlen);
    else if (r < 0)
        dcv_errf(err, errlen, "attempts: out of memory");
    sqlite3_finalize(st);
    if (r < 0) {
        dcv_store_attempts_free(a, cnt);
        return r;
    }
    *out = a;
    *n = cnt;
    return 0;
}

/* ---- additions for the coordinator service ---- */

int dcv_store_list_active(struct dcv_store *s, const char *worker, dcv_store_job_cb cb, void *ud,
                          char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if (!cb) {
        dcv_errf(err, errlen, "active list: no callback");
        return -EINVAL;
    }
    if ((r = check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0)
        return r;
    if ((r = prep(s,
                  "SELECT " JOB_COLS " FROM jobs WHERE state IN ('ASSIGNED', 'RUNNING', 'VERIFYING')"
                  " AND (?1 IS NULL OR worker = ?1) ORDER BY created_ms, rowid",
                  &st, err, errlen)) < 0)
        return r;
    if ((rc = bind_text(st, 1, worker)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(s, rc, "bind", err, errlen);
    }
    return each_job(s, st, cb, ud, err, errlen);
}

int dcv_store_count(struct dcv_store *s, int state, int64_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    *n = 0;
    if (state >= 0 && !dcv_job_state_name((enum dcv_job_state)state)) {
        dcv_errf(err, errlen, "job count: bad state filter");
        return -EINVAL;
    }
    if ((r = prep(s, "SELECT count(*) FROM jobs WHERE (?1 IS NULL OR state = ?1)", &st, err,
                  errlen)) < 0)
        return r;
    if ((rc = bind_text(st, 1, state >= 0 ? dcv_job_state_name((enum dcv_job_state)state) : NULL)) !=
        SQLITE_OK)
        r = db_fail(s, rc, "bind", err, errlen);
    else if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        r = db_fail(s, rc, "count jobs", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_set_output(struct dcv_store *s, const char *job_id, const char *output_json,
                         char *err, size_t errlen)
{
    sqlite3_stmt *st;
    size_t olen;
    int r, rc;

    if ((r = check_job_id(job_id, err, errlen)) < 0 ||
        (r = check_text("output description", output_json, 0, DCV_STORE_TEXT_MAX, 1, &olen, err,
                        errlen)) < 0)
        return r;
    if ((r = prep(s, "UPDATE jobs SET output = ?2 WHERE id = ?1", &st, err, errlen)) < 0)
        return r;
    if ((rc = bind_text(st, 1, job_id)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(st, 2, output_json, (int)olen, SQLITE_TRANSIENT)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail(s, rc, "bind", err, errlen);
    }
    if ((r = step_done(s, st, "record output", err, errlen)) < 0)
        return r;
    if (sqlite3_changes(s->db) == 0) {
        dcv_errf(err, errlen, "no job %s", job_id);
        return -ENOENT;
    }
    return 0;
}

int dcv_store_set_session(struct dcv_store *s, const char *job_id, int attempt,
                          const char *worker, const char *session, char *err, size_t errlen)
{
    struct dcv_job job;
    sqlite3_stmt *st;
    int r, rc;

    if ((r = check_job_id(job_id, err, errlen)) < 0)
        return r;
    if (!worker || !session || !*worker || !*session) {
        dcv_errf(err, errlen, "re-attach needs a worker and a session");
        return -EINVAL;
    }
    if ((r = check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = check_opt("session", session, DCV_STORE_NAME_MAX, err, errlen)) < 0)
        return r;
    if ((r = begin(s, err, errlen)) < 0)
        return r;
    if ((r = load_job(s, job_id, &job, err, errlen)) < 0)
        goto fail;
    if (job.attempt != attempt || !dcv_job_state_is_active(job.state) || !job.worker ||
        strcmp(job.worker, worker) != 0) {
        dcv_errf(err, errlen, "stale re-attach of job %s attempt %d by %s", job_id, attempt, worker);
        dcv_job_clear(&job);
        r = -ESTALE;
        goto fail;
    }
    dcv_job_clear(&job);
    if ((r = prep(s, "UPDATE jobs SET session = ?2 WHERE id = ?1", &st, err, errlen)) < 0)
        goto fail;
    if ((rc = bind_text(st, 1, job_id)) != SQLITE_OK || (rc = bind_text(st, 2, session)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    if ((r = step_done(s, st, "re-attach job", err, errlen)) < 0)
        goto fail;
    if ((r = prep(s, "UPDATE attempts SET session = ?2 WHERE job_id = ?1 AND ended_ms IS NULL", &st,
                  err, errlen)) < 0)
        goto fail;
    if ((rc = bind_text(st, 1, job_id)) != SQLITE_OK || (rc = bind_text(st, 2, session)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    if ((r = step_done(s, st, "re-attach attempt", err, errlen)) < 0)
        goto fail;
    if ((r = commit(s, err, errlen)) < 0)
        goto fail;
    return 0;
fail:
    rollback(s);
    return r;
}
