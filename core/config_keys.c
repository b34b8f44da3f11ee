/*
 * The configuration's key table: one row per daemon setting (its libconfig
 * path, its DISTCONV_* variable, its type, where it lands in struct
 * dcv_settings), the validators of its values, applying a value from the
 * file or the environment, and the defaults. Adding a setting is adding a
 * row here; config.c reads the files and walks them against this table.
 */
#include "config.h"
#include "config_int.h"
#include "http/httpaddr.h"
#include "errbuf.h"
#include "urlpolicy.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DCV_DEFAULT_STATE_DIR
#define DCV_DEFAULT_STATE_DIR "/var/lib/distconv"
#endif
#ifndef DCV_DEFAULT_PLUGIN_DIR
#define DCV_DEFAULT_PLUGIN_DIR "/usr/lib/distconv/plugins"
#endif
#ifndef DCV_DEFAULT_PLUGIN_CONF_DIR
#define DCV_DEFAULT_PLUGIN_CONF_DIR "/etc/distconv/plugins.d"
#endif

/* ---- the key table ------------------------------------------------------ */

#define FIELD(f) offsetof(struct dcv_settings, f), sizeof(((struct dcv_settings *)0)->f)

_Static_assert(sizeof(enum dcv_role) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum dcv_log_format) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum dcv_log_target) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum dcv_conf_strategy) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum dcv_stream_policy) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum dcv_gpu_policy) == sizeof(int), "enum fields are stored as int");
_Static_assert(sizeof(enum dcv_sec_mode) == sizeof(int), "enum fields are stored as int");

static const struct key_choice role_choices[] = {
    { "standalone", DCV_ROLE_STANDALONE, 0 },
    { "coordinator", DCV_ROLE_COORDINATOR, 0 },
    { "worker", DCV_ROLE_WORKER, 0 },
    { NULL, 0, 0 },
};
static const struct key_choice level_choices[] = {
    { "error", DCV_LOG_ERROR, 0 }, { "warn", DCV_LOG_WARN, 0 },
    { "info", DCV_LOG_INFO, 0 },   { "debug", DCV_LOG_DEBUG, 0 },
    { "trace", DCV_LOG_TRACE, 0 }, { "warning", DCV_LOG_WARN, 1 },
    { NULL, 0, 0 },
};
static const struct key_choice format_choices[] = {
    { "text", DCV_LOG_TEXT, 0 },
    { "json", DCV_LOG_JSON, 0 },
    { NULL, 0, 0 },
};
static const struct key_choice target_choices[] = {
    { "stderr", DCV_LOG_STDERR, 0 },
    { "syslog", DCV_LOG_SYSLOG, 0 },
    { NULL, 0, 0 },
};

static const struct key_choice strategy_choices[] = {
    { "least-loaded", DCV_CONF_LEAST_LOADED, 0 },
    { "round-robin", DCV_CONF_ROUND_ROBIN, 0 },
    { "capability", DCV_CONF_CAPABILITY, 0 },
    { "gpu-aware", DCV_CONF_GPU_AWARE, 0 },
    { NULL, 0, 0 },
};
static const struct key_choice gpu_policy_choices[] = {
    { "queue", DCV_GPU_QUEUE, 0 },
    { "fallback", DCV_GPU_FALLBACK, 0 },
    { "reject", DCV_GPU_REJECT, 0 },
    { NULL, 0, 0 },
};
static const struct key_choice http_anon_choices[] = {
    { "viewer", DCV_HTTP_ANON_VIEWER, 0 },
    { "none", DCV_HTTP_ANON_NONE, 0 },
    { NULL, 0, 0 },
};
static const struct key_choice sec_mode_choices[] = {
    { "curve", DCV_SEC_CURVE, 0 },
    { "token", DCV_SEC_TOKEN, 0 },
    { "none", DCV_SEC_NONE, 0 },
    { NULL, 0, 0 },
};
static const struct key_choice stall_action_choices[] = {
    { "flag", DCV_STALL_FLAG, 0 },
    { "fail", DCV_STALL_FAIL, 0 },
    { NULL, 0, 0 },
};

static const struct key_choice stream_choices[] = {
    { "auto", DCV_STREAM_AUTO, 0 },
    { "always", DCV_STREAM_ALWAYS, 0 },
    { "never", DCV_STREAM_NEVER, 0 },
    { NULL, 0, 0 },
};

static int validate_name(const char *v, char *why, size_t whylen);
static int validate_endpoint(const char *v, char *why, size_t whylen);
static int validate_transport(const char *v, char *why, size_t whylen);
static int validate_path_map(const char *v, char *why, size_t whylen);
static int validate_abs(const char *v, char *why, size_t whylen);
static int validate_group(const char *v, char *why, size_t whylen);
static int validate_url_protocol(const char *v, char *why, size_t whylen);
static int validate_http_bind(const char *v, char *why, size_t whylen);

const struct key_def cfg_keys[] = {
    { "role", "DISTCONV_ROLE", KEY_ENUM, FIELD(role), role_choices, 0, 0, NULL },
    { "name", "DISTCONV_NAME", KEY_STRING, FIELD(name), NULL, 0, 0, validate_name },
    { "state_dir", "DISTCONV_STATE_DIR", KEY_PATH, FIELD(state_dir), NULL, 0, 0, NULL },
    { "plugin_dir", "DISTCONV_PLUGIN_DIR", KEY_PATH, FIELD(plugin_dir), NULL, 0, 0, NULL },
    { "plugin_conf_dir", "DISTCONV_PLUGIN_CONF_DIR", KEY_PATH, FIELD(plugin_conf_dir), NULL,
      0, 0, NULL },
    { "log.level", "DISTCONV_LOG_LEVEL", KEY_ENUM, FIELD(log_level), level_choices, 0, 0,
      NULL },
    { "log.format", "DISTCONV_LOG_FORMAT", KEY_ENUM, FIELD(log_format), format_choices, 0, 0,
      NULL },
    { "log.target", "DISTCONV_LOG_TARGET", KEY_ENUM, FIELD(log_target), target_choices, 0, 0,
      NULL },
    { "transport", "DISTCONV_TRANSPORT", KEY_STRING, FIELD(transport), NULL, 0, 0,
      validate_transport },
    { "bind", "DISTCONV_BIND", KEY_STRING, FIELD(bind), NULL, 0, 0, validate_endpoint },
    { "data_bind", "DISTCONV_DATA_BIND", KEY_STRING, FIELD(data_bind), NULL, 0, 0,
      validate_endpoint },
    { "data_endpoint", "DISTCONV_DATA_ENDPOINT", KEY_STRING, FIELD(data_endpoint), NULL, 0, 0,
      validate_endpoint },
    { "admin", "DISTCONV_ADMIN", KEY_STRING, FIELD(admin), NULL, 0, 0, validate_endpoint },
    { "coordinator", "DISTCONV_COORDINATOR", KEY_STRING, FIELD(coordinator), NULL, 0, 0,
      validate_endpoint },
    { "max_jobs", "DISTCONV_MAX_JOBS", KEY_INT, FIELD(max_jobs), NULL, 1, 1024, NULL },
    { "work_dir", "DISTCONV_WORK_DIR", KEY_STRING, FIELD(work_dir), NULL, 0, 0, validate_abs },
    { "shared_roots", "DISTCONV_SHARED_ROOTS", KEY_LIST, FIELD(shared_roots), NULL, 0, 0,
      validate_abs },
    { "liveness.heartbeat_ms", NULL, KEY_INT, FIELD(heartbeat_ms), NULL, 100, 60000, NULL },
    { "liveness.misses", NULL, KEY_INT, FIELD(liveness), NULL, 1, 100, NULL },
    { "queue.max_attempts", NULL, KEY_INT, FIELD(max_attempts), NULL, 1, 100, NULL },
    { "queue.strategy", NULL, KEY_ENUM, FIELD(strategy), strategy_choices, 0, 0, NULL },
    { "queue.retry_backoff_ms", NULL, KEY_INT, FIELD(retry_backoff_ms), NULL, 0, 3600000, NULL },
    { "queue.retry_backoff_max_ms", NULL, KEY_INT, FIELD(retry_backoff_max_ms), NULL, 0,
      86400000, NULL },
    { "queue.gpu_policy", NULL, KEY_ENUM, FIELD(gpu_policy), gpu_policy_choices, 0, 0, NULL },
    { "queue.gpu_wait_s", NULL, KEY_INT, FIELD(gpu_wait_s), NULL, 0, 30 * 86400, NULL },
    { "http.bind", "DISTCONV_HTTP_BIND", KEY_STRING, FIELD(http_bind), NULL, 0, 0,
      validate_http_bind },
    { "http.max_connections", "DISTCONV_HTTP_MAX_CONNECTIONS", KEY_INT,
      FIELD(http_max_connections), NULL, 1, 10000, NULL },
    { "http.per_ip_connections", NULL, KEY_INT, FIELD(http_per_ip), NULL, 1, 10000, NULL },
    { "http.timeout_s", "DISTCONV_HTTP_TIMEOUT_S", KEY_INT, FIELD(http_timeout_s), NULL, 1,
      3600, NULL },
    { "http.tls_cert", "DISTCONV_HTTP_TLS_CERT", KEY_PATH, FIELD(http_tls_cert), NULL, 0, 0,
      NULL },
    { "http.tls_key", "DISTCONV_HTTP_TLS_KEY", KEY_PATH, FIELD(http_tls_key), NULL, 0, 0, NULL },
    { "http.anonymous", "DISTCONV_HTTP_ANONYMOUS", KEY_ENUM, FIELD(http_anonymous),
      http_anon_choices, 0, 0, NULL },
    { "http.metrics_token_file", "DISTCONV_HTTP_METRICS_TOKEN_FILE", KEY_PATH,
      FIELD(http_metrics_token_file), NULL, 0, 0, NULL },
    { "queue.unschedulable_timeout_s", "DISTCONV_UNSCHEDULABLE_TIMEOUT_S", KEY_INT,
      FIELD(unschedulable_timeout_s), NULL, 0, 30 * 86400, NULL },
    { "queue.busy_hold_s", NULL, KEY_INT, FIELD(busy_hold_s), NULL, 1, 3600, NULL },
    { "queue.stall_after", "DISTCONV_QUEUE_STALL_AFTER", KEY_DURATION, FIELD(stall_after_s), NULL,
      0, 0, NULL },
    { "queue.stall_action", "DISTCONV_QUEUE_STALL_ACTION", KEY_ENUM, FIELD(stall_action),
      stall_action_choices, 0, 0, NULL },
    { "transfer.chunk_size", NULL, KEY_INT, FIELD(chunk_size), NULL, 4096, 64 * 1024 * 1024,
      NULL },
    { "transfer.credit_chunks", NULL, KEY_INT, FIELD(credit_chunks), NULL, 1, 4096, NULL },
    { "transfer.stream", NULL, KEY_ENUM, FIELD(stream), stream_choices, 0, 0, NULL },
    { "transfer.disk_reserve", NULL, KEY_INT, FIELD(disk_reserve), NULL, 0,
      (long long)1 << 53, NULL },
    { "transfer.part_max_age_s", NULL, KEY_INT, FIELD(part_max_age_s), NULL, 1, 365 * 86400,
      NULL },
    { "storage.keep_inputs", "DISTCONV_KEEP_INPUTS", KEY_DURATION, FIELD(keep_inputs_s), NULL,
      0, 0, NULL },
    { "storage.keep_outputs", "DISTCONV_KEEP_OUTPUTS", KEY_DURATION, FIELD(keep_outputs_s),
      NULL, 0, 0, NULL },
    { "storage.keep_outputs_until_downloaded", "DISTCONV_KEEP_OUTPUTS_UNTIL_DOWNLOADED", KEY_BOOL,
      FIELD(keep_outputs_until_downloaded), NULL, 0, 0, NULL },
    { "inputs.url_protocols", "DISTCONV_URL_PROTOCOLS", KEY_LIST, FIELD(url_protocols), NULL,
      0, 0, validate_url_protocol },
    { "worker.path_map", "DISTCONV_PATH_MAP", KEY_LIST, FIELD(path_map), NULL, 0, 0,
      validate_path_map },
    { "worker.disk_quota", NULL, KEY_INT, FIELD(disk_quota), NULL, 0, (long long)1 << 53,
      NULL },
    { "worker.nice", NULL, KEY_INT, FIELD(job_nice), NULL, 0, 19, NULL },
    { "worker.max_cpu_jobs", "DISTCONV_MAX_CPU_JOBS", KEY_INT, FIELD(max_cpu_jobs), NULL, 0,
      1024, NULL },
    { "worker.max_gpu_jobs", "DISTCONV_MAX_GPU_JOBS", KEY_INT, FIELD(max_gpu_jobs), NULL, 0,
      1024, NULL },
    { "worker.job_memory_limit", "DISTCONV_JOB_MEMORY_LIMIT", KEY_INT, FIELD(job_memory_limit),
      NULL, 0, (long long)1 << 53, NULL },
    { "worker.benchmark", "DISTCONV_BENCHMARK", KEY_BOOL, FIELD(benchmark), NULL, 0, 0, NULL },
    { "worker.benchmark_ms", NULL, KEY_INT, FIELD(benchmark_ms), NULL, 100, 60000, NULL },
    { "worker.http_bind", "DISTCONV_WORKER_HTTP_BIND", KEY_STRING, FIELD(worker_http_bind), NULL,
      0, 0, validate_http_bind },
    { "admission.max_mem_pressure", NULL, KEY_DOUBLE, FIELD(adm_max_mem_pressure), NULL, 0,
      100, NULL },
    { "admission.min_mem_avail", NULL, KEY_INT, FIELD(adm_min_mem_avail), NULL, 0,
      (long long)1 << 53, NULL },
    { "admission.max_cpu_pressure", NULL, KEY_DOUBLE, FIELD(adm_max_cpu_pressure), NULL, 0,
      100, NULL },
    { "admission.max_io_pressure", NULL, KEY_DOUBLE, FIELD(adm_max_io_pressure), NULL, 0,
      100, NULL },
    { "admission.max_load_per_core", NULL, KEY_DOUBLE, FIELD(adm_max_load_per_core), NULL, 0,
      1000, NULL },
    { "admission.max_temp_c", NULL, KEY_DOUBLE, FIELD(adm_max_temp_c), NULL, 0, 200, NULL },
    { "admission.max_gpu_temp_c", NULL, KEY_DOUBLE, FIELD(adm_max_gpu_temp_c), NULL, 0, 200,
      NULL },
    { "admission.min_disk_free", NULL, KEY_INT, FIELD(adm_min_disk_free), NULL, 0,
      (long long)1 << 53, NULL },
    { "telemetry.nvml_library", "DISTCONV_NVML_LIBRARY", KEY_STRING, FIELD(nvml_library), NULL,
      0, 0, NULL },
    { "security.mode", "DISTCONV_SECURITY_MODE", KEY_ENUM, FIELD(sec_mode), sec_mode_choices, 0,
      0, NULL },
    { "security.secret_key", "DISTCONV_SECURITY_SECRET_KEY", KEY_STRING, FIELD(sec_secret_key),
      NULL, 0, 0, validate_abs },
    { "security.coordinator_key", "DISTCONV_SECURITY_COORDINATOR_KEY", KEY_STRING,
      FIELD(sec_coordinator_key), NULL, 0, 0, validate_abs },
    { "security.workers_dir", "DISTCONV_SECURITY_WORKERS_DIR", KEY_STRING, FIELD(sec_workers_dir),
      NULL, 0, 0, validate_abs },
    { "security.admins_dir", "DISTCONV_SECURITY_ADMINS_DIR", KEY_STRING, FIELD(sec_admins_dir),
      NULL, 0, 0, validate_abs },
    { "security.token_file", "DISTCONV_SECURITY_TOKEN_FILE", KEY_STRING, FIELD(sec_token_file),
      NULL, 0, 0, validate_abs },
    { "security.ipc_operator_group", "DISTCONV_SECURITY_IPC_OPERATOR_GROUP", KEY_STRING,
      FIELD(sec_ipc_operator_group), NULL, 0, 0, validate_group },
    { "security.ipc_submitter_group", "DISTCONV_SECURITY_IPC_SUBMITTER_GROUP", KEY_STRING,
      FIELD(sec_ipc_submitter_group), NULL, 0, 0, validate_group },
};

const size_t cfg_n_keys = sizeof cfg_keys / sizeof cfg_keys[0];

/* ---- small helpers ------------------------------------------------------ */

static int validate_url_protocol(const char *v, char *why, size_t whylen)
{
    if (!*v || strlen(v) > 16) {
        snprintf(why, whylen, "expected a protocol name such as \"https\"");
        return -1;
    }
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (p > v && ((*p >= '0' && *p <= '9') || *p == '+' ||
                                                     *p == '-' || *p == '.')))) {
            snprintf(why, whylen, "\"%s\" is not a lower-case protocol name", v);
            return -1;
        }
    if (dcv_url_protocol_denied(v)) {
        snprintf(why, whylen, "\"%s\" reads the worker's own files or wraps another URL; it "
                 "can never be allowed", v);
        return -1;
    }
    return 0;
}

static int validate_name(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);
    int ok = n > 0 && n < sizeof(((struct dcv_settings *)0)->name);
    for (const char *p = v; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '_' || *p == '-';
    if (!ok) {
        snprintf(why, whylen, "expected 1 to %zu letters, digits, '.', '_' or '-'",
                 sizeof(((struct dcv_settings *)0)->name) - 1);
        return -EINVAL;
    }
    return 0;
}

/* "" (the role's default) or a transport endpoint: tcp://HOST:PORT or ipc:///PATH. */
/* "off" (or "" in the file) turns the HTTP plane off; otherwise an address
 * it can listen on. An empty variable counts as unset, hence the word. */
static int validate_http_bind(const char *v, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int loopback;
    if (!*v || strcmp(v, "off") == 0)
        return 0;
    return dcv_http_bind_parse(v, &ss, &sl, &loopback, why, whylen);
}

static int validate_endpoint(const char *v, char *why, size_t whylen)
{
    const char *colon;
    if (!v[0])
        return 0;
    if (strncmp(v, "ipc:///", 7) == 0 && v[7])
        return 0;
    if (strncmp(v, "tcp://", 6) == 0 && v[6] && (colon = strrchr(v + 6, ':')) != NULL &&
        colon > v + 6 && colon[1] && (strcmp(colon + 1, "*") == 0 ||
                                      strspn(colon + 1, "0123456789") == strlen(colon + 1)))
        return 0;
    snprintf(why, whylen, "expected an endpoint such as \"tcp://HOST:PORT\" or \"ipc:///PATH\"");
    return -EINVAL;
}

static int validate_transport(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);
    if (n > 0 && n < 24 && strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") == n)
        return 0;
    snprintf(why, whylen, "expected a transport plugin name (lowercase letters, digits, '-')");
    return -EINVAL;
}

/* "" (the default) or an absolute path. */
static int validate_abs(const char *v, char *why, size_t whylen)
{
    if (!v[0] || v[0] == '/')
        return 0;
    snprintf(why, whylen, "expected an absolute path");
    return -EINVAL;
}

/* "" (none) or a Unix group name. */
static int validate_group(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);
    if (n == 0 || (n < 32 && v[0] != '-' &&
                   strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n))
        return 0;
    snprintf(why, whylen, "expected a group name (letters, digits, '.', '_', '-'; at most 31)");
    return -EINVAL;
}

/* "COORDINATOR_PREFIX=LOCAL_PREFIX", both absolute. */
static int validate_path_map(const char *v, char *why, size_t whylen)
{
    const char *eq = strchr(v, '=');
    if (v[0] == '/' && eq && eq[1] == '/' && !strchr(eq + 1, '='))
        return 0;
    snprintf(why, whylen, "expected \"/coordinator/prefix=/local/prefix\" (two absolute paths)");
    return -EINVAL;
}

static void choices_text(const struct key_choice *c, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (; c->name; c++) {
        if (c->alias)
            continue;
        int n = snprintf(out + len, outlen - len, "%s%s", len ? ", " : "", c->name);
        if (n < 0 || (size_t)n >= outlen - len)
            break;
        len += (size_t)n;
    }
}

/* ---- durations ---------------------------------------------------------- */

#define DURATION_MAX ((int64_t)100 * 365 * 86400)

static const struct { char unit; int64_t secs; } duration_units[] = {
    { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
};

int dcv_duration_parse(const char *s, int64_t *secs, char *why, size_t whylen)
{
    int64_t mul = 1;
    long long x;
    char *end;

    if (s && strcmp(s, "forever") == 0) {
        *secs = 0;
        return 0;
    }
    errno = 0;
    x = s && *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : -1;
    if (x >= 0 && !errno && *end) {
        mul = 0;
        for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++)
            if (end[0] == duration_units[i].unit && end[1] == '\0')
                mul = duration_units[i].secs;
    }
    if (x < 0 || errno || mul == 0 || x > DURATION_MAX / mul) {
        snprintf(why, whylen, "expected a duration such as \"30s\", \"15m\", \"12h\", \"7d\" "
                 "(at most 100 years) or \"forever\"; got \"%.64s\"", s ? s : "");
        return -EINVAL;
    }
    *secs = (int64_t)x * mul;
    return 0;
}

void dcv_duration_format(int64_t secs, char *buf, size_t len)
{
    if (secs <= 0) {
        snprintf(buf, len, "forever");
        return;
    }
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++)
        if (secs % duration_units[i].secs == 0) {
            snprintf(buf, len, "%lld%c", (long long)(secs / duration_units[i].secs),
                     duration_units[i].unit);
            return;
        }
}

/* ---- applying values ---------------------------------------------------- */

static void store_int(const struct key_def *k, struct dcv_settings *s, long long v)
{
    char *field = (char *)s + k->offset;
    if (k->size == sizeof(int64_t)) {
        int64_t x = v;
        memcpy(field, &x, sizeof x);
    } else {
        int32_t x = (int32_t)v;
        memcpy(field, &x, sizeof x);
    }
}

/* A string value (from the file or the environment) for key k. On error,
 * why says what was expected and what came. */
static int apply_string(const struct key_def *k, const char *v, struct dcv_settings *s,
                        char *why, size_t whylen)
{
    char *field = (char *)s + k->offset;
    char expect[256];

    switch (k->type) {
    case KEY_ENUM:
        for (const struct key_choice *c = k->choices; c->name; c++) {
            if (strcmp(c->name, v) == 0) {
                store_int(k, s, c->value);
                return 0;
            }
        }
        choices_text(k->choices, expect, sizeof expect);
        snprintf(why, whylen, "expected one of %s; got \"%s\"", expect, v);
        return -EINVAL;
    case KEY_PATH:
        if (v[0] != '/') {
            snprintf(why, whylen, "expected an absolute path; got \"%s\"", v);
            return -EINVAL;
        }
        if (strlen(v) >= k->size) {
            snprintf(why, whylen, "path too long (at most %zu bytes)", k->size - 1);
            return -EINVAL;
        }
        snprintf(field, k->size, "%s", v);
        return 0;
    case KEY_STRING:
        if (k->validate && k->validate(v, expect, sizeof expect) < 0) {
            snprintf(why, whylen, "%s; got \"%s\"", expect, v);
            return -EINVAL;
        }
        if (strlen(v) >= k->size) {
            snprintf(why, whylen, "too long (at most %zu bytes)", k->size - 1);
            return -EINVAL;
        }
        snprintf(field, k->size, "%s", v);
        return 0;
    case KEY_INT: {
        char *end;
        long long x;
        errno = 0;
        x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < k->min || x > k->max) {
            snprintf(why, whylen, "expected an integer from %lld to %lld; got \"%s\"", k->min,
                     k->max, v);
            return -EINVAL;
        }
        store_int(k, s, x);
        return 0;
    }
    case KEY_DOUBLE: {
        char *end;
        double x;
        errno = 0;
        x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= (double)k->min && x <= (double)k->max)) {
            snprintf(why, whylen, "expected a number from %lld to %lld; got \"%s\"", k->min,
                     k->max, v);
            return -EINVAL;
        }
        memcpy(field, &x, sizeof x);
        return 0;
    }
    case KEY_LIST: {
        /* The environment form: entries separated by ';' (':' appears in paths). */
        struct dcv_strlist *l = (struct dcv_strlist *)(void *)field;
        const char *p = v;
        l->n = 0;
        while (*p) {
            size_t n = strcspn(p, ";");
            char item[DCV_STRLIST_LEN];
            if (n) {
                if (l->n >= DCV_STRLIST_MAX || n >= sizeof item) {
                    snprintf(why, whylen, "at most %d entries of %d bytes", DCV_STRLIST_MAX,
                             DCV_STRLIST_LEN - 1);
                    return -EINVAL;
                }
                memcpy(item, p, n);
                item[n] = '\0';
                if (k->validate && k->validate(item, expect, sizeof expect) < 0) {
                    /* Quote at most 200 bytes of a bad entry: the message stays readable. */
                    snprintf(why, whylen, "%s; got \"%.200s\"", expect, item);
                    return -EINVAL;
                }
                memcpy(l->v[l->n++], item, n + 1);
            }
            p += n;
            if (*p == ';')
                p++;
        }
        return 0;
    }
    case KEY_DURATION: {
        int64_t x;
        if (dcv_duration_parse(v, &x, why, whylen) < 0)
            return -EINVAL;
        store_int(k, s, x);
        return 0;
    }
    case KEY_BOOL: {
        static const char *const yes[] = { "true", "yes", "on", "1" };
        static const char *const no[] = { "false", "no", "off", "0" };
        for (size_t i = 0; i < 4; i++) {
            if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
                store_int(k, s, strcmp(v, yes[i]) == 0);
                return 0;
            }
        }
        snprintf(why, whylen, "expected true or false; got \"%s\"", v);
        return -EINVAL;
    }
    }
    return -EINVAL;
}

int cfg_apply_setting(const struct key_def *k, const config_setting_t *st,
                      struct dcv_settings *s, char *why, size_t whylen)
{
    int t = config_setting_type(st);
    switch (k->type) {
    case KEY_ENUM:
    case KEY_PATH:
    case KEY_STRING:
        if (t != CONFIG_TYPE_STRING) {
            snprintf(why, whylen, "expected a string");
            return -EINVAL;
        }
        return apply_string(k, config_setting_get_string(st), s, why, whylen);
    case KEY_INT: {
        long long x;
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
            snprintf(why, whylen, "expected an integer");
            return -EINVAL;
        }
        x = config_setting_get_int64(st);
        if (x < k->min || x > k->max) {
            snprintf(why, whylen, "expected an integer from %lld to %lld; got %lld", k->min,
                     k->max, x);
            return -EINVAL;
        }
        store_int(k, s, x);
        return 0;
    }
    case KEY_DURATION:
        if (t == CONFIG_TYPE_STRING)
            return apply_string(k, config_setting_get_string(st), s, why, whylen);
        if ((t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) ||
            config_setting_get_int64(st) < 0 || config_setting_get_int64(st) > DURATION_MAX) {
            snprintf(why, whylen, "expected a duration such as \"7d\" or \"forever\", or "
                     "seconds as an integer");
            return -EINVAL;
        }
        store_int(k, s, config_setting_get_int64(st));
        return 0;
    case KEY_BOOL:
        if (t != CONFIG_TYPE_BOOL) {
            snprintf(why, whylen, "expected true or false");
            return -EINVAL;
        }
        store_int(k, s, config_setting_get_bool(st));
        return 0;
    case KEY_DOUBLE: {
        double x;
        if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
            x = (double)config_setting_get_int64(st);
        else if (t == CONFIG_TYPE_FLOAT)
            x = config_setting_get_float(st);
        else {
            snprintf(why, whylen, "expected a number");
            return -EINVAL;
        }
        if (!(x >= (double)k->min && x <= (double)k->max)) {
            snprintf(why, whylen, "expected a number from %lld to %lld; got %g", k->min, k->max,
                     x);
            return -EINVAL;
        }
        memcpy((char *)s + k->offset, &x, sizeof x);
        return 0;
    }
    case KEY_LIST: {
        struct dcv_strlist *l = (struct dcv_strlist *)(void *)((char *)s + k->offset);
        char expect[256];
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
            snprintf(why, whylen, "expected a list of strings [ \"...\", ... ]");
            return -EINVAL;
        }
        if (config_setting_length(st) > DCV_STRLIST_MAX) {
            snprintf(why, whylen, "at most %d entries", DCV_STRLIST_MAX);
            return -EINVAL;
        }
        l->n = 0;
        for (int i = 0; i < config_setting_length(st); i++) {
            const config_setting_t *e = config_setting_get_elem(st, (unsigned)i);
            const char *v = e && config_setting_type(e) == CONFIG_TYPE_STRING
                                ? config_setting_get_string(e)
                                : NULL;
            if (!v) {
                snprintf(why, whylen, "entry %d: expected a string", i + 1);
                return -EINVAL;
            }
            if (strlen(v) >= DCV_STRLIST_LEN) {
                snprintf(why, whylen, "entry %d: too long (at most %d bytes)", i + 1,
                         DCV_STRLIST_LEN - 1);
                return -EINVAL;
            }
            if (k->validate && k->validate(v, expect, sizeof expect) < 0) {
                snprintf(why, whylen, "entry %d: %s; got \"%.200s\"", i + 1, expect, v);
                return -EINVAL;
            }
            snprintf(l->v[l->n++], DCV_STRLIST_LEN, "%s", v);
        }
        return 0;
    }
    }
    return -EINVAL;
}

void cfg_set_defaults(struct dcv_settings *s)
{
    memset(s, 0, sizeof *s);
    s->role = DCV_ROLE_STANDALONE;
    if (gethostname(s->name, sizeof s->name) != 0 || s->name[0] == '\0')
        snprintf(s->name, sizeof s->name, "localhost");
    s->name[sizeof s->name - 1] = '\0';
    snprintf(s->state_dir, sizeof s->state_dir, "%s", DCV_DEFAULT_STATE_DIR);
    snprintf(s->plugin_dir, sizeof s->plugin_dir, "%s", DCV_DEFAULT_PLUGIN_DIR);
    snprintf(s->plugin_conf_dir, sizeof s->plugin_conf_dir, "%s", DCV_DEFAULT_PLUGIN_CONF_DIR);
    s->log_level = DCV_LOG_INFO;
    s->log_format = DCV_LOG_TEXT;
    s->log_target = DCV_LOG_STDERR;
    snprintf(s->transport, sizeof s->transport, "zmq");
    s->max_jobs = 1;
    s->heartbeat_ms = 2000;
    s->liveness = 3;
    s->max_attempts = 3;
    s->strategy = DCV_CONF_LEAST_LOADED;
    s->retry_backoff_ms = 1000;
    s->retry_backoff_max_ms = 60000;
    s->gpu_policy = DCV_GPU_FALLBACK;
    s->gpu_wait_s = 3600;
    snprintf(s->http_bind, sizeof s->http_bind, "127.0.0.1:7480");
    s->http_max_connections = 64;
    s->http_per_ip = 16;
    s->http_timeout_s = 30;
    s->busy_hold_s = 60;
    /* Five minutes: the verify phase reports no figures between its start
     * and its end, and verifying a long film can take a few minutes. */
    s->stall_after_s = 300;
    s->stall_action = DCV_STALL_FLAG;
    s->chunk_size = 1024 * 1024;
    s->credit_chunks = 8;
    s->stream = DCV_STREAM_AUTO;
    s->disk_reserve = (int64_t)1 << 30;
    s->part_max_age_s = 86400;
    /* Inputs: a day after the job ended leaves time to `retry` a failure;
     * outputs: a week after the first download (never before it). */
    s->keep_inputs_s = 86400;
    s->keep_outputs_s = 7 * 86400;
    s->keep_outputs_until_downloaded = 1;
    s->job_nice = 10;
    s->benchmark = 1;
    s->benchmark_ms = 2000;
    s->adm_max_mem_pressure = 60.0;
    s->adm_min_mem_avail = (int64_t)256 << 20;
    s->adm_max_temp_c = 95.0;
    s->adm_max_gpu_temp_c = 90.0;
    snprintf(s->nvml_library, sizeof s->nvml_library, "libnvidia-ml.so.1");
    /* URL inputs over the web only, unless the operator lists more. */
    s->url_protocols.n = 2;
    snprintf(s->url_protocols.v[0], sizeof s->url_protocols.v[0], "http");
    snprintf(s->url_protocols.v[1], sizeof s->url_protocols.v[1], "https");
}

/* "tcp://HOST:PORT" -> "tcp://HOST:PORT+1"; anything else -> 0 and "". */
static int next_port(const char *ep, char *out, size_t len)
{
    const char *colon = strrchr(ep, ':');
    long port;
    char *end;
    if (strncmp(ep, "tcp://", 6) != 0 || !colon || colon < ep + 6)
        return 0;
    if (strcmp(colon + 1, "*") == 0)
        return snprintf(out, len, "%.*s:*", (int)(colon - ep), ep) < (int)len;
    port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port >= 65535)
        return 0;
    return snprintf(out, len, "%.*s:%ld", (int)(colon - ep), ep, port + 1) < (int)len;
}

/* Endpoints and directories left "" get their defaults, which depend on the
 * role and the state directory: a standalone daemon listens on ipc sockets
 * in its state directory (nothing on the network unless asked), a
 * coordinator on tcp 7400/7401. */
int cfg_resolve_defaults(struct dcv_settings *s, char *err, size_t errlen)
{
#define SETF(field, ...)                                                                     \
    do {                                                                                     \
        if ((size_t)snprintf(s->field, sizeof s->field, __VA_ARGS__) >= sizeof s->field) {   \
            dcv_errf(err, errlen, "state_dir %s: too long for the default " #field,           \
                     s->state_dir);                                                          \
            return -ENAMETOOLONG;                                                            \
        }                                                                                    \
    } while (0)
    if (!s->bind[0]) {
        if (s->role == DCV_ROLE_COORDINATOR)
            SETF(bind, "tcp://*:7400");
        else
            SETF(bind, "ipc://%s/control.sock", s->state_dir);
    }
    if (!s->data_bind[0]) {
        if (!next_port(s->bind, s->data_bind, sizeof s->data_bind))
            SETF(data_bind, "ipc://%s/data.sock", s->state_dir);
    }
    if (!s->admin[0])
        SETF(admin, "ipc://%s/admin.sock", s->state_dir);
    if (!s->coordinator[0] && s->role == DCV_ROLE_STANDALONE)
        SETF(coordinator, "%s", s->bind);
    if (!s->work_dir[0])
        SETF(work_dir, "%s/work", s->state_dir);
#undef SETF
    /* Security files live beside the configuration file in use: -c FILE's
     * directory, else the default's (/etc/distconv), as the docs say. */
    {
        char dir[PATH_MAX];
        const char *slash = strrchr(DCV_DEFAULT_CONFIG, '/');
        size_t dl = slash ? (size_t)(slash - DCV_DEFAULT_CONFIG) : 0;
        struct { char *f; size_t n; const char *leaf; } d[] = {
            { s->sec_coordinator_key, sizeof s->sec_coordinator_key, "keys/coordinator.pub" },
            { s->sec_workers_dir, sizeof s->sec_workers_dir, "workers.d" },
            { s->sec_admins_dir, sizeof s->sec_admins_dir, "admins.d" },
            { s->sec_token_file, sizeof s->sec_token_file, "token" },
        };
        if (s->conf_dir[0])
            snprintf(dir, sizeof dir, "%s", s->conf_dir);
        else
            snprintf(dir, sizeof dir, "%.*s", (int)dl, DCV_DEFAULT_CONFIG);
        for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
            if (!d[i].f[0])
                snprintf(d[i].f, d[i].n, "%s/%s", dir, d[i].leaf);
    }
    return 0;
}

int cfg_apply_env(struct dcv_settings *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const char *v;
        char why[512];
        if (!cfg_keys[i].env)
            continue;
        v = getenv(cfg_keys[i].env);
        /* Empty counts as unset: compose files expand missing variables to "". */
        if (!v || !v[0])
            continue;
        if (apply_string(&cfg_keys[i], v, s, why, sizeof why) < 0) {
            dcv_errf(err, errlen, "%s: %s", cfg_keys[i].env, why);
            return -EINVAL;
        }
    }
    return 0;
}

const char *dcv_role_name(enum dcv_role role)
{
    for (const struct key_choice *c = role_choices; c->name; c++)
        if (c->value == (int)role)
            return c->name;
    return "unknown";
}
