/*
 * distconvctl: the operator and submission CLI. Speaks the admin plane
 * (docs/protocol.md §8) to the coordinator through the transport plugin
 * (core/net.h: this program never links libzmq) and the data plane (§7) for
 * uploads and downloads (core/xfer/client.h). This file is the command
 * line and the commands; cli/ctl.h names the other parts.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "build-config.h"
#include "auth.h"
#include "coordinator/jobstate.h"
#include "ctl.h"
#include "log.h"
#include "ui.h"

volatile sig_atomic_t g_cancel;

static void on_signal(int sig)
{
    g_cancel = sig;
}

static const struct {
    const char *name;
    int nargs;           /* positional arguments (rm: at least) */
    const char *argname; /* for the usage message */
} cmds[CMD_COUNT] = {
    [CMD_SUBMIT] = {"submit", 1, "FILE"},   [CMD_STATUS] = {"status", 1, "JOB"},
    [CMD_JOBS] = {"jobs", 0, NULL},         [CMD_CANCEL] = {"cancel", 1, "JOB"},
    [CMD_RETRY] = {"retry", 1, "JOB"},      [CMD_GET] = {"get", 1, "JOB"},
    [CMD_WORKERS] = {"workers", 0, NULL},   [CMD_WORKER] = {"worker", 1, "WORKER"},
    [CMD_DRAIN] = {"drain", 1, "WORKER"},   [CMD_UNDRAIN] = {"undrain", 1, "WORKER"},
    [CMD_INFO] = {"info", 0, NULL},         [CMD_KEYGEN] = {"keygen", 0, NULL},
    [CMD_RM] = {"rm", 1, "JOB"},            [CMD_PURGE] = {"purge", 0, NULL},
    [CMD_TOKEN] = {"token", 1, "create|list|revoke"},
};

/* Options and the commands they apply to (a mask of 1 << enum cmd). */
enum {
    OPT_JSON = 1000, OPT_PRIORITY, OPT_MAX_ATTEMPTS, OPT_IDEM, OPT_SHARED, OPT_WAIT,
    OPT_FOLLOW, OPT_STATE, OPT_LIMIT, OPT_OFFSET, OPT_INPUT, OPT_NAME, OPT_DIR,
    OPT_DONE_BEFORE, OPT_DRY_RUN, OPT_ROLE,
    OPT_PROFILE, /* every profile option maps here, name looked up by index */
};

#define M(c) (1u << (c))
#define M_ALL ((1u << CMD_COUNT) - 1)

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
"    distconvctl [GLOBAL OPTIONS] jobs [--state STATE] [--limit N] [--offset N]\n"
"    distconvctl [GLOBAL OPTIONS] cancel JOB | retry JOB\n"
"    distconvctl [GLOBAL OPTIONS] get JOB -o OUT [--input]\n"
"    distconvctl [GLOBAL OPTIONS] workers | worker ID | drain ID | undrain ID\n"
"    distconvctl [GLOBAL OPTIONS] info | rm JOB... | purge --done-before WHEN [--dry-run]\n"
"    distconvctl [GLOBAL OPTIONS] keygen [--name NAME] [--dir DIR]\n"
"    distconvctl [GLOBAL OPTIONS] token create --name NAME --role ROLE | token list |\n"
"                token revoke NAME\n"
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
"        -o OUT           wait, then download the output to OUT (implies --wait); its\n"
"                         name gives the container (.mkv, .mp4/.m4v, .ts) unless\n"
"                         --container does (they must agree); checked before upload\n"
"    status JOB           the job, its attempts and history\n"
"        --follow         poll about once a second, print each state or progress\n"
"                         change until the job ends (exit 0 done, 1 failed/cancelled)\n"
"    jobs                 table of jobs, newest first\n"
"        --state STATE    queued, assigned, running, verifying, done, failed, cancelled\n"
"        --limit N        at most N jobs (1..10000, default 100)\n"
"        --offset N       skip the N newest first: the next page (default 0)\n"
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
"    info                 the coordinator's version and data endpoint; for operators its\n"
"                         blob usage, retention settings and free disk\n"
"    rm JOB...            remove ended jobs: records, outputs, inputs no other job names\n"
"    purge                remove the jobs that ended before WHEN (operators)\n"
"        --done-before WHEN  a duration (7d, 12h: ended longer ago) or a date\n"
"                         YYYY-MM-DD[THH:MM[:SS]] in local time (Z: UTC)\n"
"        --dry-run        list what would go and the bytes, remove nothing\n"
"    keygen               make a CURVE key pair: NAME.key (secret, mode 0600) and\n"
"                         NAME.pub; enroll NAME.pub on the coordinator (workers.d/\n"
"                         or admins.d/, then SIGHUP); see docs/security.md\n"
"        --name NAME      the key's name (default: `name` of the configuration,\n"
"                         the host name)\n"
"        --dir DIR        where to write them (default: the current directory)\n"
"    token create         make an HTTP API token (operators; docs/api.md); prints its\n"
"                         secret once: the coordinator keeps only its hash\n"
"        --name NAME      the token's name (letters, digits, '.', '_', '-')\n"
"        --role ROLE      viewer (reads everything), submitter (submits; sees its\n"
"                         own jobs) or operator (everything)\n"
"    token list           the tokens: name, role, created, last used (no secrets)\n"
"    token revoke NAME    the token and its dashboard sessions stop working now\n"
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

/* ---- argument parsing --------------------------------------------------------- */

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

/* done, failed or cancelled: the admin plane's names are jobstate.c's. */
static int state_index(const char *s)
{
    enum dcv_job_state st;
    return dcv_job_state_wire_parse(s, &st) == 0 ? (int)st : -1;
}

static int is_terminal(const char *state)
{
    int s = state_index(state);
    return s >= 0 && dcv_job_state_is_terminal((enum dcv_job_state)s);
}

/* The container a file name says (".mp4" -> "mp4"), or NULL. */
static const char *container_of_name(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? dcv_profile_container_of(dot + 1) : NULL;
}

/*
 * submit -o OUT, checked before anything is uploaded or encoded: the
 * container comes from OUT's name unless --container says it (a mismatch is
 * refused: `-o x.mp4` must not write Matroska), and OUT's directory must be
 * there and writable (else the error came only after the whole encode).
 */
static int check_submit_out(struct opts *o)
{
    const char *named = container_of_name(o->out), *given = NULL;
    char dir[PATH_MAX], perr[256];
    json_object *v;
    struct stat sb;

    if (json_object_object_get_ex(o->profile_json, "container", &v))
        given = json_object_get_string(v);
    if (given && named && strcmp(given, named) != 0)
        return ctl_usage_error("-o %s: the name says %s but --container %s writes %s: rename "
                               "the output or drop --container", o->out, named, given, given);
    if (!given && !named)
        return ctl_usage_error("-o %s: cannot tell the container from the name: name it .mkv, "
                               ".mp4 or .ts, or give --container mkv|mp4|ts", o->out);
    if (!given) {
        if (dcv_profile_set(&o->profile, "container", named, perr, sizeof perr) < 0 ||
            json_object_object_add(o->profile_json, "container", json_object_new_string(named)) < 0)
            return ctl_usage_error("-o %s: %s", o->out, perr);
    }
    if (strlen(o->out) >= sizeof dir)
        return ctl_usage_error("-o: name too long");
    snprintf(dir, sizeof dir, "%s", o->out);
    {
        char *slash = strrchr(dir, '/');
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
    }
    if (stat(dir, &sb) < 0)
        return ctl_usage_error("-o %s: directory %s: %s", o->out, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ctl_usage_error("-o %s: %s is not a directory", o->out, dir);
    if (access(dir, W_OK) < 0)
        return ctl_usage_error("-o %s: cannot write in %s: %s", o->out, dir, strerror(errno));
    if (stat(o->out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ctl_usage_error("-o %s: is a directory", o->out);
    return 0;
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
        {"offset", required_argument, NULL, OPT_OFFSET},
        {"input", no_argument, NULL, OPT_INPUT},
        {"name", required_argument, NULL, OPT_NAME},
        {"dir", required_argument, NULL, OPT_DIR},
        {"role", required_argument, NULL, OPT_ROLE},
        {"done-before", required_argument, NULL, OPT_DONE_BEFORE},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    };
    struct option longopts[sizeof(base) / sizeof(base[0]) + DCV_PROFILE_OPTS_MAX + 1];
    size_t nb = sizeof(base) / sizeof(base[0]), np = 0;
    const char *pname;
    unsigned pflags;
    /* Which commands each option applies to, checked once the command is known. */
    struct used_opt { const char *name; unsigned mask; } used[64];
    size_t nused = 0;

    /* Every profile option, the jobs-only ones included; the booleans may
     * come without a value. */
    memcpy(longopts, base, sizeof(base));
    for (size_t i = 0; (pname = dcv_profile_option(i, &pflags)); i++)
        longopts[nb + np++] = (struct option){pname,
                                              pflags & DCV_PROFILE_OPT_BOOL ? optional_argument
                                                                            : required_argument,
                                              NULL, OPT_PROFILE + (int)i};
    longopts[nb + np] = (struct option){0};

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
        if (c >= OPT_PROFILE && c < OPT_PROFILE + DCV_PROFILE_OPTS_MAX) {
            json_object *v;
            pname = dcv_profile_option((size_t)(c - OPT_PROFILE), &pflags);
            if (!optarg && (pflags & DCV_PROFILE_OPT_BOOL))
                optarg = "true"; /* --skip-if-target-met alone */
            if (dcv_profile_set(&o->profile, pname, optarg, err, sizeof err) < 0)
                return ctl_usage_error("%s", err);
            /* The wire carries what the user typed (the worker applies it
             * with the same dcv_profile_set); a repeated option replaces. */
            if (!(v = json_object_new_string(optarg)) ||
                json_object_object_add(o->profile_json, pname, v) < 0) {
                json_object_put(v);
                ctl_errorf("out of memory");
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
                else if (ctl_parse_int(optarg, -1000, 1000, &o->priority) < 0)
                    return ctl_usage_error("--priority: expected low, normal, high or an integer "
                                           "-1000..1000, got '%s'", optarg);
                break;
            case OPT_MAX_ATTEMPTS:
                mask = M(CMD_SUBMIT);
                if (ctl_parse_int(optarg, 1, 100, &o->max_attempts) < 0)
                    return ctl_usage_error("--max-attempts: expected an integer 1..100, got '%s'",
                                           optarg);
                break;
            case OPT_IDEM:
                mask = M(CMD_SUBMIT);
                if (!valid_key(optarg))
                    return ctl_usage_error("--idempotency-key: expected 1..128 printable ASCII "
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
                    return ctl_usage_error("--state: expected queued, assigned, running, "
                                           "verifying, done, failed or cancelled, got '%s'",
                                           optarg);
                break;
            case OPT_LIMIT:
                mask = M(CMD_JOBS);
                if (ctl_parse_int(optarg, 1, 10000, &o->limit) < 0)
                    return ctl_usage_error("--limit: expected an integer 1..10000, got '%s'",
                                           optarg);
                break;
            case OPT_OFFSET:
                mask = M(CMD_JOBS);
                if (ctl_parse_int(optarg, 0, INT32_MAX, &o->offset) < 0)
                    return ctl_usage_error("--offset: expected an integer 0..%d, got '%s'",
                                           INT32_MAX, optarg);
                break;
            case OPT_INPUT: mask = M(CMD_GET); o->input = 1; break;
            case OPT_NAME:
                mask = M(CMD_KEYGEN) | M(CMD_TOKEN);
                if (!dcv_auth_valid_name(optarg))
                    return ctl_usage_error("--name: expected 1..63 letters, digits, '.', '_' or "
                                           "'-' (not starting with '.' or '-'), got '%s'",
                                           optarg);
                o->key_name = optarg;
                break;
            case OPT_DIR: mask = M(CMD_KEYGEN); o->key_dir = optarg; break;
            case OPT_ROLE:
                mask = M(CMD_TOKEN);
                if (strcmp(optarg, "viewer") && strcmp(optarg, "submitter") &&
                    strcmp(optarg, "operator"))
                    return ctl_usage_error("--role: expected viewer, submitter or operator, "
                                           "got '%s'", optarg);
                o->role = optarg;
                break;
            case OPT_DONE_BEFORE: mask = M(CMD_PURGE); o->done_before = optarg; break;
            case OPT_DRY_RUN: mask = M(CMD_PURGE); o->dry_run = 1; break;
            case ':':
                if (optopt > 0 && optopt < 256)
                    return ctl_usage_error("-%c: missing argument", optopt);
                return ctl_usage_error("%s: missing argument", argv[optind - 1]);
            default:
                if (optopt > 0 && optopt < 256)
                    return ctl_usage_error("unknown option '-%c'", optopt);
                return ctl_usage_error("unknown option '%s'", argv[optind - 1]);
            }
            /* Long options only, apart from -o named above. */
            for (size_t i = 0; !name && i < nb; i++)
                if (base[i].val == c)
                    name = base[i].name;
        }
        if (mask != M_ALL) {
            if (nused == sizeof(used) / sizeof(used[0]))
                return ctl_usage_error("too many options");
            used[nused++] = (struct used_opt){name, mask};
        }
    }

    if (optind >= argc)
        return ctl_usage_error("no command given");
    {
        const char *word = argv[optind++];
        int found = -1;
        for (int i = 0; i < CMD_COUNT; i++)
            if (!strcmp(word, cmds[i].name))
                found = i;
        if (found < 0)
            return ctl_usage_error("unknown command '%s'", word);
        o->cmd = (enum cmd)found;
    }
    for (size_t i = 0; i < nused; i++)
        if (!(used[i].mask & M(o->cmd)))
            return ctl_usage_error("%s%s does not apply to '%s'",
                                   used[i].name[0] == '-' ? "" : "--", used[i].name,
                                   cmds[o->cmd].name);
    if (argc - optind < cmds[o->cmd].nargs)
        return ctl_usage_error("%s: missing %s", cmds[o->cmd].name, cmds[o->cmd].argname);
    if (argc - optind > cmds[o->cmd].nargs && o->cmd != CMD_RM &&
        !(o->cmd == CMD_TOKEN && argc - optind == 2))
        return ctl_usage_error("%s: unexpected argument '%s'", cmds[o->cmd].name,
                               argv[optind + cmds[o->cmd].nargs]);
    if (cmds[o->cmd].nargs)
        o->arg = argv[optind];
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (o->cmd == CMD_PURGE && !o->done_before)
        return ctl_usage_error("purge: --done-before WHEN is required");
    if (o->cmd == CMD_GET && !o->out)
        return ctl_usage_error("get: -o OUT is required");
    if (o->out && !*o->out)
        return ctl_usage_error("-o: expected a file name");
    if (o->cmd == CMD_SUBMIT) {
        struct stat sb;
        char perr[256];
        if (dcv_profile_check(&o->profile, perr, sizeof perr) < 0)
            return ctl_usage_error("%s", perr);
        if (o->out) {
            int r;
            o->wait = 1;
            if ((r = check_submit_out(o)) != 0)
                return r;
        }
        if (is_url(o->arg)) {
            if (o->shared)
                return ctl_usage_error("submit: --shared is for files, not URLs");
            return 0; /* the coordinator checks the protocol */
        }
        if ((o->fd = open(o->arg, O_RDONLY | O_CLOEXEC)) < 0)
            return ctl_usage_error("submit: cannot open %s: %s", o->arg, strerror(errno));
        if (fstat(o->fd, &sb) < 0 || !S_ISREG(sb.st_mode))
            return ctl_usage_error("submit: %s is not a regular file", o->arg);
    }
    return 0;
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
    char last[1200] = "", last_state[32] = "";
    int rc;

    if (lines && st == DCV_PROGRESS_BAR)
        st = DCV_PROGRESS_PLAIN;
    ctl_args_init(&a);
    snprintf(a.job_id, sizeof a.job_id, "%s", job_id);
    dcv_progress_begin(&pl, st, "queued");
    for (;;) {
        json_object *job;
        char *raw = NULL, now[1200], prog[1100];
        const char *state;

        if ((rc = ctl_call(c, DCV_VERB_STATUS, &a, NULL, &job, &raw)) != EXIT_OK)
            break;
        state = dcv_json_str(job, "state", "?");
        show_progress_text(job, prog, sizeof prog);
        snprintf(now, sizeof now, "%s %s", state, prog);
        if (c->o->json && !lines && is_terminal(state))
            ctl_print_raw(raw); /* submit --wait --json: the job as it ended */
        if (strcmp(now, last) != 0) {
            if (c->o->json) {
                if (lines)
                    ctl_print_raw(raw);
            } else if (lines && !c->o->quiet) {
                char t[32];
                dcv_fmt_time(t, sizeof t, dcv_now_unix_ms());
                printf("%s  %-9s %s%s%s\n", strlen(t) > 11 ? t + 11 : t, state, prog,
                       dcv_json_str(job, "worker", NULL) ? "  on " : "", dcv_json_str(job, "worker", ""));
                fflush(stdout);
            } else if (st != DCV_PROGRESS_NONE) {
                json_object *p = dcv_json_get(job, "progress", json_type_object);
                if (strcmp(state, last_state) != 0) {
                    /* A new phase of life gets a new line. */
                    dcv_progress_end(&pl);
                    dcv_progress_begin(&pl, st, state);
                    if (!p && !is_terminal(state) && !dcv_json_get(job, "waiting", json_type_object))
                        dcv_progress_pct(&pl, -1, dcv_json_str(job, "worker", ""));
                }
                if (!p && dcv_json_get(job, "waiting", json_type_object)) {
                    dcv_progress_note(&pl, prog); /* "waiting: w1: no av1 encoder" */
                } else if (p) {
                    char note[64];
                    snprintf(note, sizeof note, "%s%s%s", dcv_json_str(p, "phase", ""),
                             dcv_json_str(job, "worker", NULL) ? " on " : "", dcv_json_str(job, "worker", ""));
                    dcv_progress_pct(&pl, dcv_json_dbl(p, "pct", 0), note);
                }
            }
            snprintf(last, sizeof last, "%s", now);
            snprintf(last_state, sizeof last_state, "%s", state);
        }
        free(raw);
        if (is_terminal(state)) {
            dcv_progress_end(&pl);
            if (!strcmp(state, "done") && show_no_output(job)) {
                /* Said even with -q: it changes what the user does next. */
                if (!c->o->json)
                    fprintf(stderr, "job %s: done, %s: %s (no output: keep the original)\n",
                            job_id, show_no_output(job), dcv_json_str(job, "note", "-"));
                /* With -o the file asked for will not exist. */
                rc = !lines && c->o->out ? EXIT_NO_OUTPUT : EXIT_OK;
            } else if (!strcmp(state, "done")) {
                if (st != DCV_PROGRESS_NONE && !lines)
                    fprintf(stderr, "job %s: done\n", job_id);
                rc = EXIT_OK;
            } else {
                if (!c->o->json)
                    ctl_errorf("job %s %s%s%s", job_id, state, dcv_json_str(job, "error", NULL) ? ": " : "",
                               dcv_json_str(job, "error", ""));
                rc = EXIT_FAILED;
            }
            json_object_put(job);
            return rc;
        }
        {
            /* Poll faster when the end is near, so --wait returns within
             * ~0.1 s of the job finishing (what `bench/e2e` measures),
             * while a long queue wait costs the coordinator 2 requests/s. */
            json_object *p = dcv_json_get(job, "progress", json_type_object);
            int soon = !strcmp(state, "assigned") || !strcmp(state, "verifying") ||
                       (p && dcv_json_dbl(p, "pct", 0) >= 90);
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

    ctl_args_init(&a);
    fd = o->fd;
    o->fd = -1;
    if (fd < 0) { /* a URL (parse_args checked) */
        if (strlen(o->arg) >= sizeof a.path)
            return ctl_usage_error("submit: URL too long");
        a.input_kind = DCV_SUBMIT_URL;
        snprintf(a.path, sizeof a.path, "%s", o->arg);
        sb.st_size = 0;
    } else if (fstat(fd, &sb) < 0) {
        close(fd);
        ctl_errorf("%s: %s", o->arg, strerror(errno));
        return EXIT_FAILED;
    }
    base = strrchr(o->arg, '/') ? strrchr(o->arg, '/') + 1 : o->arg;
    if (fd >= 0) /* a URL's name is the coordinator's to derive */
        snprintf(a.name, sizeof a.name, "%s", base);

    profile = json_object_to_json_string_ext(o->profile_json, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!profile || strlen(profile) >= sizeof a.profile) {
        close(fd);
        return ctl_usage_error("submit: the encode options are too long");
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
        ctl_errorf("no random numbers");
        return EXIT_FAILED;
    }

    if (fd < 0) {
        /* URL: nothing to upload */
    } else if (o->shared) {
        char real[PATH_MAX];
        close(fd);
        if (!realpath(o->arg, real))
            return ctl_usage_error("submit: %s: %s", o->arg, strerror(errno));
        if (strlen(real) >= sizeof a.path)
            return ctl_usage_error("submit: path too long: %s", real);
        a.input_kind = DCV_SUBMIT_PATH;
        snprintf(a.path, sizeof a.path, "%s", real);
    } else {
        a.input_kind = DCV_SUBMIT_UPLOAD;
        a.blob.size = (int64_t)sb.st_size;
        rc = transfer_upload(c, fd, &a.blob);
        close(fd);
        if (rc != EXIT_OK)
            return rc;
    }

    if ((rc = ctl_call(c, DCV_VERB_SUBMIT, &a, key, &body, &raw)) != EXIT_OK)
        return rc;
    job_id = dcv_json_str(body, "job_id", NULL);
    created = dcv_json_bool(body, "created");
    if (!job_id || strlen(job_id) != 32) {
        json_object_put(body);
        free(raw);
        ctl_errorf("the coordinator's submit reply has no job_id");
        return EXIT_FAILED;
    }
    {
        char id[DCV_PROTO_JOB_ID];
        snprintf(id, sizeof id, "%s", job_id);
        json_object_put(body);
        if (o->json && !o->wait)
            ctl_print_raw(raw);
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
        return transfer_download(c, id, 0, o->out);
    }
}

static int cmd_status(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *job;
    char *raw;
    int rc;

    ctl_args_init(&a);
    if ((rc = ctl_resolve_job(c, c->o->arg, a.job_id)) != EXIT_OK)
        return rc;
    if (c->o->follow)
        return follow_job(c, a.job_id, 1);
    if ((rc = ctl_call(c, DCV_VERB_STATUS, &a, NULL, &job, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        ctl_print_raw(raw);
    else
        show_job(job);
    json_object_put(job);
    free(raw);
    return EXIT_OK;
}

static int cmd_jobs(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *body;
    char *raw;
    int rc;

    ctl_args_init(&a);
    a.state = c->o->state;
    a.limit = c->o->limit;
    a.offset = c->o->offset;
    if ((rc = ctl_call(c, DCV_VERB_JOBS, &a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        ctl_print_raw(raw);
    else
        rc = show_jobs(body, c->o->offset, c->o->quiet);
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

    ctl_args_init(&a);
    if ((rc = ctl_resolve_job(c, c->o->arg, a.job_id)) != EXIT_OK)
        return rc;
    if ((rc = ctl_call(c, verb, &a, NULL, &job, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        ctl_print_raw(raw);
    else if (!c->o->quiet)
        printf("job %s: %s (attempt %lld of %lld)\n", a.job_id, dcv_json_str(job, "state", "?"),
               (long long)dcv_json_int(job, "attempt", 0), (long long)dcv_json_int(job, "max_attempts", 0));
    json_object_put(job);
    free(raw);
    return EXIT_OK;
}

static int cmd_get(struct ctl *c)
{
    char id[DCV_PROTO_JOB_ID];
    int rc;
    if ((rc = ctl_resolve_job(c, c->o->arg, id)) != EXIT_OK)
        return rc;
    if (!c->o->input) {
        /* A job done without output gets its own exit code (4) so a
         * script can tell "keep the original" from a failure. */
        struct dcv_proto_args a;
        json_object *job;
        ctl_args_init(&a);
        snprintf(a.job_id, sizeof a.job_id, "%s", id);
        if ((rc = ctl_call(c, DCV_VERB_STATUS, &a, NULL, &job, NULL)) != EXIT_OK)
            return rc;
        if (!strcmp(dcv_json_str(job, "state", ""), "done") && show_no_output(job)) {
            ctl_errorf("job %s has no output: %s: %s; keep the original file", id,
                       show_no_output(job), dcv_json_str(job, "note", "-"));
            json_object_put(job);
            return EXIT_NO_OUTPUT;
        }
        json_object_put(job);
    }
    return transfer_download(c, id, c->o->input, c->o->out);
}

static int cmd_workers(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *body;
    char *raw;
    int rc;

    ctl_args_init(&a);
    if ((rc = ctl_call(c, DCV_VERB_WORKERS, &a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        ctl_print_raw(raw);
    else
        rc = show_workers(body, c->o->quiet);
    json_object_put(body);
    free(raw);
    return rc;
}

static int cmd_worker(struct ctl *c, int verb)
{
    struct dcv_proto_args a;
    json_object *w;
    char *raw;
    int rc;

    ctl_args_init(&a);
    if (strlen(c->o->arg) >= sizeof a.worker_id)
        return ctl_usage_error("'%s' is not a worker id", c->o->arg);
    snprintf(a.worker_id, sizeof a.worker_id, "%s", c->o->arg);
    if ((rc = ctl_call(c, verb, &a, NULL, &w, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        ctl_print_raw(raw);
    else if (verb == DCV_VERB_WORKER)
        show_worker(w);
    else if (!c->o->quiet) {
        const char *what;
        if (verb == DCV_VERB_DRAIN)
            what = "draining (finishes its jobs, takes no new ones)";
        else if (!dcv_json_bool(w, "draining"))
            what = "taking jobs";
        else /* the coordinator reports the worker's own state until it confirms */
            what = "undrained: taking jobs again once it confirms (next heartbeat)";
        printf("worker %s: %s\n", dcv_json_str(w, "worker_id", c->o->arg), what);
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
        ctl_errorf("keygen: the host name '%s' is not a valid key name: give --name", name);
        return EXIT_USAGE;
    }
    if ((r = dcv_net_keypair(c->net, pub, sec, err, sizeof err)) < 0) {
        ctl_errorf("keygen: %s", err);
        return EXIT_FAILED;
    }
    r = dcv_auth_write_keys(dir, name, pub, sec, err, sizeof err);
    memset(sec, 0, sizeof sec);
    if (r < 0) {
        ctl_errorf("keygen: %s", err);
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
        ctl_errorf("out of memory");
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
        case CMD_RM: rc = cmd_rm(&c); break;
        case CMD_PURGE: rc = cmd_purge(&c); break;
        case CMD_TOKEN: rc = cmd_token(&c); break;
        default: rc = EXIT_USAGE; break;
        }
    }
    if (rc == EXIT_INTERRUPTED)
        ctl_errorf("interrupted");
    if (o.fd >= 0)
        close(o.fd);
    ctl_close(&c);
    json_object_put(o.profile_json);
    return rc;
}
