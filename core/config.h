/*
 * distconvd configuration: a libconfig file plus DISTCONV_* environment
 * overrides. Every error names the file and line (or the variable) and what
 * was expected. An empty or missing default file plus environment variables
 * is a complete configuration (containers).
 *
 * Precedence, lowest first: built-in defaults < config file < environment.
 * Plugin settings: `plugins.<name> { ... }` in the main file, or a file
 * <plugin_conf_dir>/<name>.conf whose top level is that subtree (what a
 * distro's per-GPU package drops in). The main file wins when both exist,
 * key by key: a drop-in's keys the main file does not set still apply.
 */
#ifndef DCV_CONFIG_H
#define DCV_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include "distconv/plugin.h"
#include "log.h"

#ifndef DCV_DEFAULT_CONFIG
#define DCV_DEFAULT_CONFIG "/etc/distconv/distconvd.conf"
#endif

enum dcv_role { DCV_ROLE_STANDALONE = 0, DCV_ROLE_COORDINATOR = 1, DCV_ROLE_WORKER = 2 };

/* Values of queue.strategy: the same numbers as enum dcv_sched_strategy. */
enum dcv_conf_strategy {
    DCV_CONF_LEAST_LOADED = 0,
    DCV_CONF_ROUND_ROBIN = 1,
    DCV_CONF_CAPABILITY = 2,
    DCV_CONF_GPU_AWARE = 3,
};

/* queue.gpu_policy: what a job that may use a GPU does when every GPU that
 * could take it is out of encoder sessions (profile option gpu-policy). */
enum dcv_gpu_policy { DCV_GPU_QUEUE = 0, DCV_GPU_FALLBACK = 1, DCV_GPU_REJECT = 2 };

/* transfer.stream: whether a worker reads a coordinator-held input on
 * demand over the data plane instead of copying it to its disk first. */
enum dcv_stream_policy {
    DCV_STREAM_AUTO = 0,   /* stream when the worker's free disk cannot hold the input */
    DCV_STREAM_ALWAYS = 1,
    DCV_STREAM_NEVER = 2,  /* copy; a worker without the room is not given the job */
};

/* queue.stall_action: what becomes of an attempt flagged stalled. */
enum dcv_stall_action {
    DCV_STALL_FLAG = 0, /* shown as stalled (status, jobs, /metrics) and logged */
    DCV_STALL_FAIL = 1, /* also failed as retryable: "stalled: no progress for N s" */
};

/* security.mode (docs/security.md). */
/* http.anonymous: what a request without credentials may do (loopback
 * binds only; docs/api.md). */
enum dcv_http_anon { DCV_HTTP_ANON_VIEWER = 0, DCV_HTTP_ANON_NONE = 1 };

enum dcv_sec_mode {
    DCV_SEC_CURVE = 0, /* CurveZMQ keys + allow-lists on every tcp endpoint (default) */
    DCV_SEC_TOKEN = 1, /* ZMQ PLAIN with a shared token: weaker, no encryption */
    DCV_SEC_NONE = 2,  /* nothing: loopback experiments only */
};

#define DCV_ENDPOINT_MAX 256 /* "tcp://host:port" / "ipc:///path" */
#define DCV_STRLIST_MAX 16   /* entries of a list setting */
#define DCV_STRLIST_LEN 1024 /* bytes of one entry, NUL included */

/* A list of strings (libconfig array; environment: entries separated by ';'). */
struct dcv_strlist {
    unsigned n;
    char v[DCV_STRLIST_MAX][DCV_STRLIST_LEN];
};

struct dcv_settings {
    enum dcv_role role;
    char name[64];                  /* default: the host name */
    char state_dir[PATH_MAX];       /* default: /var/lib/distconv */
    char plugin_dir[PATH_MAX];      /* default: $(libdir)/distconv/plugins */
    char plugin_conf_dir[PATH_MAX]; /* default: /etc/distconv/plugins.d */
    /* The directory of the configuration file in use (-c FILE's, else the
     * default's, /etc/distconv): the security files' defaults live there. */
    char conf_dir[PATH_MAX];
    int log_level;                  /* enum dcv_log_level */
    enum dcv_log_format log_format;
    enum dcv_log_target log_target;

    /* Distributed jobs. Endpoints left "" get their role default in
     * dcv_conf_load(), so what --check-config prints is what is used. */
    char transport[32];                  /* transport plugin: "zmq" = transport-zmq.so */
    char bind[DCV_ENDPOINT_MAX];         /* control ROUTER (coordinator, standalone) */
    char data_bind[DCV_ENDPOINT_MAX];    /* data ROUTER */
    char data_endpoint[DCV_ENDPOINT_MAX]; /* data ROUTER as workers reach it; "" = data_bind,
                                            a wildcard host replaced by the worker */
    char admin[DCV_ENDPOINT_MAX];        /* admin ROUTER (coordinator binds, CLI connects) */
    char coordinator[DCV_ENDPOINT_MAX];  /* worker: the coordinator's control endpoint */
    int32_t max_jobs;                    /* worker slots, 1..1024 */
    char work_dir[PATH_MAX];             /* worker: job scratch space */
    int32_t heartbeat_ms, liveness;      /* liveness.heartbeat_ms, liveness.misses */
    int32_t max_attempts;                /* queue.max_attempts: default per job */
    enum dcv_conf_strategy strategy;     /* queue.strategy */
    int32_t retry_backoff_ms;            /* queue.retry_backoff_ms: first retry's delay, 0 = none */
    int32_t retry_backoff_max_ms;        /* queue.retry_backoff_max_ms: cap of the doubling */
    enum dcv_gpu_policy gpu_policy;      /* queue.gpu_policy: default of profile gpu-policy */
    int32_t gpu_wait_s;                  /* queue.gpu_wait_s: queue policy's wait, 0 = forever */
    int32_t unschedulable_timeout_s;     /* queue.unschedulable_timeout_s: 0 = wait forever */
    char http_bind[96];                  /* http.bind: "127.0.0.1:7480", "off" or "" = none */
    int32_t http_max_connections;        /* http.max_connections: clients at once */
    int32_t http_per_ip;                 /* http.per_ip_connections: one address at once */
    int32_t http_timeout_s;              /* http.timeout_s: an idle connection is closed */
    char http_tls_cert[PATH_MAX];        /* http.tls_cert: PEM; with tls_key: HTTPS */
    char http_tls_key[PATH_MAX];         /* http.tls_key: PEM, mode 0600 */
    int32_t http_anonymous;              /* http.anonymous: DCV_HTTP_ANON_* */
    char http_metrics_token_file[PATH_MAX]; /* http.metrics_token_file: "" = none */
    int32_t busy_hold_s;                 /* queue.busy_hold_s: an -EBUSY lowered limit lasts this long */
    int64_t stall_after_s;               /* queue.stall_after: no progress this long = stalled, 0 = off */
    enum dcv_stall_action stall_action;  /* queue.stall_action */
    int32_t chunk_size, credit_chunks;   /* transfer.*: data-plane chunk bytes, window */
    enum dcv_stream_policy stream;       /* transfer.stream */
    int64_t disk_reserve;                /* transfer.disk_reserve: free disk a copy must leave */
    int32_t part_max_age_s;              /* transfer.part_max_age_s: abandoned upload parts live this long */
    /* storage.* (coordinator blob retention, core/coordinator/retention.h): seconds, 0 = forever */
    int64_t keep_inputs_s;               /* an uploaded input after its last job ended */
    int64_t keep_outputs_s;              /* an output after its job ended (or its first download) */
    int keep_outputs_until_downloaded;   /* never remove an output nobody downloaded */
    struct dcv_strlist shared_roots;     /* coordinator: directories submitters may name */
    struct dcv_strlist path_map;         /* worker.path_map: "COORDINATOR_PREFIX=LOCAL_PREFIX" */
    struct dcv_strlist url_protocols;    /* inputs.url_protocols: schemes a URL input may use */
    int64_t disk_quota;                  /* worker.disk_quota: bytes of work_dir it may use, 0 = all */
    int32_t job_nice;                    /* worker.nice: niceness of job processes */
    int32_t max_cpu_jobs, max_gpu_jobs;  /* worker.max_cpu_jobs/_gpu_jobs: per class, 0 = max_jobs */
    int64_t job_memory_limit;            /* worker.job_memory_limit: RLIMIT_AS of a job, 0 = none */
    int benchmark;                       /* worker.benchmark: measure encoders at start (role worker) */
    int32_t benchmark_ms;                /* worker.benchmark_ms: encode budget per device+codec */
    char worker_http_bind[96];           /* worker.http_bind: its own /metrics, "" or "off" = none */

    /* admission.* (worker; core/worker/telemetry.h): the worker reports
     * itself BUSY past any of these. 0 = that check off. */
    double adm_max_mem_pressure;         /* PSI memory some avg10, % */
    int64_t adm_min_mem_avail;           /* bytes */
    double adm_max_cpu_pressure;         /* PSI cpu some avg10, % */
    double adm_max_io_pressure;          /* PSI io some avg10, % */
    double adm_max_load_per_core;        /* load1 / CPUs; also the fallback of cpu pressure */
    double adm_max_temp_c;               /* hottest CPU sensor */
    double adm_max_gpu_temp_c;           /* hottest GPU (NVML) */
    int64_t adm_min_disk_free;           /* bytes of the work dir */
    char nvml_library[PATH_MAX];         /* telemetry.nvml_library: dlopen name, "" = off */

    /* security.* (core/auth.h). "" secret_key = the role's default key file. */
    enum dcv_sec_mode sec_mode;
    char sec_secret_key[PATH_MAX];
    char sec_coordinator_key[PATH_MAX];
    char sec_workers_dir[PATH_MAX];
    char sec_admins_dir[PATH_MAX];
    char sec_token_file[PATH_MAX];
    char sec_ipc_operator_group[64];
    char sec_ipc_submitter_group[64];
};

struct dcv_conf; /* the loaded file(s) and the resolved settings */

/*
 * Load `path`. When `explicit_path` is 0 and the file does not exist, start
 * from defaults (the environment may say the rest). A file that exists but
 * cannot be read or parsed, an unknown key, a wrong type or an invalid value
 * is an error: -EINVAL (or -errno for I/O) with "FILE:LINE: ..." in err.
 * Environment values are validated the same way ("DISTCONV_ROLE: ...").
 */
int dcv_conf_load(struct dcv_conf **out, const char *path, int explicit_path,
                  char *err, size_t errlen);
void dcv_conf_free(struct dcv_conf **conf);

const struct dcv_settings *dcv_conf_settings(const struct dcv_conf *conf);
const char *dcv_conf_path(const struct dcv_conf *conf); /* "" when defaults only */

/* The handle passed to a plugin's init() for plugin `name` (never NULL; an
 * absent subtree gives a handle whose lookups return -ENOENT). Lives as long
 * as conf. `plugins.<name>.enabled = false` makes dcv_conf_plugin_enabled 0. */
const struct dcv_config *dcv_conf_plugin(struct dcv_conf *conf, const char *name);
int dcv_conf_plugin_enabled(struct dcv_conf *conf, const char *name);

/* Host-API lookups (their contract is in distconv/plugin.h). */
int dcv_config_get_int(const struct dcv_config *cfg, const char *path, int64_t *out);
int dcv_config_get_str(const struct dcv_config *cfg, const char *path, const char **out);
int dcv_config_get_bool(const struct dcv_config *cfg, const char *path, int *out);
int dcv_config_get_double(const struct dcv_config *cfg, const char *path, double *out);

const char *dcv_role_name(enum dcv_role role);

/* A duration as the configuration writes it: "forever" (or "0": *secs 0),
 * or a non-negative integer with an optional unit s, m, h, d ("90", "30s",
 * "12h", "7d"), at most 100 years. 0, or -EINVAL with what was expected in
 * why. */
int dcv_duration_parse(const char *s, int64_t *secs, char *why, size_t whylen);
/* The shortest exact spelling of secs ("7d", "90m", "forever"). */
void dcv_duration_format(int64_t secs, char *buf, size_t len);

/* Every setting of the key table, in table order, for --check-config:
 * cb gets the dotted path and the value as text (integers in decimal,
 * booleans "true"/"false"); list settings come with text NULL and the list. */
enum dcv_conf_kind { DCV_CONF_TEXT = 0, DCV_CONF_NUMBER, DCV_CONF_BOOL, DCV_CONF_LIST };
typedef void (*dcv_conf_walk_fn)(const char *path, enum dcv_conf_kind kind, const char *text,
                                 const struct dcv_strlist *list, void *ud);
void dcv_conf_walk(const struct dcv_conf *conf, dcv_conf_walk_fn cb, void *ud);

#endif
