/*
 * The coordinator's durable job store (DESIGN §5, §7): SQLite in WAL mode
 * with synchronous=FULL, so a submit is on disk before it is acknowledged.
 * Every state change goes through dcv_store_apply(), which runs the
 * jobstate table, the attempt fence, the history row and the attempt rows
 * in one transaction.
 *
 * All functions return 0 (or the documented non-negative value) or a
 * negative errno with a message in err: -EINVAL bad input or illegal move,
 * -ENOENT unknown job, -ESTALE message from an old attempt/session,
 * -ENOSPC/-EIO storage, -EBUSY database locked past the busy timeout.
 * A store handle is not thread-safe; use one per thread.
 */
#ifndef DCV_STORE_H
#define DCV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/jobstate.h"

#define DCV_STORE_FILE "jobs.db"
#define DCV_JOB_ID_LEN 32              /* hex characters (128 random bits) */
#define DCV_STORE_KEY_MAX 128          /* idempotency key, bytes */
#define DCV_STORE_TEXT_MAX (64 * 1024) /* each JSON / error / note text, bytes */
#define DCV_STORE_NAME_MAX 256         /* worker name, session id */

enum dcv_prio_class { DCV_PRIO_LOW = 0, DCV_PRIO_NORMAL = 1, DCV_PRIO_HIGH = 2 };

const char *dcv_prio_class_name(enum dcv_prio_class c); /* "low" | "normal" | "high" */

struct dcv_store;

/*
 * A submit request. Texts are borrowed. A length of 0 means strlen(); a
 * non-zero length lets wire input with embedded NUL bytes be refused rather
 * than silently truncated. The key is optional (NULL): 1..128 printable ASCII
 * characters, no spaces. max_attempts 0 means the default (3).
 */
struct dcv_job_new {
    const char *idempotency_key;
    size_t idempotency_key_len;
    enum dcv_prio_class prio_class;
    int priority;
    int max_attempts;
    const char *profile_json; /* required */
    size_t profile_json_len;
    const char *input_json;   /* required */
    size_t input_json_len;
    const char *output_json;  /* optional */
    size_t output_json_len;
};

/* A job as stored. Strings are owned (NULL when absent); free with dcv_job_clear(). */
struct dcv_job {
    char id[DCV_JOB_ID_LEN + 1];
    char *idempotency_key;
    int64_t created_ms, updated_ms; /* CLOCK_REALTIME milliseconds */
    enum dcv_job_state state;
    int attempt;                    /* current (or next) attempt, 1-based */
    int max_attempts;
    enum dcv_prio_class prio_class;
    int priority;
    char *profile_json, *input_json, *output_json;
    char *last_error;
    char *worker, *session;         /* current or last assignment */
    int64_t not_before_ms;          /* QUEUED after a spent attempt: not dispatched before
                                       this CLOCK_REALTIME ms (0: at once); see back-off */
};
void dcv_job_clear(struct dcv_job *job);

struct dcv_attempt {
    int seq;            /* 1-based per job; REQUEUE_BUSY makes two rows for one attempt */
    int attempt;
    char *worker, *session;
    int64_t started_ms;
    int64_t ended_ms;   /* 0 while open */
    char *outcome;      /* NULL while open; "done" "failed" "retryable" "rejected" "worker-lost" "cancelled" "busy" */
    char *error;
    char *log_tail;     /* NULL or the job process's last log lines, '\n'-separated */
};

struct dcv_transition {
    int seq;            /* 1-based per job */
    enum dcv_job_state from, to;
    enum dcv_job_event event;
    int attempt;        /* the attempt the event belonged to */
    int64_t time_ms;
    char *note;
};

/* Open (creating, mode 0600) dir/jobs.db; dir must exist. */
int dcv_store_open(const char *dir, struct dcv_store **out, char *err, size_t errlen);
/* Closes and frees *s, and sets it NULL. NULL and *s NULL ok. */
void dcv_store_close(struct dcv_store **s);

/* Store a new job, durably, before returning. With an idempotency key that
 * is already present, *out is the EXISTING job and *created is 0. */
int dcv_store_submit(struct dcv_store *s, const struct dcv_job_new *req, struct dcv_job *out,
                     int *created, char *err, size_t errlen);

int dcv_store_get(struct dcv_store *s, const char *job_id, struct dcv_job *out, char *err,
                  size_t errlen);

/* Called per job; the job is only valid during the call. Non-zero stops the
 * listing and is returned by dcv_store_list(). */
typedef int (*dcv_store_job_cb)(const struct dcv_job *job, void *ud);

/* Jobs in creation order; state < 0 means all states; limit <= 0 means no
 * limit. Returns 0, the callback's non-zero value, or a negative errno. */
int dcv_store_list(struct dcv_store *s, int state, int limit, int offset, dcv_store_job_cb cb,
                   void *ud, char *err, size_t errlen);
/* The same, newest first when newest_first (what a person listing jobs
 * wants to see, and pages back from). */
int dcv_store_list_order(struct dcv_store *s, int state, int newest_first, int limit, int offset,
                         dcv_store_job_cb cb, void *ud, char *err, size_t errlen);
/* The same, only the jobs whose input records owner as the submitter
 * (NULL: everyone's), and their count: a submitter's listing pages in SQL. */
int dcv_store_list_owned(struct dcv_store *s, int state, const char *owner, int newest_first,
                         int limit, int offset, dcv_store_job_cb cb, void *ud, char *err,
                         size_t errlen);
int dcv_store_count_owned(struct dcv_store *s, int state, const char *owner, int64_t *n,
                          char *err, size_t errlen);

/* Queued jobs in scheduling order (class, then priority, then oldest first). */
int dcv_store_list_queued(struct dcv_store *s, int limit, int offset, dcv_store_job_cb cb,
                          void *ud, char *err, size_t errlen);

/*
 * Retry back-off. The delay before the `retry`-th retry (1 = the first):
 * min(max_ms, base_ms * 2^(retry-1)), of which the upper half is replaced
 * by `rnd` modulo its size (jitter), so the result lies in [d/2, d]. 0 when
 * base_ms or max_ms is 0. Pure: the caller supplies the randomness.
 */
int64_t dcv_retry_backoff_ms(int retry, int32_t base_ms, int32_t max_ms, uint32_t rnd);
/* Make every later retryable requeue (FAIL_RETRYABLE, WORKER_LOST, REJECT
 * back to QUEUED) set the job's not_before_ms with dcv_retry_backoff_ms();
 * REQUEUE_BUSY and RETRY set it to 0. Default: 0, 0 (no back-off). */
void dcv_store_set_backoff(struct dcv_store *s, int32_t base_ms, int32_t max_ms);
/* Queued jobs whose back-off has passed at `now` (CLOCK_REALTIME ms), in
 * scheduling order. Same contract as dcv_store_list_queued(). */
int dcv_store_list_due(struct dcv_store *s, int64_t now, int limit, dcv_store_job_cb cb, void *ud,
                       char *err, size_t errlen);
/* The same, a page of them: limit from offset in that order. */
int dcv_store_list_queue_page(struct dcv_store *s, int64_t now, int limit, int offset,
                              dcv_store_job_cb cb, void *ud, char *err, size_t errlen);
/* The earliest not_before_ms of a queued job still waiting at `now`: 1 with
 * *when, 0 when none waits, or -errno. */
int dcv_store_next_due(struct dcv_store *s, int64_t now, int64_t *when, char *err, size_t errlen);

/* The queued job to schedule next. 1 and *out filled, 0 when none, or -errno. */
int dcv_store_next_queued(struct dcv_store *s, struct dcv_job *out, char *err, size_t errlen);

/*
 * Apply `ev` to a job in one transaction. Fencing: expected_attempt must be
 * the job's current attempt, and while the job is held by a worker
 * (ASSIGNED/RUNNING/VERIFYING) a non-NULL session must be the holder's,
 * otherwise -ESTALE and nothing changes. ASSIGN requires worker (and takes
 * session) and opens an attempt row; leaving a held state closes it with
 * error_text. PROGRESS only touches updated_ms (no history row). out may be
 * NULL; when given it receives the job after the change.
 */
int dcv_store_apply(struct dcv_store *s, const char *job_id, enum dcv_job_event ev,
                    int expected_attempt, const char *note, const char *worker,
                    const char *session, const char *error_text, struct dcv_job *out,
                    char *err, size_t errlen);

/* Per-job transition history / attempts, oldest first. *out is malloc'd
 * (NULL when *n is 0); free with the matching function. */
int dcv_store_history(struct dcv_store *s, const char *job_id, struct dcv_transition **out,
                      size_t *n, char *err, size_t errlen);
void dcv_store_history_free(struct dcv_transition *h, size_t n);
int dcv_store_attempts(struct dcv_store *s, const char *job_id, struct dcv_attempt **out,
                       size_t *n, char *err, size_t errlen);
void dcv_store_attempts_free(struct dcv_attempt *a, size_t n);

/* Keep the last log lines of `attempt`'s newest attempt row (after it was
 * closed by the failure that carried them): '\n'-separated, at most
 * DCV_STORE_LOG_MAX bytes. -ENOENT when the job has no such attempt. */
#define DCV_STORE_LOG_MAX 8192
int dcv_store_set_attempt_log(struct dcv_store *s, const char *job_id, int attempt,
                              const char *log_tail, char *err, size_t errlen);

/* A worker (session NULL: any of its sessions) is gone: apply WORKER_LOST to
 * every job it holds, in one transaction. Returns how many jobs changed. */
int dcv_store_requeue_running_of_worker(struct dcv_store *s, const char *worker,
                                        const char *session, const char *note, char *err,
                                        size_t errlen);

/* ---- additions for the coordinator service ---- */

/* Jobs held by a worker (ASSIGNED, RUNNING, VERIFYING) in creation order;
 * worker NULL: every held job. Same callback contract as dcv_store_list(). */
int dcv_store_list_active(struct dcv_store *s, const char *worker, dcv_store_job_cb cb, void *ud,
                          char *err, size_t errlen);

/* How many jobs are in `state` (< 0: all). 0 with *n, or -errno. */
int dcv_store_count(struct dcv_store *s, int state, int64_t *n, char *err, size_t errlen);

/* Record the job's output description (JSON text, bounded like the other
 * texts) without a state change: the coordinator writes it after it has
 * verified the output and before it applies SUCCEED. -ENOENT unknown job. */
int dcv_store_set_output(struct dcv_store *s, const char *job_id, const char *output_json,
                         char *err, size_t errlen);

/* Re-attach: a worker that restarted its session still runs `attempt` of a
 * job it holds (HELLO.running). Moves the job (and its open attempt row) to
 * `session`; fenced like dcv_store_apply() on the attempt and the worker:
 * -ESTALE when the job is not held by `worker` on that attempt. */
int dcv_store_set_session(struct dcv_store *s, const char *job_id, int attempt,
                          const char *worker, const char *session, char *err, size_t errlen);

#endif
