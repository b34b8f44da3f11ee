/*
 * distconvd configuration: libconfig file(s) + DISTCONV_* environment.
 *
 * Every daemon setting is one row of `keys[]` below: its libconfig path, its
 * environment variable, its type and where it lands in struct dcv_settings.
 * The same table drives reading the file, the environment overrides and the
 * unknown-key check, so adding a setting is adding a row. Groups such as
 * `log` exist because some row's path goes through them.
 *
 * Unknown keys are errors (a silently ignored typo is an admin's worst
 * afternoon), except under plugins.<name>, which the plugin owns.
 */
#include "config.h"
#include "errbuf.h"
#include "urlpolicy.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The plugin handle: the subtree from the main file and the one from the
 * drop-in file. Lookups try the main file first, key by key, so an admin can
 * override one value of what a package dropped in without copying the rest. */
struct dcv_config {
    const config_setting_t *main;
    const config_setting_t *dropin;
};

struct plugin_entry {
    char name[64];
    struct dcv_config cfg;
};

struct dropin {
    char name[64];
    char path[PATH_MAX];
    config_t cf; /* settings point back at it: never moved once read */
};

struct dcv_conf {
    config_t cf;
    int have_file;
    char path[PATH_MAX];
    struct dcv_settings s;
    struct dropin **dropins;
    size_t n_dropins;
    struct plugin_entry *plugins;
    size_t n_plugins;
};

/* ---- the key table ------------------------------------------------------ */

enum key_type {
    KEY_STRING, /* char[] field; optional validator */
    KEY_PATH,   /* char[] field, absolute path */
    KEY_ENUM,   /* int-sized field; one of `choices` */
    KEY_INT,    /* int32_t or int64_t field in [min, max] */
    KEY_BOOL,   /* int field */
    KEY_LIST,   /* struct dcv_strlist; libconfig array of strings, env: "a;b" */
    KEY_DOUBLE, /* double field in [min, max]; the file may write 60 or 60.0 */
};

struct key_choice {
    const char *name;
    int value;
    int alias; /* accepted, but not listed in "expected one of ..." */
};

struct key_def {
    const char *path; /* libconfig path from the top: "log.level" */
    const char *env;  /* DISTCONV_* override, or NULL */
    enum key_type type;
    size_t offset, size;
    const struct key_choice *choices; /* KEY_ENUM, ends with a NULL name */
    long long min, max;               /* KEY_INT, KEY_DOUBLE */
    /* KEY_STRING: 0 or -EINVAL with the expectation (without "; got") in why. */
    int (*validate)(const char *v, char *why, size_t whylen);
};

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
static const struct key_choice sec_mode_choices[] = {
    { "curve", DCV_SEC_CURVE, 0 },
    { "token", DCV_SEC_TOKEN, 0 },
    { "none", DCV_SEC_NONE, 0 },
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

static const struct key_def keys[] = {
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
    { "queue.busy_hold_s", NULL, KEY_INT, FIELD(busy_hold_s), NULL, 1, 3600, NULL },
    { "transfer.chunk_size", NULL, KEY_INT, FIELD(chunk_size), NULL, 4096, 64 * 1024 * 1024,
      NULL },
    { "transfer.credit_chunks", NULL, KEY_INT, FIELD(credit_chunks), NULL, 1, 4096, NULL },
    { "transfer.stream", NULL, KEY_ENUM, FIELD(stream), stream_choices, 0, 0, NULL },
    { "transfer.disk_reserve", NULL, KEY_INT, FIELD(disk_reserve), NULL, 0,
      (long long)1 << 53, NULL },
    { "transfer.part_max_age_s", NULL, KEY_INT, FIELD(part_max_age_s), NULL, 1, 365 * 86400,
      NULL },
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

#define N_KEYS (sizeof keys / sizeof keys[0])

/* The one group whose members are not in the table. */
static const char plugins_group[] = "plugins";

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

/* Plugin names as plugin.h defines them: [a-z0-9-]+. */
static int valid_plugin_name(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n >= maxlen)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}


static const char *setting_file(const config_setting_t *st, const char *fallback)
{
    const char *f = config_setting_source_file(st);
    return f && f[0] ? f : fallback;
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

/* Levenshtein distance, for "did you mean" on unknown keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
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

static int apply_setting(const struct key_def *k, const config_setting_t *st,
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

static void set_defaults(struct dcv_settings *s)
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
    s->busy_hold_s = 60;
    s->chunk_size = 1024 * 1024;
    s->credit_chunks = 8;
    s->stream = DCV_STREAM_AUTO;
    s->disk_reserve = (int64_t)1 << 30;
    s->part_max_age_s = 86400;
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
static int resolve_defaults(struct dcv_settings *s, char *err, size_t errlen)
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
    /* Security files live beside the default configuration file
     * (/etc/distconv for a distribution), whatever -c names. */
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
        snprintf(dir, sizeof dir, "%.*s", (int)dl, DCV_DEFAULT_CONFIG);
        for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
            if (!d[i].f[0])
                snprintf(d[i].f, d[i].n, "%s/%s", dir, d[i].leaf);
    }
    return 0;
}

/* ---- walking the main file ---------------------------------------------- */

static const struct key_def *find_key(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

/* Is `path` a group some table row goes through? */
static int is_group(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < N_KEYS; i++)
        if (strncmp(keys[i].path, path, n) == 0 && keys[i].path[n] == '.')
            return 1;
    return 0;
}

static void unknown_key(const char *file, const config_setting_t *st, const char *group,
                        char *err, size_t errlen)
{
    const char *name = config_setting_name(st);
    const char *best = NULL;
    size_t best_d = 3, glen = group ? strlen(group) + 1 : 0;
    char shown[256];

    /* Suggest the nearest sibling: "max_job" is almost always "max_jobs". */
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *p = keys[i].path;
        char seg[64];
        size_t sl;
        if (glen && (strncmp(p, group, glen - 1) != 0 || p[glen - 1] != '.'))
            continue;
        p += glen;
        sl = strcspn(p, ".");
        if (sl >= sizeof seg)
            continue;
        memcpy(seg, p, sl);
        seg[sl] = '\0';
        size_t d = edit_distance(name, seg);
        if (d < best_d) {
            best_d = d;
            best = keys[i].path + glen;
        }
    }
    if (!group && edit_distance(name, plugins_group) < best_d)
        best = plugins_group;
    if (group)
        snprintf(shown, sizeof shown, "%s.%s", group, name);
    else
        snprintf(shown, sizeof shown, "%s", name);
    if (best) {
        size_t bl = strcspn(best, ".");
        dcv_errf(err, errlen, "%s:%u: unknown key \"%s\" (did you mean \"%.*s\"?)",
                setting_file(st, file), config_setting_source_line(st), shown, (int)bl, best);
    } else {
        dcv_errf(err, errlen, "%s:%u: unknown key \"%s\"", setting_file(st, file),
                config_setting_source_line(st), shown);
    }
}

/* `enabled` is the one key under plugins.<name> the host owns. */
static int check_plugin_tree(const char *file, const char *label, const config_setting_t *tree,
                             char *err, size_t errlen)
{
    config_setting_t *en = config_setting_get_member(tree, "enabled");
    if (en && config_setting_type(en) != CONFIG_TYPE_BOOL) {
        dcv_errf(err, errlen, "%s:%u: %s%senabled: expected true or false",
                setting_file(en, file), config_setting_source_line(en), label,
                label[0] ? "." : "");
        return -EINVAL;
    }
    return 0;
}

static int check_plugins_group(const char *file, const config_setting_t *grp, char *err,
                               size_t errlen)
{
    if (!config_setting_is_group(grp)) {
        dcv_errf(err, errlen, "%s:%u: plugins: expected a group { ... }", setting_file(grp, file),
                config_setting_source_line(grp));
        return -EINVAL;
    }
    for (int i = 0; i < config_setting_length(grp); i++) {
        const config_setting_t *p = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(p);
        char label[128];
        int r;
        if (!valid_plugin_name(name, sizeof(((struct plugin_entry *)0)->name))) {
            dcv_errf(err, errlen,
                    "%s:%u: plugins.%s: expected a plugin name (lowercase letters, digits "
                    "and '-')",
                    setting_file(p, file), config_setting_source_line(p), name);
            return -EINVAL;
        }
        if (!config_setting_is_group(p)) {
            dcv_errf(err, errlen, "%s:%u: plugins.%s: expected a group { ... }",
                    setting_file(p, file), config_setting_source_line(p), name);
            return -EINVAL;
        }
        snprintf(label, sizeof label, "plugins.%s", name);
        if ((r = check_plugin_tree(file, label, p, err, errlen)) < 0)
            return r;
    }
    return 0;
}

/* Walk a group of the main file: every member must be a table key, a table
 * group, or (at the top) `plugins`. Values are applied on the way. */
static int walk_group(const char *file, const config_setting_t *grp, const char *prefix,
                      struct dcv_settings *s, char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(grp); i++) {
        const config_setting_t *st = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(st);
        const struct key_def *k;
        char path[256], why[512];
        int r;

        if (!name) /* list/array elements have no name; groups never hold them */
            continue;
        if (prefix)
            snprintf(path, sizeof path, "%s.%s", prefix, name);
        else
            snprintf(path, sizeof path, "%s", name);

        if (!prefix && strcmp(name, plugins_group) == 0) {
            if ((r = check_plugins_group(file, st, err, errlen)) < 0)
                return r;
        } else if ((k = find_key(path)) != NULL) {
            if ((r = apply_setting(k, st, s, why, sizeof why)) < 0) {
                dcv_errf(err, errlen, "%s:%u: %s: %s", setting_file(st, file),
                        config_setting_source_line(st), path, why);
                return r;
            }
        } else if (is_group(path)) {
            if (!config_setting_is_group(st)) {
                dcv_errf(err, errlen, "%s:%u: %s: expected a group { ... }",
                        setting_file(st, file), config_setting_source_line(st), path);
                return -EINVAL;
            }
            if ((r = walk_group(file, st, path, s, err, errlen)) < 0)
                return r;
        } else {
            unknown_key(file, st, prefix, err, errlen);
            return -EINVAL;
        }
    }
    return 0;
}

static int apply_env(struct dcv_settings *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *v;
        char why[512];
        if (!keys[i].env)
            continue;
        v = getenv(keys[i].env);
        /* Empty counts as unset: compose files expand missing variables to "". */
        if (!v || !v[0])
            continue;
        if (apply_string(&keys[i], v, s, why, sizeof why) < 0) {
            dcv_errf(err, errlen, "%s: %s", keys[i].env, why);
            return -EINVAL;
        }
    }
    return 0;
}

/* Open and parse one libconfig file. -ENOENT untouched for the caller to
 * decide; other failures with "FILE..." in err. */
static int read_file(config_t *cf, const char *path, char *err, size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    char dir[PATH_MAX], *slash;

    if (!f) {
        int e = errno;
        dcv_errf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        dcv_errf(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
        return -EISDIR;
    }
    fclose(f);

    /* @include "x.conf" is relative to the including file, not to our cwd. */
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        config_set_include_dir(cf, dir);
    }
    if (config_read_file(cf, path) != CONFIG_TRUE) {
        const char *ef = config_error_file(cf);
        if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
            dcv_errf(err, errlen, "%s: cannot read: %s", ef ? ef : path,
                    config_error_text(cf) ? config_error_text(cf) : "I/O error");
        else
            dcv_errf(err, errlen, "%s:%d: %s", ef ? ef : path, config_error_line(cf),
                    config_error_text(cf) ? config_error_text(cf) : "syntax error");
        return config_error_type(cf) == CONFIG_ERR_FILE_IO ? -EIO : -EINVAL;
    }
    return 0;
}

/* ---- plugins.d ---------------------------------------------------------- */

static int dropin_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

static int load_dropins(struct dcv_conf *c, char *err, size_t errlen)
{
    struct dirent **ents = NULL;
    const char *dir = c->s.plugin_conf_dir;
    int n = scandir(dir, &ents, dropin_filter, alphasort);
    int r = 0;

    if (n < 0) {
        int e = errno;
        if (e == ENOENT)
            return 0; /* no package dropped anything in: normal */
        dcv_errf(err, errlen, "plugin_conf_dir %s: cannot read: %s", dir, strerror(e));
        return -e;
    }
    c->dropins = calloc((size_t)n ? (size_t)n : 1, sizeof *c->dropins);
    if (!c->dropins) {
        dcv_errf(err, errlen, "out of memory");
        r = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *fn = ents[i]->d_name;
        size_t base = strlen(fn) - 5;
        struct dropin *d;
        struct stat st;
        char path[PATH_MAX];

        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, fn) >= sizeof path)
            continue;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            continue;
        if (base >= sizeof d->name) {
            dcv_log(DCV_LOG_WARN, "config", "%s: ignored: not a plugin name", path);
            continue;
        }
        d = calloc(1, sizeof *d);
        if (!d) {
            dcv_errf(err, errlen, "out of memory");
            r = -ENOMEM;
            goto out;
        }
        memcpy(d->name, fn, base);
        d->name[base] = '\0';
        if (!valid_plugin_name(d->name, sizeof d->name)) {
            /* A stray file must not stop the daemon, but must not vanish silently. */
            dcv_log(DCV_LOG_WARN, "config",
                    "%s: ignored: \"%s\" is not a plugin name (lowercase letters, digits, '-')",
                    path, d->name);
            free(d);
            continue;
        }
        snprintf(d->path, sizeof d->path, "%s", path);
        config_init(&d->cf);
        c->dropins[c->n_dropins++] = d;
        if ((r = read_file(&d->cf, path, err, errlen)) < 0)
            goto out;
        if ((r = check_plugin_tree(path, "", config_root_setting(&d->cf), err, errlen)) < 0)
            goto out;
    }
out:
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return r;
}

static struct plugin_entry *find_plugin(const struct dcv_conf *c, const char *name)
{
    for (size_t i = 0; i < c->n_plugins; i++)
        if (strcmp(c->plugins[i].name, name) == 0)
            return &c->plugins[i];
    return NULL;
}

static int build_plugins(struct dcv_conf *c)
{
    const config_setting_t *grp = c->have_file ? config_lookup(&c->cf, plugins_group) : NULL;
    size_t max = c->n_dropins + (grp ? (size_t)config_setting_length(grp) : 0);

    c->plugins = calloc(max ? max : 1, sizeof *c->plugins);
    if (!c->plugins)
        return -ENOMEM;
    for (int i = 0; grp && i < config_setting_length(grp); i++) {
        const config_setting_t *p = config_setting_get_elem(grp, (unsigned)i);
        struct plugin_entry *e = &c->plugins[c->n_plugins++];
        snprintf(e->name, sizeof e->name, "%s", config_setting_name(p));
        e->cfg.main = p;
    }
    for (size_t i = 0; i < c->n_dropins; i++) {
        struct dropin *d = c->dropins[i];
        struct plugin_entry *e = find_plugin(c, d->name);
        if (!e) {
            e = &c->plugins[c->n_plugins++];
            snprintf(e->name, sizeof e->name, "%s", d->name);
        }
        e->cfg.dropin = config_root_setting(&d->cf);
    }
    return 0;
}

/* ---- public ------------------------------------------------------------- */

int dcv_conf_load(struct dcv_conf **out, const char *path, int explicit_path, char *err,
                  size_t errlen)
{
    struct dcv_conf *c;
    int r;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!path || !path[0])
        path = DCV_DEFAULT_CONFIG;
    c = calloc(1, sizeof *c);
    if (!c) {
        dcv_errf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    config_init(&c->cf);
    set_defaults(&c->s);

    r = read_file(&c->cf, path, err, errlen);
    if (r == -ENOENT && !explicit_path) {
        r = 0; /* defaults + environment is a complete configuration */
        if (err && errlen)
            err[0] = '\0';
    } else if (r == 0) {
        c->have_file = 1;
        snprintf(c->path, sizeof c->path, "%s", path);
        r = walk_group(path, config_root_setting(&c->cf), NULL, &c->s, err, errlen);
    }
    if (r == 0)
        r = apply_env(&c->s, err, errlen);
    if (r == 0)
        r = resolve_defaults(&c->s, err, errlen);
    if (r == 0)
        r = load_dropins(c, err, errlen);
    if (r == 0 && (r = build_plugins(c)) < 0)
        dcv_errf(err, errlen, "out of memory");
    if (r < 0) {
        dcv_conf_free(&c);
        return r;
    }
    *out = c;
    return 0;
}

void dcv_conf_free(struct dcv_conf **conf)
{
    struct dcv_conf *c = conf ? *conf : NULL;
    if (!c)
        return;
    for (size_t i = 0; i < c->n_dropins; i++) {
        config_destroy(&c->dropins[i]->cf);
        free(c->dropins[i]);
    }
    free(c->dropins);
    free(c->plugins);
    config_destroy(&c->cf);
    free(c);
    *conf = NULL;
}

const struct dcv_settings *dcv_conf_settings(const struct dcv_conf *conf)
{
    return &conf->s;
}

const char *dcv_conf_path(const struct dcv_conf *conf)
{
    return conf->path;
}

static const struct dcv_config empty_config = { NULL, NULL };

const struct dcv_config *dcv_conf_plugin(struct dcv_conf *conf, const char *name)
{
    struct plugin_entry *e = conf && name ? find_plugin(conf, name) : NULL;
    return e ? &e->cfg : &empty_config;
}

int dcv_conf_plugin_enabled(struct dcv_conf *conf, const char *name)
{
    int on;
    if (dcv_config_get_bool(dcv_conf_plugin(conf, name), "enabled", &on) == 0)
        return on != 0;
    return 1;
}

static const config_setting_t *cfg_find(const struct dcv_config *cfg, const char *path)
{
    const config_setting_t *st = NULL;
    if (!cfg || !path || !path[0])
        return NULL;
    /* libconfig's lookup takes a non-const setting but does not modify it. */
    if (cfg->main)
        st = config_setting_lookup((config_setting_t *)cfg->main, path);
    if (!st && cfg->dropin)
        st = config_setting_lookup((config_setting_t *)cfg->dropin, path);
    return st;
}

int dcv_config_get_int(const struct dcv_config *cfg, const char *path, int64_t *out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    if (config_setting_type(st) != CONFIG_TYPE_INT && config_setting_type(st) != CONFIG_TYPE_INT64)
        return -EINVAL;
    *out = config_setting_get_int64(st);
    return 0;
}

int dcv_config_get_str(const struct dcv_config *cfg, const char *path, const char **out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    if (config_setting_type(st) != CONFIG_TYPE_STRING)
        return -EINVAL;
    *out = config_setting_get_string(st);
    return 0;
}

int dcv_config_get_bool(const struct dcv_config *cfg, const char *path, int *out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    if (config_setting_type(st) != CONFIG_TYPE_BOOL)
        return -EINVAL;
    *out = config_setting_get_bool(st) ? 1 : 0;
    return 0;
}

int dcv_config_get_double(const struct dcv_config *cfg, const char *path, double *out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    switch (config_setting_type(st)) {
    case CONFIG_TYPE_FLOAT:
        *out = config_setting_get_float(st);
        return 0;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = (double)config_setting_get_int64(st);
        return 0;
    default:
        return -EINVAL;
    }
}

void dcv_conf_walk(const struct dcv_conf *conf, dcv_conf_walk_fn cb, void *ud)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        const char *field = (const char *)&conf->s + k->offset;
        char text[64];
        int64_t v = 0;
        switch (k->type) {
        case KEY_STRING:
        case KEY_PATH:
            cb(k->path, DCV_CONF_TEXT, field, NULL, ud);
            break;
        case KEY_ENUM: {
            int x;
            memcpy(&x, field, sizeof x);
            for (const struct key_choice *c = k->choices; c->name; c++)
                if (c->value == x && !c->alias) {
                    cb(k->path, DCV_CONF_TEXT, c->name, NULL, ud);
                    break;
                }
            break;
        }
        case KEY_INT:
        case KEY_BOOL:
            if (k->size == sizeof(int64_t)) {
                memcpy(&v, field, sizeof v);
            } else {
                int32_t x;
                memcpy(&x, field, sizeof x);
                v = x;
            }
            if (k->type == KEY_BOOL)
                cb(k->path, DCV_CONF_BOOL, v ? "true" : "false", NULL, ud);
            else {
                snprintf(text, sizeof text, "%lld", (long long)v);
                cb(k->path, DCV_CONF_NUMBER, text, NULL, ud);
            }
            break;
        case KEY_LIST:
            cb(k->path, DCV_CONF_LIST, NULL, (const struct dcv_strlist *)(const void *)field, ud);
            break;
        case KEY_DOUBLE: {
            double x;
            memcpy(&x, field, sizeof x);
            snprintf(text, sizeof text, "%g", x);
            cb(k->path, DCV_CONF_NUMBER, text, NULL, ud);
            break;
        }
        }
    }
}

const char *dcv_role_name(enum dcv_role role)
{
    for (const struct key_choice *c = role_choices; c->name; c++)
        if (c->value == (int)role)
            return c->name;
    return "unknown";
}
