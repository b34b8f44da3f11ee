/*
 * distconvd: main(). Parses the command line, loads the configuration and
 * dispatches to one action:
 *   (none)              run the service of the configured role until SIGTERM
 *                       or SIGINT: coordinator, worker, or standalone (a
 *                       coordinator plus one local worker in this process)
 *   --check-config      validate the configuration (file + environment)
 *   --probe [--json]    capability report, each plugin probed in a child
 *   --benchmark [--json] the startup benchmark's figures, measured now
 *   --transcode IN OUT  one local transcode through an encoder plugin: the
 *                       same pipeline a worker's job process runs
 *   --job SPEC          internal: one attempt of a job, run by the worker in
 *                       a child process (core/worker/jobproc.h)
 *
 * Service start-up order matters: the capability probe forks without exec,
 * so it runs before the transport plugin starts its threads
 * (dcv_net_open); signals the loop owns (SIGTERM, SIGINT, SIGCHLD) are
 * blocked before those threads exist too, so they inherit the mask and
 * every signal reaches the loop's signalfd. Security comes after the
 * transport and before any socket: this process's keys, then the
 * coordinator's allow-lists, which the transport's ZAP handler (started
 * before the first server socket binds) consults; SIGHUP reloads them.
 *
 * Exit status: 0 success (a service stopped by a signal included), 1 the
 * action failed (transcode error, config invalid, a service could not
 * start), 2 usage error (also: a role whose required settings are missing).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <json-c/json.h>

#include <sys/stat.h>

#include "build-config.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "pluginhost.h"
#include "probe.h"
#include "profile.h"
#include "coordinator/coord.h"
#include "media/pipeline.h"
#include "worker/bgbench.h"
#include "worker/encbench.h"
#include "worker/jobproc.h"
#include "worker/worker.h"

enum action { ACT_NONE, ACT_CHECK_CONFIG, ACT_PROBE, ACT_TRANSCODE, ACT_JOB, ACT_BENCHMARK };
enum progress_style { PROG_AUTO, PROG_BAR, PROG_PLAIN, PROG_JSON, PROG_NONE };

struct options {
    const char *config_path;
    int config_explicit;
    enum action action;
    int json;
    int verbose, quiet;
    unsigned probe_timeout_ms;
    enum progress_style progress;
    const char *input, *output;
    const char *job_spec;
    struct dcv_profile profile;
};

/* Set from the signal handler; the progress callback turns it into a clean
 * cancel, so an interrupted transcode removes its .part file. */
static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    g_interrupted = sig;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: distconvd [-c FILE] [OPTIONS]\n"
            "       distconvd [-c FILE] --check-config\n"
            "       distconvd [-c FILE] --probe [--json]\n"
            "       distconvd [-c FILE] --benchmark [--json]\n"
            "       distconvd [-c FILE] --transcode INPUT OUTPUT [ENCODE OPTIONS]\n"
            "\n"
            "Without an action, runs the service of the configured role until SIGTERM or\n"
            "SIGINT: `coordinator` (job store, scheduler, control/data/admin endpoints),\n"
            "`worker` (runs jobs for the coordinator named by `coordinator`), or\n"
            "`standalone` (both in one process, the default).\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE     configuration file (default %s)\n"
            "      --check-config    validate the configuration and print the result\n"
            "      --probe           load every plugin in a child process and report what\n"
            "                        it can do on this machine (or why not)\n"
            "      --benchmark       encode a generated 1080p clip on every available encoder\n"
            "                        device and codec (worker.benchmark_ms each) and print\n"
            "                        the frames per second, the figures a worker announces\n"
            "      --json            machine-readable output for --probe/--benchmark/\n"
            "                        --check-config\n"
            "      --probe-timeout MS  per-plugin probe time limit (default 10000)\n"
            "      --transcode IN OUT  transcode one file locally\n"
            "      --job SPEC        internal: run one job attempt (started by the worker)\n"
            "      --progress STYLE  auto|bar|plain|json|none (default auto: a bar on a\n"
            "                        terminal, none otherwise)\n"
            "  -v, --verbose         log at debug level (twice: trace)\n"
            "  -q, --quiet           log errors only\n"
            "  -V, --version         print the version and the ABI/FFmpeg versions\n"
            "  -h, --help            this text\n"
            "\n"
            "Encode options (--transcode):\n%s"
            "\n"
            "Environment: DISTCONV_ROLE DISTCONV_NAME DISTCONV_STATE_DIR DISTCONV_PLUGIN_DIR\n"
            "DISTCONV_PLUGIN_CONF_DIR DISTCONV_LOG_LEVEL DISTCONV_LOG_FORMAT DISTCONV_LOG_TARGET\n"
            "DISTCONV_COORDINATOR DISTCONV_BIND DISTCONV_MAX_JOBS DISTCONV_WORK_DIR (and the\n"
            "others listed by --check-config) override the configuration file.\n",
            DCV_DEFAULT_CONFIG, dcv_profile_usage());
}

static void print_version(void)
{
    unsigned c = avcodec_version(), f = avformat_version(), u = avutil_version();
    printf("distconvd %s (plugin ABI %d.%d; libavcodec %u.%u.%u, libavformat %u.%u.%u, "
           "libavutil %u.%u.%u)\n",
           PACKAGE_VERSION, DCV_ABI_MAJOR, DCV_ABI_MINOR, c >> 16, (c >> 8) & 0xff, c & 0xff,
           f >> 16, (f >> 8) & 0xff, f & 0xff, u >> 16, (u >> 8) & 0xff, u & 0xff);
}

enum {
    OPT_CHECK = 1000, OPT_PROBE, OPT_JSON, OPT_TRANSCODE, OPT_PROGRESS, OPT_PROBE_TIMEOUT,
    OPT_JOB, OPT_BENCHMARK,
    OPT_PROFILE, /* every profile option maps here, name looked up by index */
};

/* Profile options share one handler: dcv_profile_set() knows their names,
 * ranges and messages, so distconvctl submit validates them identically.
 * The jobs-only ones (library rules, GPU sessions) are not taken here. */
static size_t add_profile_opts(struct option *longopts)
{
    size_t n = 0;
    unsigned flags;
    const char *name;

    for (size_t i = 0; (name = dcv_profile_option(i, &flags)); i++)
        if (!(flags & DCV_PROFILE_OPT_JOB))
            longopts[n++] = (struct option){name, required_argument, NULL, OPT_PROFILE + (int)i};
    return n;
}

/* 0: run the action; 1: --help/--version already answered; <0: usage error. */
static int parse_args(int argc, char **argv, struct options *o, char *err, size_t errlen)
{
    struct option longopts[16 + DCV_PROFILE_OPTS_MAX + 1];
    static const struct option base[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"probe", no_argument, NULL, OPT_PROBE},
        {"benchmark", no_argument, NULL, OPT_BENCHMARK},
        {"json", no_argument, NULL, OPT_JSON},
        {"probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT},
        {"transcode", no_argument, NULL, OPT_TRANSCODE},
        {"job", required_argument, NULL, OPT_JOB},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
    };
    size_t nb = sizeof(base) / sizeof(base[0]);

    memcpy(longopts, base, sizeof(base));
    longopts[nb + add_profile_opts(longopts + nb)] = (struct option){0};

    o->config_path = DCV_DEFAULT_CONFIG;
    o->probe_timeout_ms = 10000;
    dcv_profile_defaults(&o->profile);

    opterr = 0;
    for (;;) {
        int idx = 0, c = getopt_long(argc, argv, ":c:vqVh", longopts, &idx);
        if (c == -1)
            break;
        if (c >= OPT_PROFILE && c < OPT_PROFILE + DCV_PROFILE_OPTS_MAX) {
            const char *name = dcv_profile_option((size_t)(c - OPT_PROFILE), NULL);
            int r = dcv_profile_set(&o->profile, name, optarg, err, errlen);
            if (r < 0)
                return r;
            continue;
        }
        switch (c) {
        case 'c':
            o->config_path = optarg;
            o->config_explicit = 1;
            break;
        case OPT_CHECK: o->action = ACT_CHECK_CONFIG; break;
        case OPT_PROBE: o->action = ACT_PROBE; break;
        case OPT_BENCHMARK: o->action = ACT_BENCHMARK; break;
        case OPT_TRANSCODE: o->action = ACT_TRANSCODE; break;
        case OPT_JOB:
            o->action = ACT_JOB;
            o->job_spec = optarg;
            break;
        case OPT_JSON: o->json = 1; break;
        case OPT_PROBE_TIMEOUT: {
            char *end;
            unsigned long v;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno || *end || v < 100 || v > 600000) {
                snprintf(err, errlen, "--probe-timeout: expected milliseconds from 100 to "
                                      "600000, got '%s'", optarg);
                return -EINVAL;
            }
            o->probe_timeout_ms = (unsigned)v;
            break;
        }
        case OPT_PROGRESS:
            if (!strcmp(optarg, "auto")) o->progress = PROG_AUTO;
            else if (!strcmp(optarg, "bar")) o->progress = PROG_BAR;
            else if (!strcmp(optarg, "plain")) o->progress = PROG_PLAIN;
            else if (!strcmp(optarg, "json")) o->progress = PROG_JSON;
            else if (!strcmp(optarg, "none")) o->progress = PROG_NONE;
            else {
                snprintf(err, errlen, "--progress: expected auto, bar, plain, json or none, "
                                      "got '%s'", optarg);
                return -EINVAL;
            }
            break;
        case 'v': o->verbose++; break;
        case 'q': o->quiet = 1; break;
        case 'V': print_version(); return 1; /* done: main exits 0 */
        case 'h': usage(stdout); return 1;
        case ':':
            snprintf(err, errlen, "%s: missing argument", argv[optind - 1]);
            return -EINVAL;
        default:
            snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
            return -EINVAL;
        }
    }

    /* Defaults that depend on other options (crf per codec) resolve last. */
    dcv_profile_resolve(&o->profile);

    if (o->action == ACT_TRANSCODE) {
        if (argc - optind != 2) {
            snprintf(err, errlen, "--transcode needs INPUT and OUTPUT (got %d argument%s)",
                     argc - optind, argc - optind == 1 ? "" : "s");
            return -EINVAL;
        }
        o->input = argv[optind];
        o->output = argv[optind + 1];
    } else if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    return 0;
}

/* Log settings: config/environment first, then -v/-q from the command line. */
static void setup_logging(const struct dcv_settings *s, const struct options *o)
{
    int level = s ? s->log_level : DCV_LOG_INFO;
    if (o->quiet)
        level = DCV_LOG_ERROR;
    else if (o->verbose)
        level = o->verbose > 1 ? DCV_LOG_TRACE : DCV_LOG_DEBUG;
    dcv_log_setup(level, s ? s->log_format : DCV_LOG_TEXT, s ? s->log_target : DCV_LOG_STDERR,
                  "distconvd");
}

/* --check-config output, built from the config key table so every setting
 * shows (and shows as resolved: role defaults filled in). */
static void conf_text_cb(const char *path, enum dcv_conf_kind kind, const char *text,
                         const struct dcv_strlist *list, void *ud)
{
    (void)ud;
    if (kind != DCV_CONF_LIST) {
        printf("  %-24s %s\n", path, text[0] ? text : "(none)");
        return;
    }
    printf("  %-24s", path);
    if (!list->n)
        printf(" (none)");
    for (unsigned i = 0; i < list->n; i++)
        printf("%s%s", i ? ", " : " ", list->v[i]);
    printf("\n");
}

static void conf_json_cb(const char *path, enum dcv_conf_kind kind, const char *text,
                         const struct dcv_strlist *list, void *ud)
{
    struct json_object *obj = ud, *val;
    char part[64];
    const char *dot;

    /* "log.level" lands in {"log": {"level": ...}}. */
    while ((dot = strchr(path, '.')) != NULL && (size_t)(dot - path) < sizeof part) {
        struct json_object *sub;
        memcpy(part, path, (size_t)(dot - path));
        part[dot - path] = '\0';
        if (!json_object_object_get_ex(obj, part, &sub)) {
            sub = json_object_new_object();
            json_object_object_add(obj, part, sub);
        }
        obj = sub;
        path = dot + 1;
    }
    switch (kind) {
    case DCV_CONF_NUMBER:
        val = json_object_new_int64(strtoll(text, NULL, 10));
        break;
    case DCV_CONF_BOOL:
        val = json_object_new_boolean(strcmp(text, "true") == 0);
        break;
    case DCV_CONF_LIST:
        val = json_object_new_array();
        for (unsigned i = 0; i < list->n; i++)
            json_object_array_add(val, json_object_new_string(list->v[i]));
        break;
    default:
        val = json_object_new_string(text);
    }
    json_object_object_add(obj, path, val);
}

/*
 * The key files this role will use, read as the service reads them (its own
 * secret key, the coordinator's public key, workers.d and admins.d): a
 * configuration whose keys are missing, unreadable, too open or not keys
 * is not "OK" (issue 11 A9: --check-config passed, the start failed).
 * Only when security is on and some endpoint of the role is tcp.
 */
static int check_keys(struct dcv_conf *conf, char *err, size_t errlen)
{
    const struct dcv_settings *s = dcv_conf_settings(conf);
    struct dcv_net *net = NULL;
    struct dcv_auth *auth = NULL;
    int r, tcp = 0;

    for (const char *const *ep = (const char *const[]){s->bind, s->data_bind, s->admin,
                                                       s->coordinator, NULL};
         *ep; ep++)
        tcp |= strncmp(*ep, "tcp://", 6) == 0;
    if (s->sec_mode == DCV_SEC_NONE || !tcp)
        return 0;
    if ((r = dcv_net_open(s->plugin_dir, s->transport, conf, &net, err, errlen)) < 0)
        return r;
    r = dcv_net_secure(net, s, dcv_role_name(s->role), err, errlen);
    if (r == 0 && s->role != DCV_ROLE_WORKER)
        r = dcv_auth_new(s, s->name, dcv_net_own_public(net), &auth, err, errlen);
    dcv_auth_free(&auth);
    dcv_net_close(&net);
    return r;
}

static int do_check_config(struct dcv_conf *conf, const struct options *o)
{
    const char *path = dcv_conf_path(conf);
    char kerr[2048];

    if (check_keys(conf, kerr, sizeof kerr) < 0) {
        if (o->json) {
            struct json_object *j = json_object_new_object();
            char msg[2200];
            snprintf(msg, sizeof msg, "security: %s", kerr);
            json_object_object_add(j, "valid", json_object_new_boolean(0));
            json_object_object_add(j, "file", json_object_new_string(path));
            json_object_object_add(j, "error", json_object_new_string(msg));
            puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
            json_object_put(j);
        } else {
            dcv_log(DCV_LOG_ERROR, "config", "%s: the %s's keys: %s",
                    *path ? path : "(defaults and environment)",
                    dcv_role_name(dcv_conf_settings(conf)->role), kerr);
        }
        return 1;
    }
    if (o->json) {
        struct json_object *j = json_object_new_object();
        json_object_object_add(j, "valid", json_object_new_boolean(1));
        json_object_object_add(j, "file", json_object_new_string(path));
        dcv_conf_walk(conf, conf_json_cb, j);
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
        return 0;
    }
    printf("configuration OK (%s)\n", *path ? path : "no file: defaults and environment");
    dcv_conf_walk(conf, conf_text_cb, NULL);
    return 0;
}

static int do_probe(struct dcv_conf *conf, const struct options *o)
{
    char err[1024] = "";
    char *json = NULL, *text = NULL;
    int r = dcv_probe_all(conf, o->probe_timeout_ms, &json, err, sizeof(err));

    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, "probe", "%s", err);
        return 1;
    }
    if (o->json) {
        fputs(json, stdout);
        fputc('\n', stdout);
    } else if (dcv_probe_format_text(json, &text) == 0) {
        fputs(text, stdout);
    } else {
        dcv_log(DCV_LOG_ERROR, "probe", "cannot render the probe report");
        r = -EINVAL;
    }
    free(text);
    free(json);
    return r < 0 ? 1 : 0;
}

static int do_benchmark(struct dcv_conf *conf, const struct options *o)
{
    char err[1024] = "";
    char *json = NULL, *text = NULL;
    int r = dcv_bench_run(conf, (unsigned)dcv_conf_settings(conf)->benchmark_ms,
                          o->probe_timeout_ms, &json, err, sizeof(err));

    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, "benchmark", "%s", err);
        return 1;
    }
    if (o->json) {
        fputs(json, stdout);
        fputc('\n', stdout);
    } else if (dcv_bench_format_text(json, &text) == 0) {
        fputs(text, stdout);
    } else {
        dcv_log(DCV_LOG_ERROR, "benchmark", "cannot render the report");
        r = -EINVAL;
    }
    free(text);
    free(json);
    return r < 0 ? 1 : 0;
}

struct progress_state {
    enum progress_style style;
    double last_plain;
};

static void fmt_hms(char *buf, size_t len, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

static int on_progress(const struct dcv_progress *p, void *user)
{
    struct progress_state *ps = user;
    char pos[32], eta[48] = "";

    fmt_hms(pos, sizeof(pos), p->out_time_us / 1e6);
    if (p->percent > 0 && p->speed > 0 && p->duration_us > 0) {
        char e[32];
        fmt_hms(e, sizeof(e), (p->duration_us - p->out_time_us) / 1e6 / p->speed);
        snprintf(eta, sizeof(eta), " eta %s", e);
    }
    switch (ps->style) {
    case PROG_BAR: {
        char bar[31];
        int fill = p->percent < 0 ? 0 : (int)(p->percent * 30 / 100);
        if (fill > 30) /* timestamps past the probed duration happen */
            fill = 30;
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(30 - fill));
        bar[30] = '\0';
        if (p->percent >= 0)
            fprintf(stderr, "\r[%s] %5.1f%% %s frame %lld %.1f fps %.2fx%s   ", bar, p->percent,
                    pos, (long long)p->frames, p->fps, p->speed, eta);
        else
            fprintf(stderr, "\r%s frame %lld %.1f fps %.2fx   ", pos, (long long)p->frames,
                    p->fps, p->speed);
        break;
    }
    case PROG_PLAIN: {
        /* A log file wants a line every few seconds, not every callback. */
        double t = dcv_mono_ns() / 1e9;
        if (t - ps->last_plain >= 5.0 || p->percent >= 100.0) {
            ps->last_plain = t;
            fprintf(stderr, "progress: %s frame=%lld fps=%.1f speed=%.2fx percent=%.1f%s\n",
                    pos, (long long)p->frames, p->fps, p->speed, p->percent, eta);
        }
        break;
    }
    case PROG_JSON:
        fprintf(stdout,
                "{\"frames\":%lld,\"fps\":%.2f,\"speed\":%.3f,\"percent\":%.2f,"
                "\"out_time_us\":%lld,\"duration_us\":%lld,\"bytes_out\":%lld}\n",
                (long long)p->frames, p->fps, p->speed, p->percent, (long long)p->out_time_us,
                (long long)p->duration_us, (long long)p->bytes_out);
        fflush(stdout);
        break;
    default:
        break;
    }
    return g_interrupted != 0;
}

static int do_transcode(struct dcv_conf *conf, struct options *o)
{
    const struct dcv_settings *s = dcv_conf_settings(conf);
    struct dcv_plugin_set set = {0};
    struct dcv_transcode_result res = {0};
    struct progress_state ps = {.style = o->progress};
    struct dcv_transcode_req req = {0};
    struct sigaction sa = {0};
    char err[2048] = "";
    size_t i;
    int r, usable = 0;

    r = dcv_plugin_set_load_dir(&set, s->plugin_dir, err, sizeof(err));
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, "transcode", "plugin directory: %s", err);
        dcv_plugin_set_clear(&set);
        return 1;
    }
    for (i = 0; i < set.n; i++) {
        struct dcv_plugin *p = set.items[i];
        if (p->hdr.kind != DCV_PLUGIN_ENCODER)
            continue;
        if (!dcv_conf_plugin_enabled(conf, p->hdr.name)) {
            dcv_log(DCV_LOG_DEBUG, "transcode", "plugin %s disabled by configuration",
                    p->hdr.name);
            continue;
        }
        err[0] = '\0';
        if (dcv_plugin_init(p, conf, err, sizeof(err)) < 0)
            dcv_log(DCV_LOG_WARN, "transcode", "plugin %s (%s): init failed: %s", p->hdr.name,
                    p->path, err);
        else
            usable++;
    }
    if (!usable) {
        dcv_log(DCV_LOG_ERROR, "transcode",
                "no usable encoder plugin in %s (see distconvd --probe)", s->plugin_dir);
        dcv_plugin_set_clear(&set);
        return 1;
    }

    if (ps.style == PROG_AUTO)
        ps.style = isatty(STDERR_FILENO) ? PROG_BAR : PROG_NONE;

    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    req.input = o->input;
    req.output = o->output;
    req.profile = &o->profile;
    req.plugins = &set;
    req.progress = on_progress;
    req.progress_user = &ps;

    err[0] = '\0';
    r = dcv_transcode(&req, &res, err, sizeof(err));
    if (ps.style == PROG_BAR)
        fputc('\n', stderr);
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, "transcode", "%s -> %s failed: %s", o->input, o->output,
                err[0] ? err : strerror(-r));
    } else {
        dcv_log(DCV_LOG_INFO, "transcode",
                "%s -> %s: %s via %s (%s), %lld frames, %.2f s of media in %.2f s (%.1f fps)",
                o->input, o->output, res.encoder, res.plugin, res.device_id,
                (long long)res.frames, res.duration_us / 1e6, res.elapsed_s, res.fps);
    }
    dcv_plugin_set_clear(&set);
    return r < 0 ? 1 : 0;
}

/* ---- services ------------------------------------------------------------ */

/* mkdir -p with 0750 for what the daemon owns; one clear line on failure. */
static int ensure_dir(const char *key, const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf)) {
        dcv_log(DCV_LOG_ERROR, "daemon", "%s '%s': expected an absolute path", key, path);
        return -EINVAL;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            struct stat st;
            *p = '\0';
            if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
                int e = errno;
                dcv_log(DCV_LOG_ERROR, "daemon", "%s %s: cannot create %s: %s", key, path, buf,
                        strerror(e));
                return -e;
            }
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
                dcv_log(DCV_LOG_ERROR, "daemon", "%s %s: %s is not a directory", key, path, buf);
                return -ENOTDIR;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    if (access(path, R_OK | W_OK | X_OK) != 0) {
        int e = errno;
        dcv_log(DCV_LOG_ERROR, "daemon", "%s %s: %s", key, path, strerror(e));
        return -e;
    }
    return 0;
}

static void on_stop_signal(struct dcv_loop *loop, const struct signalfd_siginfo *si, void *arg)
{
    int *sig = arg;
    *sig = (int)si->ssi_signo;
    dcv_loop_stop(loop);
}

/* SIGHUP: read the allow-lists again (atomically; a failure keeps the old
 * ones). Registered for every role, so SIGHUP never kills a daemon. */
static void on_hup_signal(struct dcv_loop *loop, const struct signalfd_siginfo *si, void *arg)
{
    struct dcv_auth **auth = arg;
    char err[1024];
    (void)loop;
    (void)si;
    if (!*auth) {
        dcv_log(DCV_LOG_INFO, "daemon", "SIGHUP: nothing to reload in this role");
        return;
    }
    if (dcv_auth_reload(*auth, err, sizeof err) < 0)
        dcv_log(DCV_LOG_ERROR, "daemon", "SIGHUP: security reload failed, keeping the old "
                "allow-lists: %s", err);
    else
        dcv_log(DCV_LOG_INFO, "daemon", "SIGHUP: security allow-lists reloaded (%zu enrolled "
                "identities)", dcv_auth_count(*auth));
}

/* Security before any socket: this process's keys (a missing or too open
 * key file stops the start here), then the coordinator's policy, which the
 * transport's ZAP handler consults for every connection of every server
 * socket dcv_coord_new() binds. */
static int setup_security(struct dcv_conf *conf, struct dcv_net *net, int want_coord,
                          struct dcv_auth **auth)
{
    const struct dcv_settings *s = dcv_conf_settings(conf);
    char err[2048];
    int r;

    if ((r = dcv_net_secure(net, s, dcv_role_name(s->role), err, sizeof err)) < 0) {
        dcv_log(DCV_LOG_ERROR, "daemon", "security: %s", err);
        return r;
    }
    if (!want_coord || s->sec_mode == DCV_SEC_NONE) {
        if (s->sec_mode == DCV_SEC_NONE)
            dcv_log(DCV_LOG_WARN, "daemon", "security.mode = none: nothing is authenticated "
                    "or encrypted");
        return 0;
    }
    if ((r = dcv_auth_new(s, s->name, dcv_net_own_public(net), auth, err, sizeof err)) < 0) {
        dcv_log(DCV_LOG_ERROR, "daemon", "security: %s", err);
        return r;
    }
    dcv_net_set_auth(net, *auth);
    if (s->sec_mode == DCV_SEC_CURVE)
        dcv_log(DCV_LOG_INFO, "daemon", "security: curve, %zu enrolled identities (%s, %s)",
                dcv_auth_count(*auth), s->sec_workers_dir, s->sec_admins_dir);
    else
        dcv_log(DCV_LOG_WARN, "daemon", "security: token mode (PLAIN: the token crosses the "
                "network in clear text and nothing is encrypted; see docs/security.md)");
    return 0;
}

/* STATE_DIR/distconvd.pid: this daemon's pid, written once SIGHUP reloads
 * and SIGTERM stops it (the loop owns both), so `kill -HUP $(cat
 * STATE_DIR/distconvd.pid)` reaches this daemon and no other one on the
 * host (docs/operations.md). Written to a temporary name and renamed: a
 * reader never sees half a number. Not a lock: the state dir's store is. */
static int write_pid_file(const char *state_dir, char *path, size_t pathlen)
{
    char tmp[PATH_MAX];
    FILE *f;

    if ((size_t)snprintf(path, pathlen, "%s/distconvd.pid", state_dir) >= pathlen ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    if (!(f = fopen(tmp, "w")))
        return -errno;
    if (fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        return -e;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

static int do_service(struct dcv_conf *conf, const struct options *o)
{
    const struct dcv_settings *s = dcv_conf_settings(conf);
    int want_coord = s->role != DCV_ROLE_WORKER, want_worker = s->role != DCV_ROLE_COORDINATOR;
    struct dcv_loop *loop = NULL;
    struct dcv_net *net = NULL;
    struct dcv_coord *coord = NULL;
    struct dcv_worker *worker = NULL;
    struct dcv_auth *auth = NULL;
    char *probe_json = NULL, *bench_json = NULL;
    struct dcv_bgbench *bgbench = NULL;
    char err[2048] = "", pid_path[PATH_MAX] = "";
    int r, rc = 1, stop_sig = 0;
    sigset_t block;

    if (s->role == DCV_ROLE_WORKER && !s->coordinator[0]) {
        dcv_log(DCV_LOG_ERROR, "daemon",
                "role worker: no coordinator endpoint configured (set `coordinator`, e.g. "
                "\"tcp://coord.example:7400\", or DISTCONV_COORDINATOR)");
        return 2;
    }
    if (ensure_dir("state_dir", s->state_dir) < 0 ||
        (want_worker && ensure_dir("work_dir", s->work_dir) < 0))
        return 1;

    /* SIGHUP is held since main(): the loop's signalfd takes a pending one
     * once it exists. Children reset their masks. */
    /* The probe forks without exec: before any thread exists. */
    if (want_worker) {
        r = dcv_probe_all(conf, o->probe_timeout_ms, &probe_json, err, sizeof(err));
        if (r < 0) {
            dcv_log(DCV_LOG_ERROR, "daemon", "capability probe: %s", err);
            return 1;
        }
    }
    /* The startup benchmark, for a worker of its own only (a standalone
     * daemon has nobody to compare it with): figures kept from an earlier
     * start, else measured in a background child forked now, before any
     * thread, while the worker registers at once (bgbench.h). */
    if (s->role == DCV_ROLE_WORKER && s->benchmark) {
        r = dcv_bench_cached(conf, probe_json, &bench_json, err, sizeof(err));
        if (r == 0)
            r = dcv_bgbench_start(conf, o->probe_timeout_ms, &bgbench, err, sizeof(err));
        if (r < 0)
            dcv_log(DCV_LOG_WARN, "daemon", "startup benchmark: %s (announcing no figures)", err);
    }

    signal(SIGPIPE, SIG_IGN);
    r = dcv_loop_new(&loop, err, sizeof(err));
    if (r == 0)
        r = dcv_loop_add_signal(loop, SIGTERM, on_stop_signal, &stop_sig, err, sizeof(err));
    if (r == 0)
        r = dcv_loop_add_signal(loop, SIGINT, on_stop_signal, &stop_sig, err, sizeof(err));
    if (r == 0)
        r = dcv_loop_add_signal(loop, SIGHUP, on_hup_signal, &auth, err, sizeof(err));
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, "daemon", "event loop: %s", err);
        goto out;
    }
    /* The transport's threads inherit this mask: SIGCHLD must stay for the
     * worker's signalfd (it registers it on the loop later). */
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, NULL);

    r = dcv_net_open(s->plugin_dir, s->transport, conf, &net, err, sizeof(err));
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, "daemon", "transport '%s': %s", s->transport, err);
        goto out;
    }
    if (setup_security(conf, net, want_coord, &auth) < 0)
        goto out;
    if (want_coord) {
        r = dcv_coord_new(loop, net, conf, &coord, err, sizeof(err));
        if (r < 0) {
            dcv_log(DCV_LOG_ERROR, "daemon", "coordinator: %s", err);
            goto out;
        }
        /* dcv_coord_new logged one line per bound endpoint. */
    }
    if (want_worker) {
        /* The coordinator names its blobs under the resolved state dir, so
         * the local worker announces that same spelling (a symlinked
         * /var/lib would otherwise send every input over the data plane). */
        static char state_real[PATH_MAX];
        const char *local[2] = {realpath(s->state_dir, state_real) ? state_real : s->state_dir,
                                NULL};
        struct dcv_worker_opts wo = {0};
        wo.coordinator = coord ? dcv_coord_control_endpoint(coord) : s->coordinator;
        /* The running binary even after a package upgrade replaced the
         * file: job processes speak exactly this worker's SPEC. Under
         * valgrind /proc/self/exe is valgrind itself, so its test wrapper
         * names the binary (DISTCONV_SELF_EXE, docs/testing.md). */
        wo.self_exe = getenv("DISTCONV_SELF_EXE") && *getenv("DISTCONV_SELF_EXE")
                          ? getenv("DISTCONV_SELF_EXE")
                          : "/proc/self/exe";
        wo.local_prefixes = coord ? local : NULL;
        wo.probe_json = probe_json;
        wo.bench_json = bench_json;
        wo.bgbench = bgbench;
        bgbench = NULL; /* the worker's now, whatever happens */
        r = dcv_worker_new(loop, net, conf, &wo, &worker, err, sizeof(err));
        if (r < 0) {
            dcv_log(DCV_LOG_ERROR, "daemon", "worker: %s", err);
            goto out;
        }
    }
    free(probe_json);
    probe_json = NULL;
    free(bench_json);
    bench_json = NULL;

    if ((r = write_pid_file(s->state_dir, pid_path, sizeof(pid_path))) < 0) {
        dcv_log(DCV_LOG_WARN, "daemon", "pid file %s: %s", pid_path, strerror(-r));
        pid_path[0] = '\0';
    }
    dcv_log(DCV_LOG_INFO, "daemon", "distconvd %s running as %s (%s)", PACKAGE_VERSION,
            dcv_role_name(s->role), s->name);
    r = dcv_loop_run(loop, err, sizeof(err));
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, "daemon", "event loop: %s", err);
        goto out;
    }
    dcv_log(DCV_LOG_INFO, "daemon", "%s: stopping", stop_sig ? strsignal(stop_sig) : "loop idle");
    rc = 0;
out:
    if (pid_path[0])
        unlink(pid_path);
    /* Worker first: its DISCONNECT and job cleanup may still need the
     * coordinator's sockets in standalone mode. */
    dcv_worker_free(&worker);
    dcv_coord_free(&coord);
    /* After the plugin's fini: its ZAP thread may call into auth until then. */
    dcv_net_close(&net);
    dcv_auth_free(&auth);
    dcv_loop_destroy(&loop);
    free(probe_json);
    free(bench_json);
    dcv_bgbench_destroy(&bgbench);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct dcv_conf *conf = NULL;
    char err[2048] = "";
    sigset_t hup;
    int r;

    /* A service treats SIGHUP as "reload" (do_service): hold it from the
     * first instant, so one sent while the daemon starts is not fatal.
     * Every other action lets it act as usual (below). */
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_BLOCK, &hup, NULL);

    /* Log to stderr at info until the configuration says otherwise, so
     * errors in the configuration itself are visible. */
    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_TEXT, DCV_LOG_STDERR, "distconvd");

    r = parse_args(argc, argv, &o, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "distconvd: %s\n", err);
        return 2;
    }
    if (r > 0) /* --help or --version answered */
        return 0;
    /* Flags before the file: --check-config --json must print JSON even
     * about a broken file. */
    setup_logging(NULL, &o);

    r = dcv_conf_load(&conf, o.config_path, o.config_explicit, err, sizeof(err));
    if (r < 0) {
        if (o.action == ACT_CHECK_CONFIG && o.json) {
            struct json_object *j = json_object_new_object();
            json_object_object_add(j, "valid", json_object_new_boolean(0));
            json_object_object_add(j, "error", json_object_new_string(err));
            puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
            json_object_put(j);
        } else {
            dcv_log(DCV_LOG_ERROR, "config", "%s", err);
        }
        return 1;
    }
    setup_logging(dcv_conf_settings(conf), &o);
    if (o.action == ACT_JOB) {
        /* The worker reads a job's stderr and re-logs each line under the
         * job's name at its level: JSON keeps both intact. */
        int level = dcv_conf_settings(conf)->log_level;
        if (o.quiet)
            level = DCV_LOG_ERROR;
        else if (o.verbose)
            level = o.verbose > 1 ? DCV_LOG_TRACE : DCV_LOG_DEBUG;
        dcv_log_setup(level, DCV_LOG_JSON, DCV_LOG_STDERR, "distconvd-job");
    }
    dcv_log_hook_ffmpeg();
    if (o.action != ACT_NONE)
        sigprocmask(SIG_UNBLOCK, &hup, NULL);

    switch (o.action) {
    case ACT_CHECK_CONFIG:
        r = do_check_config(conf, &o);
        break;
    case ACT_PROBE:
        r = do_probe(conf, &o);
        break;
    case ACT_BENCHMARK:
        r = do_benchmark(conf, &o);
        break;
    case ACT_TRANSCODE:
        r = do_transcode(conf, &o);
        break;
    case ACT_JOB:
        r = dcv_jobproc_main(conf, o.job_spec);
        break;
    default:
        r = do_service(conf, &o);
        break;
    }
    dcv_conf_free(&conf);
    return r;
}
