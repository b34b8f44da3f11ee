/*
 * distconvctl: the operator and submission CLI. Speaks the admin plane
 * (docs/protocol.md §8) to the coordinator through the transport plugin
 * (core/net.h: this program never links libzmq) and the data plane (§7) for
 * uploads and downloads (core/xfer/client.h).
 *
 * Exit status: 0 success; 1 the job failed or was cancelled (when waiting),
 * or the object asked for does not exist (404), or a transfer failed;
 * 2 usage (bad arguments, a 400/403 reply); 3 the coordinator cannot be
 * reached (no reply after the retries, or 500 after the retries);
 * 4 the job is done but has no output to download (a library rule skipped
 * it or kept the original: the user keeps their source); 130 interrupted.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "build-config.h"
#include "adminc.h"
#include "auth.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "net.h"
#include "profile.h"
#include "proto.h"
#include "ui.h"
#include "xfer/chunk.h"
#include "xfer/client.h"

#define PROG "distconvctl"

enum {
    EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3, EXIT_NO_OUTPUT = 4,
    EXIT_INTERRUPTED = 130
};

/* Set by SIGINT/SIGTERM: every wait (admin, data plane, polling) checks it,
 * so an interrupted download removes its .part file. */
static volatile sig_atomic_t g_cancel;

static void on_signal(int sig)
{
    g_cancel = sig;
}

enum cmd {
    CMD_SUBMIT, CMD_STATUS, CMD_JOBS, CMD_CANCEL, CMD_RETRY, CMD_GET, CMD_WORKERS, CMD_WORKER,
    CMD_DRAIN, CMD_UNDRAIN, CMD_INFO, CMD_KEYGEN, CMD_COUNT
};

static const struct {
    const char *name;
    int nargs;           /* positional arguments */
    const char *argname; /* for the usage message */
} cmds[CMD_COUNT] = {
    [CMD_SUBMIT] = {"submit", 1, "FILE"},   [CMD_STATUS] = {"status", 1, "JOB"},
    [CMD_JOBS] = {"jobs", 0, NULL},         [CMD_CANCEL] = {"cancel", 1, "JOB"},
    [CMD_RETRY] = {"retry", 1, "JOB"},      [CMD_GET] = {"get", 1, "JOB"},
    [CMD_WORKERS] = {"workers", 0, NULL},   [CMD_WORKER] = {"worker", 1, "WORKER"},
    [CMD_DRAIN] = {"drain", 1, "WORKER"},   [CMD_UNDRAIN] = {"undrain", 1, "WORKER"},
    [CMD_INFO] = {"info", 0, NULL},         [CMD_KEYGEN] = {"keygen", 0, NULL},
};

/* Options and the commands they apply to (a mask of 1 << enum cmd). */
enum {
    OPT_JSON = 1000, OPT_PRIORITY, OPT_MAX_ATTEMPTS, OPT_IDEM, OPT_SHARED, OPT_WAIT,
    OPT_FOLLOW, OPT_STATE, OPT_LIMIT, OPT_INPUT, OPT_NAME, OPT_DIR,
    OPT_PROFILE, /* every profile option maps here, name looked up by index */
};

#define M(c) (1u << (c))
#define M_ALL ((1u << CMD_COUNT) - 1)

/* The same option names `distconvd --transcode` takes: dcv_profile_set()
 * validates them, so both programs accept and refuse the same values. */
static const char *const profile_opts[] = {
    "codec", "encoder", "crf", "qp", "bitrate", "preset", "max-height", "bit-depth", "gop",
    "audio", "audio-bitrate", "subtitles", "container", "start", "duration", "threads",
    "skip-if-target-met", "keep-original-if-larger", "verify-tolerance", "gpu-policy",
    "gpu-wait", "deinterlace", "interlaced",
};
#define N_PROFILE_OPTS (sizeof(profile_opts) / sizeof(profile_opts[0]))

struct opts {
    const char *endpoint;
    const char *config_path;
    int config_explicit;
    int json, quiet, verbose;
    enum cmd cmd;
    const char *arg; /* the command's positional argument */

    /* submit */
    struct dcv_profile profile;   /* validation only: the wire gets what the user typed */
    json_object *profile_json;    /* option name -> value as typed */
    int prio_class;               /* 0 low, 1 normal, 2 high */
    int64_t priority;
    int64_t max_attempts;         /* 0 = the coordinator's default */
    const char *idem_key;
    int shared, wait;
    const char *out;
    /* status */
    int follow;
    /* jobs */
    int state; /* -1 = all */
    int64_t limit;
    /* get */
    int input;
    /* keygen */
    const char *key_name, *key_dir;
    int fd; /* submit: FILE, opened before anything else so a bad name is a usage error */
};

/* The running program: configuration, transport and the admin client. */
struct ctl {
    struct opts *o;
    struct dcv_conf *conf;
    const struct dcv_settings *s;
    struct dcv_net *net;
    char endpoint[DCV_ENDPOINT_MAX];
    struct dcv_adminc ac;
};

/* ---- usage ------------------------------------------------------------------ */

/* "scheme://...": submit sends it as a URL input instead of a file. */
static int is_url(const char *arg)
{
    size_t k = 0;
    while (isalpha((unsigned char)arg[k]) ||
           (k > 0 && (isdigit((unsigned char)arg[k]) || strchr("+-.", arg[k]))))
        k++;
    return k > 0 && arg[k] == ':' && arg[k + 1] == '/' && arg[k + 2] == '/';
}

static void usage(FILE *f)
{
    fprintf(f,
"NAME\n"
"    distconvctl - submit and manage distconv transcode jobs\n"
"\n"
"SYNOPSIS\n"
"    distconvctl [GLOBAL OPTIONS] submit FILE|URL [ENCODE OPTIONS] [--priority P]\n"
"                [--max-attempts N] [--idempotency-key KEY] [--shared] [--wait] [-o OUT]\n"
"    distconvctl [GLOBAL OPTIONS] status JOB [--follow]\n"
"    distconvctl [GLOBAL OPTIONS] jobs [--state STATE] [--limit N]\n"
"    distconvctl [GLOBAL OPTIONS] cancel JOB | retry JOB\n"
"    distconvctl [GLOBAL OPTIONS] get JOB -o OUT [--input]\n"
"    distconvctl [GLOBAL OPTIONS] workers | worker ID | drain ID | undrain ID\n"
"    distconvctl [GLOBAL OPTIONS] info\n"
"    distconvctl [GLOBAL OPTIONS] keygen [--name NAME] [--dir DIR]\n"
"\n"
"DESCRIPTION\n"
"    Talks to the distconv coordinator over its admin endpoint. JOB is a job id\n"
"    (32 hex digits) or an unambiguous prefix of one, as `jobs` shows it.\n"
"    Options may come before or after the command.\n"
"\n"
"GLOBAL OPTIONS\n"
"    -e, --endpoint EP    admin endpoint (ipc:///PATH or tcp://HOST:PORT); default:\n"
"                         $DISTCONV_ADMIN, else `admin` from the configuration file,\n"
"                         else ipc://STATE_DIR/admin.sock\n"
"    -c, --config FILE    configuration file for the endpoint, the plugin directory\n"
"                         (transport plugin) and the transfer settings (default\n"
"                         %s; a missing default file is fine)\n"
"        --json           print the reply body as JSON (every command)\n"
"    -q, --quiet          no progress and no messages, only results and errors\n"
"    -v, --verbose        log the client's retries and transfers\n"
"    -h, --help           this text\n"
"    -V, --version        version\n"
"\n"
"COMMANDS\n"
"    submit FILE          upload FILE to the coordinator (SHA-256 first, then the\n"
"                         data plane with a progress bar) and queue a job; prints the\n"
"                         job id on stdout.\n"
"    submit URL           a scheme://... argument is not uploaded: the worker opens\n"
"                         it (http/https by default; the coordinator's\n"
"                         inputs.url_protocols decides)\n"
"        --shared         do not upload: send FILE's absolute path, for files under\n"
"                         one of the coordinator's shared_roots\n"
"        --priority P     low, normal (default), high, or an integer -1000..1000\n"
"                         within the normal class\n"
"        --max-attempts N attempts before the job fails, 1..100 (default: the\n"
"                         coordinator's queue.max_attempts)\n"
"        --idempotency-key KEY  submitting the same key again returns the same job\n"
"                         (default: a random key, reused across this run's retries)\n"
"        --wait           follow the job until it ends: exit 0 done, 1 failed or\n"
"                         cancelled\n"
"        -o OUT           wait, then download the output to OUT (implies --wait)\n"
"    status JOB           the job, its attempts and history\n"
"        --follow         poll about once a second, print each state or progress\n"
"                         change until the job ends (exit 0 done, 1 failed/cancelled)\n"
"    jobs                 table of jobs, newest first\n"
"        --state STATE    queued, assigned, running, verifying, done, failed, cancelled\n"
"        --limit N        at most N jobs (1..10000, default 100)\n"
"    cancel JOB           cancel a queued or running job\n"
"    retry JOB            queue a failed or cancelled job again\n"
"    get JOB -o OUT       download the job's output (written to OUT.part, renamed to\n"
"                         OUT when complete and verified; OUT is never left partial)\n"
"        --input          download the job's original input instead\n"
"    workers              table of workers: state, slots, CPU, disk, jobs, devices;\n"
"                         below it why a worker is busy and one line per GPU\n"
"    worker ID            one worker with its capabilities and telemetry\n"
"    drain ID             the worker finishes its jobs and takes no new ones\n"
"    undrain ID           the worker takes jobs again\n"
"    info                 the coordinator's version and data endpoint\n"
"    keygen               make a CURVE key pair: NAME.key (secret, mode 0600) and\n"
"                         NAME.pub; enroll NAME.pub on the coordinator (workers.d/\n"
"                         or admins.d/, then SIGHUP); see docs/security.md\n"
"        --name NAME      the key's name (default: `name` of the configuration,\n"
"                         the host name)\n"
"        --dir DIR        where to write them (default: the current directory)\n"
"\n"
"ENCODE OPTIONS (submit; the same as distconvd --transcode)\n%s"
"\n"
"ENVIRONMENT\n"
"    DISTCONV_ADMIN, DISTCONV_PLUGIN_DIR, DISTCONV_STATE_DIR and the other DISTCONV_*\n"
"    settings of distconvd.conf(5) override the configuration file.\n"
"    DISTCONV_CTL_TIMEOUT_MS  wait per try for a reply (default 5000; 100..600000)\n"
"    DISTCONV_CTL_TRIES       tries before giving up (default 3; 1..100)\n"
"    DISTCONV_SECURITY_SECRET_KEY  this client's secret key for tcp endpoints in\n"
"                         security.mode curve (default ~/.config/distconv/client.key);\n"
"                         DISTCONV_SECURITY_COORDINATOR_KEY the coordinator's .pub\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 the job failed or was cancelled (when waiting), the job or worker\n"
"    does not exist, or a transfer failed; 2 usage error (bad arguments, or the\n"
"    coordinator refused the request as invalid or not authorised); 3 the\n"
"    coordinator cannot be reached (no reply after the tries); 4 the job is done\n"
"    but has no output (get, submit -o: --skip-if-target-met skipped it or\n"
"    --keep-original-if-larger kept the original; keep the source); 130 interrupted.\n"
"\n"
"EXAMPLES\n"
"    distconvctl submit movie.mkv --codec hevc --crf 24 --wait -o movie.hevc.mkv\n"
"    id=$(distconvctl -q submit clip.mp4 --codec h264 --priority high)\n"
"    distconvctl status \"$id\" --follow\n"
"    distconvctl jobs --state running --json\n"
"    distconvctl drain gpu-box-2\n",
            DCV_DEFAULT_CONFIG, dcv_profile_usage());
}

static int usage_error(const char *fmt, ...) DCV_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
    return EXIT_USAGE;
}

static void errorf(const char *fmt, ...) DCV_PRINTF(1, 2);
static void errorf(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- argument parsing --------------------------------------------------------- */

static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

static int valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 128)
        return 0;
    for (; *k; k++)
        if (*k <= ' ' || *k > '~')
            return 0;
    return 1;
}

static const char *const state_names[] = {"queued", "assigned", "running", "verifying",
                                          "done", "failed", "cancelled"};
#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))

static int state_index(const char *s)
{
    for (size_t i = 0; i < N_STATES; i++)
        if (s && strcmp(s, state_names[i]) == 0)
            return (int)i;
    return -1;
}

static int is_terminal(const char *state)
{
    return state && (!strcmp(state, "done") || !strcmp(state, "failed") ||
                     !strcmp(state, "cancelled"));
}

/* 0 run, 1 answered (--help/--version), EXIT_USAGE after a message. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option base[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
        {"idempotency-key", required_argument, NULL, OPT_IDEM},
        {"shared", no_argument, NULL, OPT_SHARED},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"output", required_argument, NULL, 'o'},
        {"follow", no_argument, NULL, OPT_FOLLOW},
        {"state", required_argument, NULL, OPT_STATE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"input", no_argument, NULL, OPT_INPUT},
        {"name", required_argument, NULL, OPT_NAME},
        {"dir", required_argument, NULL, OPT_DIR},
    };
    struct option longopts[sizeof(base) / sizeof(base[0]) + N_PROFILE_OPTS + 1];
    size_t nb = sizeof(base) / sizeof(base[0]);
    /* Which commands each option applies to, checked once the command is known. */
    struct used_opt { const char *name; unsigned mask; } used[64];
    size_t nused = 0;

    memcpy(longopts, base, sizeof(base));
    for (size_t i = 0; i < N_PROFILE_OPTS; i++)
        longopts[nb + i] = (struct option){profile_opts[i],
                                           dcv_profile_opt_is_flag(profile_opts[i])
                                               ? optional_argument : required_argument,
                                           NULL, OPT_PROFILE + (int)i};
    longopts[nb + N_PROFILE_OPTS] = (struct option){0};

    o->config_path = DCV_DEFAULT_CONFIG;
    o->prio_class = 1;
    o->state = -1;
    dcv_profile_defaults(&o->profile);

    opterr = 0;
    for (;;) {
        int idx = 0, c = getopt_long(argc, argv, ":e:c:qvhVo:", longopts, &idx);
        unsigned mask = M_ALL;
        const char *name = NULL;
        char err[512];

        if (c == -1)
            break;
        if (c >= OPT_PROFILE && c < OPT_PROFILE + (int)N_PROFILE_OPTS) {
            const char *pname = profile_opts[c - OPT_PROFILE];
            json_object *v;
            if (!optarg && dcv_profile_opt_is_flag(pname))
                optarg = "true"; /* --skip-if-target-met alone */
            if (dcv_profile_set(&o->profile, pname, optarg, err, sizeof err) < 0)
                return usage_error("%s", err);
            /* The wire carries what the user typed (the worker applies it
             * with the same dcv_profile_set); a repeated option replaces. */
            if (!(v = json_object_new_string(optarg)) ||
                json_object_object_add(o->profile_json, pname, v) < 0) {
                json_object_put(v);
                errorf("out of memory");
                return EXIT_FAILED;
            }
            mask = M(CMD_SUBMIT);
            name = pname;
        } else {
            switch (c) {
            case 'e': o->endpoint = optarg; break;
            case 'c': o->config_path = optarg; o->config_explicit = 1; break;
            case OPT_JSON: o->json = 1; break;
            case 'q': o->quiet = 1; break;
            case 'v': o->verbose++; break;
            case 'h': usage(stdout); return 1;
            case 'V':
                printf(PROG " %s (admin protocol %s)\n", PACKAGE_VERSION, DCV_PROTO_SIG_ADMIN);
                return 1;
            case OPT_PRIORITY:
                mask = M(CMD_SUBMIT);
                if (!strcmp(optarg, "low")) o->prio_class = 0;
                else if (!strcmp(optarg, "normal")) o->prio_class = 1;
                else if (!strcmp(optarg, "high")) o->prio_class = 2;
                else if (parse_int(optarg, -1000, 1000, &o->priority) < 0)
                    return usage_error("--priority: expected low, normal, high or an integer "
                                       "-1000..1000, got '%s'", optarg);
                break;
            case OPT_MAX_ATTEMPTS:
                mask = M(CMD_SUBMIT);
                if (parse_int(optarg, 1, 100, &o->max_attempts) < 0)
                    return usage_error("--max-attempts: expected an integer 1..100, got '%s'",
                                       optarg);
                break;
            case OPT_IDEM:
                mask = M(CMD_SUBMIT);
                if (!valid_key(optarg))
                    return usage_error("--idempotency-key: expected 1..128 printable ASCII "
                                       "characters without spaces, got '%s'", optarg);
                o->idem_key = optarg;
                break;
            case OPT_SHARED: mask = M(CMD_SUBMIT); o->shared = 1; break;
            case OPT_WAIT: mask = M(CMD_SUBMIT); o->wait = 1; break;
            case 'o': mask = M(CMD_SUBMIT) | M(CMD_GET); o->out = optarg; name = "-o"; break;
            case OPT_FOLLOW: mask = M(CMD_STATUS); o->follow = 1; break;
            case OPT_STATE:
                mask = M(CMD_JOBS);
                if ((o->state = state_index(optarg)) < 0)
                    return usage_error("--state: expected queued, assigned, running, "
                                       "verifying, done, failed or cancelled, got '%s'",
                                       optarg);
                break;
            case OPT_LIMIT:
                mask = M(CMD_JOBS);
                if (parse_int(optarg, 1, 10000, &o->limit) < 0)
                    return usage_error("--limit: expected an integer 1..10000, got '%s'",
                                       optarg);
                break;
            case OPT_INPUT: mask = M(CMD_GET); o->input = 1; break;
            case OPT_NAME:
                mask = M(CMD_KEYGEN);
                if (!dcv_auth_valid_name(optarg))
                    return usage_error("--name: expected 1..63 letters, digits, '.', '_' or '-' "
                                       "(not starting with '.' or '-'), got '%s'", optarg);
                o->key_name = optarg;
                break;
            case OPT_DIR: mask = M(CMD_KEYGEN); o->key_dir = optarg; break;
            case ':':
                if (optopt > 0 && optopt < 256)
                    return usage_error("-%c: missing argument", optopt);
                return usage_error("%s: missing argument", argv[optind - 1]);
            default:
                if (optopt > 0 && optopt < 256)
                    return usage_error("unknown option '-%c'", optopt);
                return usage_error("unknown option '%s'", argv[optind - 1]);
            }
            /* Long options only, apart from -o named above. */
            for (size_t i = 0; !name && i < nb; i++)
                if (base[i].val == c)
                    name = base[i].name;
        }
        if (mask != M_ALL) {
            if (nused == sizeof(used) / sizeof(used[0]))
                return usage_error("too many options");
            used[nused++] = (struct used_opt){name, mask};
        }
    }

    if (optind >= argc)
        return usage_error("no command given");
    {
        const char *word = argv[optind++];
        int found = -1;
        for (int i = 0; i < CMD_COUNT; i++)
            if (!strcmp(word, cmds[i].name))
                found = i;
        if (found < 0)
            return usage_error("unknown command '%s'", word);
        o->cmd = (enum cmd)found;
    }
    for (size_t i = 0; i < nused; i++)
        if (!(used[i].mask & M(o->cmd)))
            return usage_error("%s%s does not apply to '%s'",
                               used[i].name[0] == '-' ? "" : "--", used[i].name,
                               cmds[o->cmd].name);
    if (argc - optind < cmds[o->cmd].nargs)
        return usage_error("%s: missing %s", cmds[o->cmd].name, cmds[o->cmd].argname);
    if (argc - optind > cmds[o->cmd].nargs)
        return usage_error("%s: unexpected argument '%s'", cmds[o->cmd].name,
                           argv[optind + cmds[o->cmd].nargs]);
    if (cmds[o->cmd].nargs)
        o->arg = argv[optind];
    if (o->cmd == CMD_GET && !o->out)
        return usage_error("get: -o OUT is required");
    if (o->out && !*o->out)
        return usage_error("-o: expected a file name");
    if (o->cmd == CMD_SUBMIT) {
        struct stat sb;
        char perr[256];
        if (dcv_profile_check(&o->profile, perr, sizeof perr) < 0)
            return usage_error("%s", perr);
        if (o->out)
            o->wait = 1;
        if (is_url(o->arg)) {
            if (o->shared)
                return usage_error("submit: --shared is for files, not URLs");
            return 0; /* the coordinator checks the protocol */
        }
        if ((o->fd = open(o->arg, O_RDONLY | O_CLOEXEC)) < 0)
            return usage_error("submit: cannot open %s: %s", o->arg, strerror(errno));
        if (fstat(o->fd, &sb) < 0 || !S_ISREG(sb.st_mode))
            return usage_error("submit: %s is not a regular file", o->arg);
    }
    return 0;
}

/* ---- JSON helpers -------------------------------------------------------------- */

static json_object *jget(json_object *o, const char *key, json_type t)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
        return NULL;
    return v;
}

static const char *jstr(json_object *o, const char *key, const char *def)
{
    json_object *v = jget(o, key, json_type_string);
    return v ? json_object_get_string(v) : def;
}

static int64_t jint(json_object *o, const char *key, int64_t def)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return def;
    return json_object_get_int64(v);
}

static double jdbl(json_object *o, const char *key, double def)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return def;
    return json_object_get_double(v);
}

static int jbool(json_object *o, const char *key)
{
    json_object *v = jget(o, key, json_type_boolean);
    return v ? json_object_get_boolean(v) : 0;
}

/* ---- talking to the coordinator --------------------------------------------------- */

static void args_init(struct dcv_proto_args *a)
{
    memset(a, 0, sizeof *a);
    a->state = -1;
    a->prio_class = 1;
    a->blob.size = -1;
}

/* Load the configuration and the transport; work out the endpoint. Exit code. */
static int ctl_open(struct ctl *c)
{
    char err[1024];
    const char *v;
    int64_t n;
    int r;

    r = dcv_conf_load(&c->conf, c->o->config_path, c->o->config_explicit, err, sizeof err);
    if (r < 0) {
        errorf("configuration: %s", err);
        return EXIT_USAGE;
    }
    c->s = dcv_conf_settings(c->conf);
    snprintf(c->endpoint, sizeof c->endpoint, "%s", c->o->endpoint ? c->o->endpoint : c->s->admin);
    if (strncmp(c->endpoint, "ipc://", 6) != 0 && strncmp(c->endpoint, "tcp://", 6) != 0)
        return usage_error("--endpoint: expected ipc:///PATH or tcp://HOST:PORT, got '%s'",
                           c->endpoint);

    c->ac.timeout_ms = 5000;
    c->ac.tries = 3;
    if ((v = getenv("DISTCONV_CTL_TIMEOUT_MS")) && *v) {
        if (parse_int(v, 100, 600000, &n) < 0)
            return usage_error("DISTCONV_CTL_TIMEOUT_MS: expected milliseconds 100..600000, "
                               "got '%s'", v);
        c->ac.timeout_ms = (int)n;
    }
    if ((v = getenv("DISTCONV_CTL_TRIES")) && *v) {
        if (parse_int(v, 1, 100, &n) < 0)
            return usage_error("DISTCONV_CTL_TRIES: expected an integer 1..100, got '%s'", v);
        c->ac.tries = (int)n;
    }

    r = dcv_net_open(c->s->plugin_dir, c->s->transport[0] ? c->s->transport : "zmq", c->conf,
                     &c->net, err, sizeof err);
    if (r < 0) {
        errorf("transport: %s", err);
        return EXIT_UNREACHABLE;
    }
    /* Keys are read when a tcp socket first needs them: ipc needs none. */
    if (c->o->cmd != CMD_KEYGEN &&
        (r = dcv_net_secure(c->net, c->s, NULL, err, sizeof err)) < 0) {
        errorf("%s", err);
        return EXIT_USAGE;
    }
    c->ac.net = c->net;
    c->ac.endpoint = c->endpoint;
    c->ac.cancel = &g_cancel;
    return EXIT_OK;
}

static void ctl_close(struct ctl *c)
{
    dcv_net_close(&c->net);
    dcv_conf_free(&c->conf);
}

/*
 * One admin request. On EXIT_OK *body is the FINAL's parsed body (put it
 * with json_object_put) and *raw its text when raw is non-NULL (free()).
 * Anything else has been reported and is the exit code.
 */
static int call(struct ctl *c, int verb, const struct dcv_proto_args *args, const char *key,
                json_object **body, char **raw)
{
    struct dcv_proto_request req;
    struct dcv_proto_reply rep = {0};
    char err[1024];
    int r;

    memset(&req, 0, sizeof req);
    req.verb = verb;
    req.args = *args;
    if (key)
        snprintf(req.idempotency_key, sizeof req.idempotency_key, "%s", key);
    *body = NULL;
    if (raw)
        *raw = NULL;
    r = dcv_adminc_call(&c->ac, &req, &rep, err, sizeof err);
    if (r == -ECANCELED)
        return EXIT_INTERRUPTED;
    if (r == -EINVAL) {
        /* Our own codec refused what we built: an argument it judges (a
         * path too long, a name with '/') rather than a bug. */
        errorf("%s", err);
        return EXIT_USAGE;
    }
    if (r < 0) {
        errorf("%s", err);
        return EXIT_UNREACHABLE;
    }
    if (rep.status >= 400) {
        int code = rep.status == 404 ? EXIT_FAILED
                   : rep.status == 400 || rep.status == 403 ? EXIT_USAGE
                   : rep.status >= 500 ? EXIT_UNREACHABLE : EXIT_FAILED;
        if (rep.status >= 500)
            errorf("the coordinator at %s failed after %d tries: %s", c->endpoint, c->ac.tries,
                   rep.error);
        else
            errorf("%s", rep.error[0] ? rep.error : "request refused");
        dcv_proto_reply_clear(&rep);
        return code;
    }
    *body = json_tokener_parse(rep.body ? rep.body : "{}");
    if (!*body || !json_object_is_type(*body, json_type_object)) {
        json_object_put(*body);
        *body = NULL;
        errorf("the coordinator's reply body is not a JSON object");
        dcv_proto_reply_clear(&rep);
        return EXIT_FAILED;
    }
    if (raw) {
        *raw = strdup(rep.body ? rep.body : "{}");
        if (!*raw) {
            json_object_put(*body);
            *body = NULL;
            dcv_proto_reply_clear(&rep);
            errorf("out of memory");
            return EXIT_FAILED;
        }
    }
    dcv_proto_reply_clear(&rep);
    return EXIT_OK;
}

static void print_raw(const char *raw)
{
    fputs(raw, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* A JOB argument: 32 hex digits, or a unique prefix looked up in `jobs`. */
static int resolve_job(struct ctl *c, const char *arg, char id[DCV_PROTO_JOB_ID])
{
    size_t n = strlen(arg);
    char lower[DCV_PROTO_JOB_ID];
    struct dcv_proto_args a;
    json_object *body, *jobs;
    const char *match = NULL;
    size_t nmatch = 0;
    int r;

    if (n < 1 || n > 32 || strspn(arg, "0123456789abcdefABCDEF") != n)
        return usage_error("'%s' is not a job id (32 hex digits, or a prefix of one)", arg);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(arg[i] >= 'A' && arg[i] <= 'F' ? arg[i] - 'A' + 'a' : arg[i]);
    if (n == 32) {
        memcpy(id, lower, DCV_PROTO_JOB_ID);
        return EXIT_OK;
    }
    args_init(&a);
    a.limit = 10000;
    if ((r = call(c, DCV_VERB_JOBS, &a, NULL, &body, NULL)) != EXIT_OK)
        return r;
    jobs = jget(body, "jobs", json_type_array);
    for (size_t i = 0; jobs && i < json_object_array_length(jobs); i++) {
        const char *j = jstr(json_object_array_get_idx(jobs, i), "job_id", "");
        if (strncmp(j, lower, n) == 0) {
            match = j;
            nmatch++;
        }
    }
    if (nmatch == 1)
        snprintf(id, DCV_PROTO_JOB_ID, "%s", match);
    json_object_put(body);
    if (nmatch == 0) {
        errorf("no job id starts with '%s'", arg);
        return EXIT_FAILED;
    }
    if (nmatch > 1)
        return usage_error("'%s' is ambiguous: %zu jobs start with it", arg, nmatch);
    return EXIT_OK;
}

/* ---- data plane ---------------------------------------------------------------------- */

/* The data endpoint from `info`, as this client reaches it. */
static int data_endpoint(struct ctl *c, char *out, size_t len)
{
    struct dcv_proto_args a;
    json_object *body;
    const char *ep;
    int r;

    args_init(&a);
    if ((r = call(c, DCV_VERB_INFO, &a, NULL, &body, NULL)) != EXIT_OK)
        return r;
    ep = jstr(body, "data_endpoint", NULL);
    if (!ep || !strstr(ep, "://")) {
        json_object_put(body);
        errorf("the coordinator's info names no data endpoint");
        return EXIT_FAILED;
    }
    r = dcv_endpoint_for_peer(ep, c->endpoint, out, len);
    json_object_put(body);
    if (r < 0) {
        errorf("data endpoint too long");
        return EXIT_FAILED;
    }
    /* Reached over ipc there is no host to substitute for a wildcard:
     * the coordinator is on this machine. */
    if (!strncmp(out, "tcp://*:", 8) || !strncmp(out, "tcp://0.0.0.0:", 14)) {
        char tmp[DCV_ENDPOINT_MAX];
        snprintf(tmp, sizeof tmp, "tcp://127.0.0.1%s", strrchr(out, ':'));
        snprintf(out, len, "%s", tmp);
    }
    dcv_log(DCV_LOG_DEBUG, "ctl", "data endpoint %s", out);
    return EXIT_OK;
}

static void xcli_params(const struct ctl *c, struct dcv_xcli_params *p)
{
    memset(p, 0, sizeof *p);
    p->chunk_max = c->s->chunk_size > 0 ? (uint32_t)c->s->chunk_size : 0;
    p->credit_chunks = c->s->credit_chunks > 0 ? (uint32_t)c->s->credit_chunks : 0;
    p->cancel = &g_cancel;
}

/* Exit code for a failed transfer. */
static int xfer_failed(const char *what, const char *ep, int r, const char *err)
{
    if (r == -ECANCELED)
        return EXIT_INTERRUPTED;
    errorf("%s via %s: %s", what, ep, err);
    return r == -ETIMEDOUT ? EXIT_UNREACHABLE : EXIT_FAILED;
}

static void on_bytes(int64_t done, int64_t total, void *ud)
{
    dcv_progress_bytes(ud, done, total);
}

static int random_xfer_id(int64_t *out)
{
    uint64_t v = 0;
    char hex[17];
    int r = dcv_adminc_random_hex(hex, 8);
    if (r < 0)
        return r;
    v = strtoull(hex, NULL, 16) & (((uint64_t)1 << 53) - 1);
    *out = v ? (int64_t)v : 1;
    return 0;
}

/* SHA-256 of the open file, with progress (a large file takes a while). */
static int hash_file(int fd, int64_t size, char sha[DCV_PROTO_SHA], enum dcv_progress_style st)
{
    struct dcv_sha256 *h = NULL;
    struct dcv_progress_line pl;
    uint8_t digest[DCV_SHA256_LEN];
    size_t bufsz = 1 << 20;
    unsigned char *buf = malloc(bufsz);
    int64_t done = 0;
    int rc = EXIT_OK;

    if (!buf || dcv_sha256_new(&h) < 0) {
        free(buf);
        errorf("out of memory");
        return EXIT_FAILED;
    }
    dcv_progress_begin(&pl, st, "hash");
    for (;;) {
        ssize_t n = pread(fd, buf, bufsz, done);
        if (g_cancel) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errorf("read: %s", strerror(errno));
            rc = EXIT_FAILED;
            break;
        }
        if (n == 0)
            break;
        dcv_sha256_update(h, buf, (size_t)n);
        done += n;
        dcv_progress_bytes(&pl, done, size);
    }
    dcv_progress_end(&pl);
    if (rc == EXIT_OK && done != size) {
        errorf("the file changed size while it was read (%lld of %lld bytes)", (long long)done,
               (long long)size);
        rc = EXIT_FAILED;
    }
    if (rc == EXIT_OK) {
        dcv_sha256_final(h, digest);
        dcv_sha256_hex(digest, sha);
    }
    dcv_sha256_free(&h);
    free(buf);
    return rc;
}

/* Upload fd to the coordinator; fills blob (xfer_id, size, sha256). Retries a
 * timed-out transfer with the same xfer_id, which resumes where the
 * coordinator's durable bytes end. */
static int upload(struct ctl *c, int fd, struct dcv_proto_blob *blob)
{
    char ep[DCV_ENDPOINT_MAX], err[1024] = "";
    enum dcv_progress_style st = c->o->json ? DCV_PROGRESS_NONE : dcv_progress_style_auto(c->o->quiet);
    struct dcv_xcli_params p;
    int rc, r = -ETIMEDOUT;

    if ((rc = hash_file(fd, blob->size, blob->sha256, st)) != EXIT_OK)
        return rc;
    if ((rc = data_endpoint(c, ep, sizeof ep)) != EXIT_OK)
        return rc;
    if (random_xfer_id(&blob->xfer_id) < 0) {
        errorf("no random numbers");
        return EXIT_FAILED;
    }
    xcli_params(c, &p);
    for (int t = 1; t <= c->ac.tries && r == -ETIMEDOUT; t++) {
        struct dcv_xcli *x = NULL;
        struct dcv_progress_line pl;
        int abort_code = -1;

        r = dcv_xcli_open(c->net, ep, &p, &x, err, sizeof err);
        if (r < 0)
            break;
        dcv_progress_begin(&pl, st, "upload");
        r = dcv_xcli_send_file(x, DCV_PURPOSE_UPLOAD, NULL, fd, blob, on_bytes, &pl, &abort_code,
                               err, sizeof err);
        dcv_progress_end(&pl);
        dcv_xcli_close(&x);
        if (r == -ETIMEDOUT && t < c->ac.tries)
            dcv_log(DCV_LOG_WARN, "ctl", "upload try %d: %s; resuming", t, err);
    }
    if (r < 0)
        return xfer_failed("upload", ep, r, err);
    return EXIT_OK;
}

/*
 * Download a job's output (or input) to `out`: written to OUT.part and
 * renamed when the transfer is complete and its SHA-256 checked, so OUT is
 * either the whole verified file or untouched.
 */
static int download(struct ctl *c, const char *job_id, int what_input, const char *out)
{
    struct dcv_proto_args a;
    struct dcv_proto_blob blob;
    struct dcv_xcli_params p;
    struct dcv_xcli *x = NULL;
    struct dcv_progress_line pl;
    enum dcv_progress_style st = c->o->json ? DCV_PROGRESS_NONE : dcv_progress_style_auto(c->o->quiet);
    json_object *body;
    char ep[DCV_ENDPOINT_MAX], err[1024] = "", *part = NULL, *raw = NULL;
    int rc, r, fd, abort_code = -1;
    struct stat sb;

    if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return usage_error("-o %s: is a directory", out);
    args_init(&a);
    snprintf(a.job_id, sizeof a.job_id, "%s", job_id);
    a.what = what_input ? 1 : 0;
    if ((rc = call(c, DCV_VERB_GET, &a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    memset(&blob, 0, sizeof blob);
    blob.xfer_id = jint(body, "xfer_id", 0);
    blob.size = jint(body, "size", -1);
    snprintf(blob.sha256, sizeof blob.sha256, "%s", jstr(body, "sha256", ""));
    json_object_put(body);
    if (blob.xfer_id <= 0) {
        free(raw);
        errorf("the coordinator's get reply has no xfer_id");
        return EXIT_FAILED;
    }
    if ((rc = data_endpoint(c, ep, sizeof ep)) != EXIT_OK) {
        free(raw);
        return rc;
    }
    if (asprintf(&part, "%s.part", out) < 0) {
        free(raw);
        errorf("out of memory");
        return EXIT_FAILED;
    }
    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        errorf("cannot create %s: %s", part, strerror(errno));
        free(part);
        free(raw);
        return EXIT_FAILED;
    }
    xcli_params(c, &p);
    r = dcv_xcli_open(c->net, ep, &p, &x, err, sizeof err);
    if (r == 0) {
        dcv_progress_begin(&pl, st, "download");
        r = dcv_xcli_fetch_file(x, DCV_PURPOSE_DOWNLOAD, NULL, &blob, fd, on_bytes, &pl,
                                &abort_code, err, sizeof err);
        dcv_progress_end(&pl);
        dcv_xcli_close(&x);
    }
    if (close(fd) < 0 && r == 0)
        r = dcv_err(err, sizeof err, -errno, "close %s: %s", part, strerror(errno));
    if (r == 0 && rename(part, out) < 0)
        r = dcv_err(err, sizeof err, -errno, "rename %s to %s: %s", part, out, strerror(errno));
    if (r < 0) {
        unlink(part);
        free(part);
        free(raw);
        return xfer_failed("download", ep, r, err);
    }
    free(part);
    if (c->o->json && c->o->cmd == CMD_GET)
        print_raw(raw);
    else if (!c->o->quiet) {
        char sz[32];
        dcv_fmt_bytes(sz, sizeof sz, blob.size);
        fprintf(stderr, "wrote %s (%s, sha256 %.16s...)\n", out, sz, blob.sha256);
    }
    free(raw);
    return EXIT_OK;
}

/* ---- job display ----------------------------------------------------------------------- */

static void short_id(const char *id, char out[13])
{
    snprintf(out, 13, "%s", id);
}

/* "encode 42%" from a job's progress, "" when none. */
static void fmt_progress(json_object *job, char *buf, size_t len)
{
    json_object *p = jget(job, "progress", json_type_object);
    const char *state = jstr(job, "state", "");
    if (p) {
        double fps = jdbl(p, "fps", -1);
        int n = snprintf(buf, len, "%s %.0f%%", jstr(p, "phase", "?"), jdbl(p, "pct", 0));
        if (fps > 0 && n > 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, " %.0f fps", fps);
    } else if (!strcmp(state, "done"))
        snprintf(buf, len, "100%%");
    else
        snprintf(buf, len, "-");
}

static void print_kv(const char *k, const char *v)
{
    printf("%-10s %s\n", k, v);
}

static void print_job(json_object *job)
{
    char buf[1024], t1[32], t2[32];
    json_object *o, *arr;
    int64_t now = dcv_now_unix_ms();

    print_kv("job", jstr(job, "job_id", "?"));
    snprintf(buf, sizeof buf, "%s (attempt %lld of %lld)", jstr(job, "state", "?"),
             (long long)jint(job, "attempt", 0), (long long)jint(job, "max_attempts", 0));
    print_kv("state", buf);
    if (jstr(job, "name", NULL))
        print_kv("name", jstr(job, "name", ""));
    if (jint(job, "input_size", -1) >= 0) {
        dcv_fmt_bytes(buf, sizeof buf, jint(job, "input_size", -1));
        print_kv("input", buf);
    }
    snprintf(buf, sizeof buf, "%s %lld", jstr(job, "prio_class", "normal"),
             (long long)jint(job, "priority", 0));
    print_kv("priority", buf);
    if ((o = jget(job, "profile", json_type_object))) {
        size_t n = 0;
        buf[0] = '\0';
        json_object_object_foreach(o, k, v) {
            int w = snprintf(buf + n, sizeof buf - n, "%s%s=%s", n ? " " : "", k,
                             json_object_get_string(v));
            if (w < 0 || (size_t)w >= sizeof buf - n)
                break;
            n += (size_t)w;
        }
        print_kv("profile", n ? buf : "(defaults)");
    }
    if (jget(job, "progress", json_type_object)) {
        json_object *p = jget(job, "progress", json_type_object);
        int n;
        fmt_progress(job, buf, sizeof buf);
        n = (int)strlen(buf);
        if (jint(p, "frames", -1) >= 0)
            snprintf(buf + n, sizeof buf - (size_t)n, ", frame %lld",
                     (long long)jint(p, "frames", 0));
        print_kv("progress", buf);
    }
    if (jstr(job, "worker", NULL))
        print_kv("worker", jstr(job, "worker", ""));
    if ((o = jget(job, "encoder", json_type_object))) {
        snprintf(buf, sizeof buf, "%s %s on %s", jstr(o, "plugin", "?"), jstr(o, "encoder", "?"),
                 jstr(o, "device_id", "?"));
        print_kv("encoder", buf);
    }
    dcv_fmt_time(t1, sizeof t1, jint(job, "created_ms", 0));
    dcv_fmt_age(t2, sizeof t2, now - jint(job, "created_ms", now));
    snprintf(buf, sizeof buf, "%s (%s ago)", t1, t2);
    print_kv("created", buf);
    dcv_fmt_time(t1, sizeof t1, jint(job, "updated_ms", 0));
    print_kv("updated", t1);
    if (jstr(job, "error", NULL))
        print_kv("error", jstr(job, "error", ""));
    if (jstr(job, "outcome", NULL)) {
        int none = strcmp(jstr(job, "outcome", ""), "encoded") != 0;
        snprintf(buf, sizeof buf, "%s%s%s%s", jstr(job, "outcome", ""),
                 jstr(job, "note", NULL) ? ": " : "", jstr(job, "note", ""),
                 none ? " (no output: keep the original)" : "");
        print_kv("outcome", buf);
    }
    if ((o = jget(job, "output", json_type_object))) {
        char sz[32];
        dcv_fmt_bytes(sz, sizeof sz, jint(o, "size", -1));
        snprintf(buf, sizeof buf, "%s%s%s sha256 %s", jstr(o, "name", ""),
                 jstr(o, "name", "")[0] ? ", " : "", sz, jstr(o, "sha256", "?"));
        print_kv("output", buf);
    }
    if ((arr = jget(job, "attempts", json_type_array)) && json_object_array_length(arr)) {
        struct dcv_table t;
        static const char *const h[] = {"ATTEMPT", "WORKER", "STARTED", "ENDED", "OUTCOME",
                                        "ERROR"};
        printf("\nattempts:\n");
        if (dcv_table_init(&t, 6, h, 1) == 0) {
            for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *a = json_object_array_get_idx(arr, i);
                char n[24];
                const char *row[6];
                snprintf(n, sizeof n, "%lld", (long long)jint(a, "attempt", 0));
                dcv_fmt_time(t1, sizeof t1, jint(a, "started_ms", 0));
                dcv_fmt_time(t2, sizeof t2, jint(a, "ended_ms", 0));
                row[0] = n; row[1] = jstr(a, "worker", "-"); row[2] = t1; row[3] = t2;
                row[4] = jstr(a, "outcome", "-"); row[5] = jstr(a, "error", "");
                if (dcv_table_add(&t, row) < 0)
                    break;
            }
            dcv_table_print(&t, stdout);
            dcv_table_free(&t);
        }
    }
    if ((arr = jget(job, "history", json_type_array)) && json_object_array_length(arr)) {
        struct dcv_table t;
        static const char *const h[] = {"TIME", "FROM", "TO", "EVENT", "ATTEMPT", "NOTE"};
        printf("\nhistory:\n");
        if (dcv_table_init(&t, 6, h, 1u << 4) == 0) {
            for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                char n[24];
                const char *row[6];
                snprintf(n, sizeof n, "%lld", (long long)jint(e, "attempt", 0));
                dcv_fmt_time(t1, sizeof t1, jint(e, "time_ms", 0));
                row[0] = t1; row[1] = jstr(e, "from", "-"); row[2] = jstr(e, "to", "-");
                row[3] = jstr(e, "event", "-"); row[4] = n; row[5] = jstr(e, "note", "");
                if (dcv_table_add(&t, row) < 0)
                    break;
            }
            dcv_table_print(&t, stdout);
            dcv_table_free(&t);
        }
    }
}

/* A done job whose attempt produced no output (library rules): its
 * outcome ("skipped", "kept-original"), else NULL. */
static const char *no_output_outcome(json_object *job)
{
    const char *oc = jstr(job, "outcome", NULL);
    return oc && strcmp(oc, "encoded") != 0 ? oc : NULL;
}

/* Sleep about ms, returning early on a signal. */
static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (!g_cancel && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/*
 * Poll the job about once a second until it ends. mode 0: a progress bar
 * (terminal) or plain lines (submit --wait); mode 1: a line per change
 * (status --follow). --json prints each changed body as one line. Exit
 * code: 0 done, 1 failed/cancelled, else the call's.
 */
static int follow_job(struct ctl *c, const char *job_id, int lines)
{
    struct dcv_proto_args a;
    struct dcv_progress_line pl;
    enum dcv_progress_style st = c->o->json ? DCV_PROGRESS_NONE : dcv_progress_style_auto(c->o->quiet);
    char last[128] = "", last_state[32] = "";
    int rc;

    if (lines && st == DCV_PROGRESS_BAR)
        st = DCV_PROGRESS_PLAIN;
    args_init(&a);
    snprintf(a.job_id, sizeof a.job_id, "%s", job_id);
    dcv_progress_begin(&pl, st, "queued");
    for (;;) {
        json_object *job;
        char *raw = NULL, now[128], prog[96];
        const char *state;

        if ((rc = call(c, DCV_VERB_STATUS, &a, NULL, &job, &raw)) != EXIT_OK)
            break;
        state = jstr(job, "state", "?");
        fmt_progress(job, prog, sizeof prog);
        snprintf(now, sizeof now, "%s %s", state, prog);
        if (c->o->json && !lines && is_terminal(state))
            print_raw(raw); /* submit --wait --json: the job as it ended */
        if (strcmp(now, last) != 0) {
            if (c->o->json) {
                if (lines)
                    print_raw(raw);
            } else if (lines && !c->o->quiet) {
                char t[32];
                dcv_fmt_time(t, sizeof t, dcv_now_unix_ms());
                printf("%s  %-9s %s%s%s\n", strlen(t) > 11 ? t + 11 : t, state, prog,
                       jstr(job, "worker", NULL) ? "  on " : "", jstr(job, "worker", ""));
                fflush(stdout);
            } else if (st != DCV_PROGRESS_NONE) {
                json_object *p = jget(job, "progress", json_type_object);
                if (strcmp(state, last_state) != 0) {
                    /* A new phase of life gets a new line. */
                    dcv_progress_end(&pl);
                    dcv_progress_begin(&pl, st, state);
                    if (!p && !is_terminal(state))
                        dcv_progress_pct(&pl, -1, jstr(job, "worker", ""));
                }
                if (p) {
                    char note[64];
                    snprintf(note, sizeof note, "%s%s%s", jstr(p, "phase", ""),
                             jstr(job, "worker", NULL) ? " on " : "", jstr(job, "worker", ""));
                    dcv_progress_pct(&pl, jdbl(p, "pct", 0), note);
                }
            }
            snprintf(last, sizeof last, "%s", now);
            snprintf(last_state, sizeof last_state, "%s", state);
        }
        free(raw);
        if (is_terminal(state)) {
            dcv_progress_end(&pl);
            if (!strcmp(state, "done") && no_output_outcome(job)) {
                /* Said even with -q: it changes what the user does next. */
                if (!c->o->json)
                    fprintf(stderr, "job %s: done, %s: %s (no output: keep the original)\n",
                            job_id, no_output_outcome(job), jstr(job, "note", "-"));
                /* With -o the file asked for will not exist. */
                rc = !lines && c->o->out ? EXIT_NO_OUTPUT : EXIT_OK;
            } else if (!strcmp(state, "done")) {
                if (st != DCV_PROGRESS_NONE && !lines)
                    fprintf(stderr, "job %s: done\n", job_id);
                rc = EXIT_OK;
            } else {
                if (!c->o->json)
                    errorf("job %s %s%s%s", job_id, state, jstr(job, "error", NULL) ? ": " : "",
                           jstr(job, "error", ""));
                rc = EXIT_FAILED;
            }
            json_object_put(job);
            return rc;
        }
        {
            /* Poll faster when the end is near, so --wait returns within
             * ~0.1 s of the job finishing (what `bench/e2e` measures),
             * while a long queue wait costs the coordinator 2 requests/s. */
            json_object *p = jget(job, "progress", json_type_object);
            int soon = !strcmp(state, "assigned") || !strcmp(state, "verifying") ||
                       (p && jdbl(p, "pct", 0) >= 90);
            json_object_put(job);
            nap(soon ? 100 : 500);
        }
        if (g_cancel) {
            rc = EXIT_INTERRUPTED;
            break;
        }
    }
    dcv_progress_end(&pl);
    return rc;
}

/* ---- commands ------------------------------------------------------------------------ */

static int cmd_submit(struct ctl *c)
{
    struct opts *o = c->o;
    struct dcv_proto_args a;
    char key[DCV_PROTO_KEY], *raw = NULL;
    const char *profile, *base, *job_id;
    json_object *body;
    struct stat sb;
    int fd, rc, created;

    args_init(&a);
    fd = o->fd;
    o->fd = -1;
    if (fd < 0) { /* a URL (parse_args checked) */
        if (strlen(o->arg) >= sizeof a.path)
            return usage_error("submit: URL too long");
        a.input_kind = DCV_SUBMIT_URL;
        snprintf(a.path, sizeof a.path, "%s", o->arg);
        sb.st_size = 0;
    } else if (fstat(fd, &sb) < 0) {
        close(fd);
        errorf("%s: %s", o->arg, strerror(errno));
        return EXIT_FAILED;
    }
    base = strrchr(o->arg, '/') ? strrchr(o->arg, '/') + 1 : o->arg;
    if (fd >= 0) /* a URL's name is the coordinator's to derive */
        snprintf(a.name, sizeof a.name, "%s", base);

    profile = json_object_to_json_string_ext(o->profile_json, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!profile || strlen(profile) >= sizeof a.profile) {
        close(fd);
        return usage_error("submit: the encode options are too long");
    }
    snprintf(a.profile, sizeof a.profile, "%s", profile);
    a.has_input = 1;
    a.prio_class = o->prio_class;
    a.priority = o->priority;
    a.max_attempts = o->max_attempts;

    /* One key for every try of this run: a retried submit whose first try
     * did reach the coordinator finds the job instead of making a second. */
    if (o->idem_key)
        snprintf(key, sizeof key, "%s", o->idem_key);
    else if (dcv_adminc_random_hex(key, 16) < 0) {
        close(fd);
        errorf("no random numbers");
        return EXIT_FAILED;
    }

    if (fd < 0) {
        /* URL: nothing to upload */
    } else if (o->shared) {
        char real[PATH_MAX];
        close(fd);
        if (!realpath(o->arg, real))
            return usage_error("submit: %s: %s", o->arg, strerror(errno));
        if (strlen(real) >= sizeof a.path)
            return usage_error("submit: path too long: %s", real);
        a.input_kind = DCV_SUBMIT_PATH;
        snprintf(a.path, sizeof a.path, "%s", real);
    } else {
        a.input_kind = DCV_SUBMIT_UPLOAD;
        a.blob.size = (int64_t)sb.st_size;
        rc = upload(c, fd, &a.blob);
        close(fd);
        if (rc != EXIT_OK)
            return rc;
    }

    if ((rc = call(c, DCV_VERB_SUBMIT, &a, key, &body, &raw)) != EXIT_OK)
        return rc;
    job_id = jstr(body, "job_id", NULL);
    created = jbool(body, "created");
    if (!job_id || strlen(job_id) != 32) {
        json_object_put(body);
        free(raw);
        errorf("the coordinator's submit reply has no job_id");
        return EXIT_FAILED;
    }
    {
        char id[DCV_PROTO_JOB_ID];
        snprintf(id, sizeof id, "%s", job_id);
        json_object_put(body);
        if (o->json && !o->wait)
            print_raw(raw);
        else if (!o->json)
            printf("%s\n", id);
        fflush(stdout);
        free(raw);
        if (!created && !o->quiet)
            fprintf(stderr, "job %s already existed (same idempotency key)\n", id);
        if (!o->wait)
            return EXIT_OK;
        if ((rc = follow_job(c, id, 0)) != EXIT_OK || !o->out)
            return rc;
        return download(c, id, 0, o->out);
    }
}

static int cmd_status(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *job;
    char *raw;
    int rc;

    args_init(&a);
    if ((rc = resolve_job(c, c->o->arg, a.job_id)) != EXIT_OK)
        return rc;
    if (c->o->follow)
        return follow_job(c, a.job_id, 1);
    if ((rc = call(c, DCV_VERB_STATUS, &a, NULL, &job, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        print_raw(raw);
    else
        print_job(job);
    json_object_put(job);
    free(raw);
    return EXIT_OK;
}

static int cmd_jobs(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *body, *jobs;
    char *raw;
    int rc;
    size_t n;

    args_init(&a);
    a.state = c->o->state;
    a.limit = c->o->limit;
    if ((rc = call(c, DCV_VERB_JOBS, &a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json) {
        print_raw(raw);
        goto out;
    }
    jobs = jget(body, "jobs", json_type_array);
    n = jobs ? json_object_array_length(jobs) : 0;
    if (n == 0) {
        if (!c->o->quiet)
            printf("no jobs\n");
        goto out;
    }
    {
        static const char *const h[] = {"ID", "STATE", "PROGRESS", "WORKER", "NAME", "AGE"};
        struct dcv_table t;
        int64_t now = dcv_now_unix_ms();
        if (dcv_table_init(&t, 6, h, 0) < 0) {
            rc = EXIT_FAILED;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_object *j = json_object_array_get_idx(jobs, i);
            char id[13], prog[96], age[32];
            const char *row[6];
            short_id(jstr(j, "job_id", "?"), id);
            fmt_progress(j, prog, sizeof prog);
            dcv_fmt_age(age, sizeof age, now - jint(j, "created_ms", now));
            char state[64];
            snprintf(state, sizeof state, "%s%s%s%s", jstr(j, "state", "?"),
                     no_output_outcome(j) ? " (" : "", no_output_outcome(j) ? no_output_outcome(j) : "",
                     no_output_outcome(j) ? ")" : "");
            row[0] = id; row[1] = state; row[2] = prog;
            row[3] = jstr(j, "worker", "-"); row[4] = jstr(j, "name", "-"); row[5] = age;
            if (dcv_table_add(&t, row) < 0) {
                rc = EXIT_FAILED;
                break;
            }
        }
        dcv_table_print(&t, stdout);
        dcv_table_free(&t);
        if (jint(body, "total", (int64_t)n) > (int64_t)n && !c->o->quiet)
            printf("(%zu of %lld jobs; --limit shows more)\n", n,
                   (long long)jint(body, "total", 0));
    }
out:
    json_object_put(body);
    free(raw);
    return rc;
}

static int cmd_cancel_retry(struct ctl *c, int verb)
{
    struct dcv_proto_args a;
    json_object *job;
    char *raw;
    int rc;

    args_init(&a);
    if ((rc = resolve_job(c, c->o->arg, a.job_id)) != EXIT_OK)
        return rc;
    if ((rc = call(c, verb, &a, NULL, &job, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        print_raw(raw);
    else if (!c->o->quiet)
        printf("job %s: %s (attempt %lld of %lld)\n", a.job_id, jstr(job, "state", "?"),
               (long long)jint(job, "attempt", 0), (long long)jint(job, "max_attempts", 0));
    json_object_put(job);
    free(raw);
    return EXIT_OK;
}

static int cmd_get(struct ctl *c)
{
    char id[DCV_PROTO_JOB_ID];
    int rc;
    if ((rc = resolve_job(c, c->o->arg, id)) != EXIT_OK)
        return rc;
    if (!c->o->input) {
        /* A job done without output gets its own exit code (4) so a
         * script can tell "keep the original" from a failure. */
        struct dcv_proto_args a;
        json_object *job;
        args_init(&a);
        snprintf(a.job_id, sizeof a.job_id, "%s", id);
        if ((rc = call(c, DCV_VERB_STATUS, &a, NULL, &job, NULL)) != EXIT_OK)
            return rc;
        if (!strcmp(jstr(job, "state", ""), "done") && no_output_outcome(job)) {
            errorf("job %s has no output: %s: %s; keep the original file", id,
                   no_output_outcome(job), jstr(job, "note", "-"));
            json_object_put(job);
            return EXIT_NO_OUTPUT;
        }
        json_object_put(job);
    }
    return download(c, id, c->o->input, c->o->out);
}

/* "x264, nvenc x2" from a worker's devices. */
static void fmt_devices(json_object *w, char *buf, size_t len)
{
    json_object *devs = jget(w, "devices", json_type_array);
    size_t n = devs ? json_object_array_length(devs) : 0, o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = jstr(json_object_array_get_idx(devs, i), "plugin", "?");
        size_t count = 0, seen = 0;
        for (size_t j = 0; j < n; j++) {
            const char *q = jstr(json_object_array_get_idx(devs, j), "plugin", "?");
            if (!strcmp(p, q)) {
                count++;
                if (j < i)
                    seen = 1;
            }
        }
        if (seen)
            continue;
        {
            int w2 = count > 1 ? snprintf(buf + o, len - o, "%s%s x%zu", o ? ", " : "", p, count)
                               : snprintf(buf + o, len - o, "%s%s", o ? ", " : "", p);
            if (w2 < 0 || (size_t)w2 >= len - o)
                break;
            o += (size_t)w2;
        }
    }
    if (!buf[0])
        snprintf(buf, len, "-");
}

static void fmt_worker_state(json_object *w, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", jstr(w, "state", "?"), jbool(w, "draining") ? ",draining" : "",
             jbool(w, "busy") ? ",busy" : "");
}

/* A figure or "-" when the worker did not report it (left out = unknown). */
static void fmt_opt(char *buf, size_t len, json_object *o, const char *key, int decimals,
                    const char *unit)
{
    if (jget(o, key, json_type_double) || jget(o, key, json_type_int))
        snprintf(buf, len, "%.*f%s", decimals, jdbl(o, key, 0), unit);
    else
        snprintf(buf, len, "-");
}

/* "GPU-8f.. (NVIDIA GeForce RTX 4070, 0000:01:00.0): util 12%, enc 30%,
 * dec 0%, mem 1.0 GiB of 8.0 GiB, 61 C, 75 W, 2 encoder sessions" */
static void fmt_gpu(json_object *g, char *buf, size_t len)
{
    char u[16], e[16], d[16], t[16], p[16], n[16], mu[32], mt[32];
    fmt_opt(u, sizeof u, g, "util_pct", 0, "%");
    fmt_opt(e, sizeof e, g, "enc_pct", 0, "%");
    fmt_opt(d, sizeof d, g, "dec_pct", 0, "%");
    fmt_opt(t, sizeof t, g, "temp_c", 0, " C");
    fmt_opt(p, sizeof p, g, "power_w", 0, " W");
    fmt_opt(n, sizeof n, g, "enc_sessions", 0, "");
    dcv_fmt_bytes(mu, sizeof mu, jint(g, "mem_used", -1));
    dcv_fmt_bytes(mt, sizeof mt, jint(g, "mem_total", -1));
    snprintf(buf, len,
             "%s (%s%s%s): util %s, enc %s, dec %s, mem %s of %s, %s, %s, %s encoder sessions",
             jstr(g, "id", "?"), jstr(g, "name", "?"), jget(g, "pci", json_type_string) ? ", " : "",
             jstr(g, "pci", ""), u, e, d, mu, mt, t, p, n);
}

static int cmd_workers(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *body, *ws;
    char *raw;
    int rc;
    size_t n;

    args_init(&a);
    if ((rc = call(c, DCV_VERB_WORKERS, &a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json) {
        print_raw(raw);
        goto out;
    }
    ws = jget(body, "workers", json_type_array);
    n = ws ? json_object_array_length(ws) : 0;
    if (n == 0) {
        if (!c->o->quiet)
            printf("no workers\n");
        goto out;
    }
    {
        static const char *const h[] = {"ID", "STATE", "SLOTS", "CPU", "DISK FREE", "JOBS",
                                        "DEVICES"};
        struct dcv_table t;
        if (dcv_table_init(&t, 7, h, (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5)) < 0) {
            rc = EXIT_FAILED;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_object *w = json_object_array_get_idx(ws, i);
            json_object *tel = jget(w, "telemetry", json_type_object);
            json_object *jobs = jget(w, "jobs", json_type_array);
            char st[64], slots[32], cpu[16], disk[32], nj[16], devs[256];
            const char *row[7];
            fmt_worker_state(w, st, sizeof st);
            snprintf(slots, sizeof slots, "%lld/%lld", (long long)jint(w, "slots_used", 0),
                     (long long)jint(w, "slots", 0));
            if (tel)
                snprintf(cpu, sizeof cpu, "%.0f%%", jdbl(tel, "cpu_pct", 0));
            else
                snprintf(cpu, sizeof cpu, "-");
            dcv_fmt_bytes(disk, sizeof disk, tel ? jint(tel, "disk_free", -1) : -1);
            snprintf(nj, sizeof nj, "%zu", jobs ? json_object_array_length(jobs) : 0);
            fmt_devices(w, devs, sizeof devs);
            row[0] = jstr(w, "worker_id", "?"); row[1] = st; row[2] = slots; row[3] = cpu;
            row[4] = disk; row[5] = nj; row[6] = devs;
            if (dcv_table_add(&t, row) < 0) {
                rc = EXIT_FAILED;
                break;
            }
        }
        dcv_table_print(&t, stdout);
        dcv_table_free(&t);
        /* Below the table: why a worker is busy, and its GPUs (NVML). */
        for (size_t i = 0; i < n; i++) {
            json_object *w = json_object_array_get_idx(ws, i);
            json_object *tel = jget(w, "telemetry", json_type_object);
            json_object *gpus = tel ? jget(tel, "gpus", json_type_array) : NULL;
            char line[1024];
            if (jbool(w, "busy"))
                printf("%s busy: %s\n", jstr(w, "worker_id", "?"), jstr(w, "busy_reason", "-"));
            for (size_t k = 0; gpus && k < json_object_array_length(gpus); k++) {
                fmt_gpu(json_object_array_get_idx(gpus, k), line, sizeof line);
                printf("%s %s\n", jstr(w, "worker_id", "?"), line);
            }
        }
    }
out:
    json_object_put(body);
    free(raw);
    return rc;
}

static void print_worker(json_object *w)
{
    json_object *tel = jget(w, "telemetry", json_type_object), *arr;
    char buf[512], a[32], b[32];
    int64_t now = dcv_now_unix_ms();

    print_kv("worker", jstr(w, "worker_id", "?"));
    fmt_worker_state(w, buf, sizeof buf);
    print_kv("state", buf);
    snprintf(buf, sizeof buf, "%s%s%s%s", jstr(w, "hostname", ""),
             jstr(w, "hostname", "")[0] ? " " : "", jstr(w, "host", "")[0] ? "host " : "",
             jstr(w, "host", ""));
    print_kv("host", buf);
    print_kv("version", jstr(w, "version", "-"));
    print_kv("session", jstr(w, "session", "-"));
    snprintf(buf, sizeof buf, "%lld used of %lld", (long long)jint(w, "slots_used", 0),
             (long long)jint(w, "slots", 0));
    print_kv("slots", buf);
    dcv_fmt_time(a, sizeof a, jint(w, "last_seen_ms", 0));
    dcv_fmt_age(b, sizeof b, now - jint(w, "last_seen_ms", now));
    snprintf(buf, sizeof buf, "%s (%s ago)", a, b);
    print_kv("last seen", buf);
    if (jbool(w, "busy"))
        print_kv("busy", jstr(w, "busy_reason", "-"));
    if (tel) {
        json_object *o;
        char c5[16], c15[16], tc[16];
        fmt_opt(c5, sizeof c5, tel, "load5", 2, "");
        fmt_opt(c15, sizeof c15, tel, "load15", 2, "");
        fmt_opt(tc, sizeof tc, tel, "temp_c", 0, " C");
        snprintf(buf, sizeof buf, "%.0f%% of %lld CPUs, load %.2f %s %s, %s",
                 jdbl(tel, "cpu_pct", 0), (long long)jint(tel, "ncpu", 0), jdbl(tel, "load1", 0),
                 c5, c15, tc);
        print_kv("cpu", buf);
        if ((o = jget(tel, "cores", json_type_array))) {
            size_t k, off = 0;
            buf[0] = '\0';
            for (k = 0; k < json_object_array_length(o) && off + 8 < sizeof buf; k++) {
                double v = json_object_get_double(json_object_array_get_idx(o, k));
                int w2 = v < 0 ? snprintf(buf + off, sizeof buf - off, "%s-", k ? " " : "")
                               : snprintf(buf + off, sizeof buf - off, "%s%.0f", k ? " " : "", v);
                if (w2 < 0)
                    break;
                off += (size_t)w2;
            }
            print_kv("cores %", buf);
        }
        dcv_fmt_bytes(a, sizeof a, jint(tel, "mem_avail", -1));
        dcv_fmt_bytes(b, sizeof b, jint(tel, "mem_total", -1));
        snprintf(buf, sizeof buf, "%s available of %s", a, b);
        print_kv("memory", buf);
        if (jget(tel, "swap_total", json_type_int)) {
            dcv_fmt_bytes(a, sizeof a, jint(tel, "swap_free", -1));
            dcv_fmt_bytes(b, sizeof b, jint(tel, "swap_total", -1));
            snprintf(buf, sizeof buf, "%s free of %s", a, b);
            print_kv("swap", buf);
        }
        if ((o = jget(tel, "psi", json_type_object))) {
            snprintf(buf, sizeof buf, "cpu %.1f%%, memory %.1f%% (full %.1f%%), io %.1f%% "
                     "(full %.1f%%), avg10", jdbl(o, "cpu_some", 0), jdbl(o, "mem_some", 0),
                     jdbl(o, "mem_full", 0), jdbl(o, "io_some", 0), jdbl(o, "io_full", 0));
            print_kv("pressure", buf);
        }
        dcv_fmt_bytes(a, sizeof a, jint(tel, "disk_free", -1));
        dcv_fmt_bytes(b, sizeof b, jint(tel, "disk_total", -1));
        snprintf(buf, sizeof buf, "%s free of %s", a, b);
        print_kv("disk", buf);
        if (jget(tel, "net_rx_bps", json_type_double) || jget(tel, "net_rx_bps", json_type_int)) {
            dcv_fmt_bytes(a, sizeof a, (int64_t)jdbl(tel, "net_rx_bps", 0));
            dcv_fmt_bytes(b, sizeof b, (int64_t)jdbl(tel, "net_tx_bps", 0));
            snprintf(buf, sizeof buf, "in %s/s, out %s/s", a, b);
            print_kv("network", buf);
        }
        if ((o = jget(tel, "gpus", json_type_array)))
            for (size_t k = 0; k < json_object_array_length(o); k++) {
                fmt_gpu(json_object_array_get_idx(o, k), buf, sizeof buf);
                print_kv(k ? "" : "gpus", buf);
            }
    }
    if ((arr = jget(w, "jobs", json_type_array))) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *j = json_object_array_get_idx(arr, i);
            snprintf(buf, sizeof buf, "%s attempt %lld, %.0f%%", jstr(j, "job_id", "?"),
                     (long long)jint(j, "attempt", 0), jdbl(j, "progress", 0));
            print_kv(i ? "" : "jobs", buf);
        }
    }
    if ((arr = jget(w, "devices", json_type_array))) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *d = json_object_array_get_idx(arr, i), *codecs;
            size_t o;
            o = (size_t)snprintf(buf, sizeof buf, "%s: %s (%s%s)", jstr(d, "plugin", "?"),
                                 jstr(d, "name", jstr(d, "device_id", "?")),
                                 jbool(d, "hardware") ? "hardware" : "software",
                                 jget(d, "available", json_type_boolean) && !jbool(d, "available")
                                     ? ", unavailable" : "");
            if (o >= sizeof buf)
                o = sizeof buf - 1;
            if ((codecs = jget(d, "codecs", json_type_array))) {
                for (size_t k = 0; k < json_object_array_length(codecs) && o < sizeof buf; k++) {
                    json_object *cd = json_object_array_get_idx(codecs, k);
                    /* worker: whole capability objects; workers: names */
                    const char *name = json_object_is_type(cd, json_type_string)
                                           ? json_object_get_string(cd)
                                           : jstr(cd, "codec", jstr(cd, "name", "?"));
                    int w2 = snprintf(buf + o, sizeof buf - o, "%s%s", k ? ", " : " ", name);
                    if (w2 < 0)
                        break;
                    o += (size_t)w2;
                }
            }
            print_kv(i ? "" : "devices", buf);
        }
    }
    if ((arr = jget(w, "plugins", json_type_array))) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *p = json_object_array_get_idx(arr, i);
            snprintf(buf, sizeof buf, "%s %s (ABI minor %lld)", jstr(p, "name", "?"),
                     jstr(p, "version", "?"), (long long)jint(p, "abi_minor", 0));
            print_kv(i ? "" : "plugins", buf);
        }
    }
}

static int cmd_worker(struct ctl *c, int verb)
{
    struct dcv_proto_args a;
    json_object *w;
    char *raw;
    int rc;

    args_init(&a);
    if (strlen(c->o->arg) >= sizeof a.worker_id)
        return usage_error("'%s' is not a worker id", c->o->arg);
    snprintf(a.worker_id, sizeof a.worker_id, "%s", c->o->arg);
    if ((rc = call(c, verb, &a, NULL, &w, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        print_raw(raw);
    else if (verb == DCV_VERB_WORKER)
        print_worker(w);
    else if (!c->o->quiet) {
        const char *what;
        if (verb == DCV_VERB_DRAIN)
            what = "draining (finishes its jobs, takes no new ones)";
        else if (!jbool(w, "draining"))
            what = "taking jobs";
        else /* the coordinator reports the worker's own state until it confirms */
            what = "undrained: taking jobs again once it confirms (next heartbeat)";
        printf("worker %s: %s\n", jstr(w, "worker_id", c->o->arg), what);
    }
    json_object_put(w);
    free(raw);
    return EXIT_OK;
}

/* A key pair through the transport plugin (the CLI never links libzmq). */
static int cmd_keygen(struct ctl *c)
{
    char pub[DCV_TX_KEY_LEN + 1], sec[DCV_TX_KEY_LEN + 1], err[1024];
    const char *name = c->o->key_name ? c->o->key_name : c->s->name;
    const char *dir = c->o->key_dir ? c->o->key_dir : ".";
    int r;

    if (!dcv_auth_valid_name(name)) {
        errorf("keygen: the host name '%s' is not a valid key name: give --name", name);
        return EXIT_USAGE;
    }
    if ((r = dcv_net_keypair(c->net, pub, sec, err, sizeof err)) < 0) {
        errorf("keygen: %s", err);
        return EXIT_FAILED;
    }
    r = dcv_auth_write_keys(dir, name, pub, sec, err, sizeof err);
    memset(sec, 0, sizeof sec);
    if (r < 0) {
        errorf("keygen: %s", err);
        return r == -EEXIST ? EXIT_USAGE : EXIT_FAILED;
    }
    if (c->o->json) {
        json_object *j = json_object_new_object();
        char buf[4200];
        json_object_object_add(j, "name", json_object_new_string(name));
        snprintf(buf, sizeof buf, "%s/%s.key", dir, name);
        json_object_object_add(j, "secret_key_file", json_object_new_string(buf));
        snprintf(buf, sizeof buf, "%s/%s.pub", dir, name);
        json_object_object_add(j, "public_key_file", json_object_new_string(buf));
        json_object_object_add(j, "public_key", json_object_new_string(pub));
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
    } else {
        printf("%s\n", pub);
        if (!c->o->quiet)
            fprintf(stderr, "wrote %s/%s.key (secret, mode 0600) and %s/%s.pub; enroll the .pub "
                    "file in the coordinator's workers.d/ or admins.d/ and send it SIGHUP\n",
                    dir, name, dir, name);
    }
    return EXIT_OK;
}

static int cmd_info(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *b;
    char *raw;
    int rc;

    args_init(&a);
    if ((rc = call(c, DCV_VERB_INFO, &a, NULL, &b, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        print_raw(raw);
    else {
        print_kv("admin", c->endpoint);
        print_kv("data", jstr(b, "data_endpoint", "-"));
        print_kv("version", jstr(b, "version", "-"));
        print_kv("epoch", jstr(b, "coordinator_epoch", "-"));
    }
    json_object_put(b);
    free(raw);
    return EXIT_OK;
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct opts o;
    struct ctl c;
    struct sigaction sa;
    int rc;

    memset(&o, 0, sizeof o);
    memset(&c, 0, sizeof c);
    o.fd = -1;
    if (!(o.profile_json = json_object_new_object())) {
        errorf("out of memory");
        return EXIT_FAILED;
    }
    rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        if (o.fd >= 0)
            close(o.fd);
        json_object_put(o.profile_json);
        return rc == 1 ? EXIT_OK : rc;
    }
    dcv_log_setup(o.quiet ? DCV_LOG_ERROR : o.verbose ? DCV_LOG_DEBUG : DCV_LOG_WARN,
                  DCV_LOG_TEXT, DCV_LOG_STDERR, PROG);

    /* No SA_RESTART: a signal must interrupt the poll()s so waits notice. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    c.o = &o;
    rc = ctl_open(&c);
    if (rc == EXIT_OK) {
        switch (o.cmd) {
        case CMD_SUBMIT: rc = cmd_submit(&c); break;
        case CMD_STATUS: rc = cmd_status(&c); break;
        case CMD_JOBS: rc = cmd_jobs(&c); break;
        case CMD_CANCEL: rc = cmd_cancel_retry(&c, DCV_VERB_CANCEL); break;
        case CMD_RETRY: rc = cmd_cancel_retry(&c, DCV_VERB_RETRY); break;
        case CMD_GET: rc = cmd_get(&c); break;
        case CMD_WORKERS: rc = cmd_workers(&c); break;
        case CMD_WORKER: rc = cmd_worker(&c, DCV_VERB_WORKER); break;
        case CMD_DRAIN: rc = cmd_worker(&c, DCV_VERB_DRAIN); break;
        case CMD_UNDRAIN: rc = cmd_worker(&c, DCV_VERB_UNDRAIN); break;
        case CMD_INFO: rc = cmd_info(&c); break;
        case CMD_KEYGEN: rc = cmd_keygen(&c); break;
        default: rc = EXIT_USAGE; break;
        }
    }
    if (rc == EXIT_INTERRUPTED)
        errorf("interrupted");
    if (o.fd >= 0)
        close(o.fd);
    ctl_close(&c);
    json_object_put(o.profile_json);
    return rc;
}
