/*
 * The worker service against a fake coordinator in this process: a control
 * ROUTER speaking the protocol codec, and a data ROUTER with the real
 * data-plane server (xfer/server.h) receiving outputs and serving inputs.
 * Job processes are the real `core/distconvd --job`, encoding real (tiny)
 * clips through the staged encoder plugins.
 *
 * Waits have generous upper bounds only (a loaded machine makes the test
 * slower, never flaky); nothing asserts on timing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "build-config.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "probe.h"
#include "proto.h"
#include "tap.h"
#include "worker/worker.h"
#include "xfer/client.h"
#include "xfer/server.h"

#define WAIT_MS 90000
#define MAX_MSGS 8192

struct rec {
    int cmd;
    char *body;
    size_t len;
    struct dcv_tx_peer peer;
    int used;
};

struct received {
    int64_t xfer_id;
    int ok;
    char sha[65];
    int64_t size;
};

static struct {
    struct dcv_loop *loop;
    struct dcv_net *net;
    struct dcv_sock *ctl, *data;
    struct dcv_xsrv *xsrv;
    struct rec msgs[MAX_MSGS];
    size_t n_msgs;
    struct dcv_tx_peer peer; /* the worker's current connection */
    int have_peer;
    int alive;               /* send HEARTBEATs to the worker */
    char tmp[PATH_MAX];
    struct received recv[64];
    size_t n_recv;
    /* the input the fake coordinator serves on FETCH */
    char serve_path[PATH_MAX + 128];
    int64_t serve_id, serve_size;
    char serve_sha[65];
    int fetches;
} T;

/* ---- fake coordinator ------------------------------------------------------ */

static void on_ctl(struct dcv_sock *s, void *arg)
{
    struct dcv_proto_msg m;
    struct dcv_tx_peer from;
    char err[512];
    (void)arg;
    for (;;) {
        int r = dcv_sock_recv(s, &from, &m, err, sizeof err);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            tap_diag("control recv: %s", err);
            continue;
        }
        if (T.n_msgs < MAX_MSGS) {
            struct rec *rc = &T.msgs[T.n_msgs++];
            rc->cmd = m.cmd;
            rc->body = malloc(m.body_len + 1);
            if (!rc->body)
                tap_bail("out of memory");
            memcpy(rc->body, m.body, m.body_len);
            rc->body[m.body_len] = '\0';
            rc->len = m.body_len;
            rc->peer = from;
        }
    }
}

static void on_data(struct dcv_sock *s, void *arg)
{
    struct dcv_proto_msg m;
    struct dcv_tx_peer from;
    char err[512];
    (void)arg;
    for (;;) {
        int r = dcv_sock_recv(s, &from, &m, err, sizeof err);
        if (r == -EAGAIN)
            break;
        if (r < 0)
            continue;
        dcv_xsrv_input(T.xsrv, &from, &m, dcv_loop_now_ms());
    }
    dcv_xsrv_pump(T.xsrv, dcv_loop_now_ms());
}

static int x_offer(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                   struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    char path[PATH_MAX + 64];
    (void)ud;
    (void)peer;
    if (o->purpose != DCV_PURPOSE_OUTPUT || !o->fence.job_id[0]) {
        *code = DCV_CODE_PROTOCOL;
        snprintf(msg, msglen, "only outputs here");
        return -EINVAL;
    }
    snprintf(path, sizeof path, "%s/recv-%lld", T.tmp, (long long)o->blob.xfer_id);
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        *code = DCV_CODE_IO;
        snprintf(msg, msglen, "%s", strerror(errno));
        return -errno;
    }
    f->durable = 0;
    return 0;
}

static int x_fetch(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                   struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    (void)ud;
    (void)peer;
    if (o->blob.xfer_id != T.serve_id || o->purpose != DCV_PURPOSE_INPUT) {
        *code = DCV_CODE_PROTOCOL;
        snprintf(msg, msglen, "unknown input");
        return -ENOENT;
    }
    f->fd = open(T.serve_path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        *code = DCV_CODE_IO;
        snprintf(msg, msglen, "%s", strerror(errno));
        return -errno;
    }
    f->size = T.serve_size;
    memcpy(f->sha256, T.serve_sha, sizeof f->sha256);
    T.fetches++;
    return 0;
}

static void x_received(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                       const char *reason)
{
    (void)ud;
    (void)user;
    if (!ok)
        tap_diag("output transfer %lld failed: %s", (long long)o->blob.xfer_id, reason);
    if (T.n_recv < 64) {
        struct received *r = &T.recv[T.n_recv++];
        r->xfer_id = o->blob.xfer_id;
        r->ok = ok;
        r->size = o->blob.size;
        snprintf(r->sha, sizeof r->sha, "%s", o->blob.sha256);
    }
}

static void on_pump(struct dcv_loop *loop, uint64_t id, void *arg)
{
    (void)loop;
    (void)id;
    (void)arg;
    dcv_xsrv_pump(T.xsrv, dcv_loop_now_ms());
}

static void send_ctl(int cmd, const char *json)
{
    char err[512];
    int r = -EAGAIN;
    for (int i = 0; i < 100 && r == -EAGAIN; i++) {
        r = dcv_sock_send_json(T.ctl, &T.peer, cmd, json, err, sizeof err);
        if (r == -EAGAIN)
            usleep(10000);
    }
    if (r < 0)
        tap_diag("send %s: %s", dcv_proto_cmd_name(DCV_PLANE_CONTROL, cmd), err);
}

static void on_hb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    (void)loop;
    (void)id;
    (void)arg;
    if (T.alive && T.have_peer)
        send_ctl(DCV_CMD_HEARTBEAT, "{}");
}

/* ---- waiting ------------------------------------------------------------------- */

struct waiter {
    int cmd;
    const char *needle; /* substring of the body, or NULL */
    struct rec *found;
    uint64_t deadline;
    int (*pred)(void);
};

static struct rec *find_msg(int cmd, const char *needle)
{
    for (size_t i = 0; i < T.n_msgs; i++) {
        struct rec *r = &T.msgs[i];
        if (!r->used && r->cmd == cmd && (!needle || strstr(r->body, needle))) {
            r->used = 1;
            return r;
        }
    }
    return NULL;
}

static void on_check(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct waiter *w = arg;
    (void)id;
    if (w->pred ? w->pred() : (w->found = find_msg(w->cmd, w->needle)) != NULL)
        dcv_loop_stop(loop);
    else if (dcv_loop_now_ms() > w->deadline)
        dcv_loop_stop(loop);
}

static void run_waiter(struct waiter *w, int timeout_ms)
{
    uint64_t tid;
    char err[256];
    w->deadline = dcv_loop_now_ms() + (uint64_t)timeout_ms;
    if (dcv_loop_add_timer(T.loop, 10, 10, on_check, w, &tid, err, sizeof err) < 0)
        tap_bail("timer: %s", err);
    if (dcv_loop_run(T.loop, err, sizeof err) < 0)
        tap_bail("loop: %s", err);
    dcv_loop_cancel_timer(T.loop, tid);
}

/* The next unused message `cmd` whose body contains needle; NULL on timeout. */
static struct rec *wait_msg(int cmd, const char *needle, int timeout_ms)
{
    struct waiter w = {.cmd = cmd, .needle = needle};
    run_waiter(&w, timeout_ms);
    return w.found;
}

/* pred must be idempotent when it returns true: it is asked once more. */
static int wait_until(int (*pred)(void), int timeout_ms)
{
    struct waiter w = {.pred = pred};
    run_waiter(&w, timeout_ms);
    return pred();
}


/* ---- helpers --------------------------------------------------------------------- */

static int run_cmd(char *const argv[])
{
    pid_t pid = fork();
    int st;
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void gen_clip(const char *ffmpeg, const char *out, const char *size, const char *dur)
{
    char src[128];
    snprintf(src, sizeof src, "testsrc2=size=%s:rate=25:duration=%s", size, dur);
    char *argv[] = {(char *)ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", src, "-c:v", "libx264", "-preset", "ultrafast", (char *)out, NULL};
    if (run_cmd(argv) != 0)
        tap_bail("cannot generate %s with %s", out, ffmpeg);
}

static void rm_rf(const char *path)
{
    char *argv[] = {"rm", "-rf", (char *)path, NULL};
    run_cmd(argv);
}

static void random_job_id(char out[33])
{
    static unsigned n;
    /* The counter first: logs show a job id's first 8 digits. */
    snprintf(out, 33, "%08x%08x%08x%08x", ++n, (unsigned)getpid(), 0xabcdefu, 0x12345678u);
}

static struct json_object *parse(const struct rec *r)
{
    struct json_object *o = r ? json_tokener_parse(r->body) : NULL;
    if (!o)
        tap_bail("unparsable body");
    return o;
}

static const char *jget_str(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int64_t jget_int(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

static int jget_bool(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_boolean(v) : -1;
}

/* The pid of a running `distconvd --job` for this job, from /proc. */
static pid_t find_job_pid(const char *job_id)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], buf[8192];
        ssize_t n;
        int fd;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        if (strstr(buf, "--job") && strstr(buf, job_id) && atoi(e->d_name) != getpid()) {
            found = (pid_t)atoi(e->d_name);
            break;
        }
    }
    if (d)
        closedir(d);
    return found;
}

static char g_session[64];

static void send_job_attempt(const char *job_id, int attempt, const char *session,
                             const char *input_json, const char *profile)
{
    char body[8192];
    snprintf(body, sizeof body,
             "{\"job_id\":\"%s\",\"attempt\":%d,\"session\":\"%s\",\"input\":%s,"
             "\"profile\":%s}",
             job_id, attempt, session, input_json, profile);
    send_ctl(DCV_CMD_JOB, body);
}

static void send_job(const char *job_id, const char *session, const char *input_json,
                     const char *profile)
{
    send_job_attempt(job_id, 1, session, input_json, profile);
}

static void welcome(void)
{
    char body[1024], ep[256];
    const char *port;
    dcv_sock_endpoint(T.data, ep, sizeof ep);
    port = strrchr(ep, ':');
    /* A wildcard host: the worker must put the coordinator's host in. */
    snprintf(body, sizeof body,
             "{\"session\":\"%s\",\"coordinator_epoch\":\"e1\",\"proto\":1,\"hb_ivl_ms\":200,"
             "\"liveness\":5,\"chunk_max\":65536,\"credit_chunks\":4,"
             "\"data_endpoint\":\"tcp://*%s\"}",
             g_session, port);
    send_ctl(DCV_CMD_WELCOME, body);
}

/* A job's full run: ACCEPT, PROGRESS, DONE with an output the data plane
 * received intact. */
static void expect_done(const char *job_id, const char *what, const char *want_plugin)
{
    char name[256], need[64];
    struct rec *r;
    struct json_object *o, *out;
    snprintf(need, sizeof need, "\"%s\"", job_id);

    r = wait_msg(DCV_CMD_ACCEPT, need, WAIT_MS);
    snprintf(name, sizeof name, "%s: ACCEPT", what);
    if (!TAP_OK(r != NULL, "%s", name)) {
        struct rec *f = find_msg(DCV_CMD_REJECT, need);
        if (!f)
            f = find_msg(DCV_CMD_FAIL, need);
        tap_diag("  got instead: %s", f ? f->body : "(nothing)");
        return;
    }
    o = parse(r);
    TAP_IS_STR(jget_str(o, "plugin"), want_plugin, "ACCEPT names the plugin");
    TAP_OK(jget_str(o, "encoder")[0] && jget_str(o, "device_id")[0],
           "ACCEPT names encoder %s and device %s", jget_str(o, "encoder"),
           jget_str(o, "device_id"));
    json_object_put(o);

    r = wait_msg(DCV_CMD_DONE, need, WAIT_MS);
    snprintf(name, sizeof name, "%s: DONE", what);
    if (!TAP_OK(r != NULL, "%s", name)) {
        struct rec *f = find_msg(DCV_CMD_FAIL, need);
        tap_diag("  got instead: %s", f ? f->body : "(nothing)");
        return;
    }
    TAP_OK(find_msg(DCV_CMD_PROGRESS, need) != NULL, "%s: PROGRESS before DONE", what);
    o = parse(r);
    json_object_object_get_ex(o, "output", &out);
    {
        int64_t xid = jget_int(out, "xfer_id");
        const char *sha = jget_str(out, "sha256");
        struct received *got = NULL;
        for (size_t i = 0; i < T.n_recv; i++)
            if (T.recv[i].xfer_id == xid)
                got = &T.recv[i];
        TAP_OK(got && got->ok, "%s: output received over the data plane", what);
        TAP_OK(got && strcmp(got->sha, sha) == 0 && got->size == jget_int(out, "size") &&
                   got->size > 0,
               "%s: DONE's sha256 and size match what was received", what);
        TAP_OK(jget_int(o, "frames") == 50, "%s: DONE counts 50 frames (got %lld)", what,
               (long long)jget_int(o, "frames"));
    }
    json_object_put(o);
}

static int g_heartbeat_ok;
static const char *g_hb_job;
static int g_hb_want_draining = -1;
/* The next heartbeat satisfying the current expectation. */
static int hb_pred(void)
{
    struct rec *r;
    while ((r = find_msg(DCV_CMD_HEARTBEAT, NULL)) != NULL) {
        struct json_object *o = parse(r), *t, *jobs;
        int ok = json_object_object_get_ex(o, "telemetry", &t);
        if (ok && g_hb_job) {
            ok = jget_int(t, "slots_used") == 1 && json_object_object_get_ex(t, "jobs", &jobs) &&
                 strstr(json_object_to_json_string(jobs), g_hb_job) != NULL;
        }
        if (ok && g_hb_want_draining >= 0)
            ok = jget_bool(t, "draining") == g_hb_want_draining;
        json_object_put(o);
        if (ok) {
            g_heartbeat_ok = 1;
            return 1;
        }
    }
    return 0;
}

static int wait_heartbeat(const char *job, int draining)
{
    g_heartbeat_ok = 0;
    g_hb_job = job;
    g_hb_want_draining = draining;
    wait_until(hb_pred, WAIT_MS);
    return g_heartbeat_ok;
}

static char g_gone_pid_job[32];
/* The job process has been reaped (by the worker, our child's parent). */
static int pid_gone(void)
{
    pid_t p = (pid_t)atoi(g_gone_pid_job);
    return p > 0 && kill(p, 0) != 0 && errno == ESRCH;
}

static char g_gone_path[PATH_MAX + 128];
static int path_gone(void)
{
    return access(g_gone_path, F_OK) != 0;
}

int main(void)
{
    const char *pdir = getenv("DISTCONV_PLUGIN_DIR"), *bdir = getenv("DCV_TOP_BUILDDIR");
    const char *ffmpeg = getenv("DCV_FFMPEG");
    char conf_path[PATH_MAX + 32], exe[PATH_MAX], shared[PATH_MAX + 32], media[PATH_MAX + 32];
    char clip[PATH_MAX + 64], long_clip[PATH_MAX + 64], ep[256], err[2048], jid[33];
    char input[PATH_MAX + 256], path[PATH_MAX + 128], *probe = NULL;
    struct dcv_conf *conf = NULL;
    struct dcv_worker *w = NULL;
    struct dcv_worker_opts wo = {0};
    struct dcv_sock_opts so = {0};
    struct dcv_xsrv_params xp = {0};
    struct dcv_xsrv_cbs xc = {0};
    struct rec *r;
    struct json_object *o;
    sigset_t block;
    const char *local[2];
    const char *codec, *want_plugin;
    FILE *f;
    uint64_t tid;
    pid_t pid;

    if (!pdir || !bdir)
        tap_bail("DISTCONV_PLUGIN_DIR / DCV_TOP_BUILDDIR not set (run through make check)");
    if (!ffmpeg || !*ffmpeg)
        ffmpeg = "ffmpeg";
    dcv_log_setup(getenv("DCV_TEST_VERBOSE") ? DCV_LOG_DEBUG : DCV_LOG_WARN, DCV_LOG_TEXT,
                  DCV_LOG_STDERR, "test_worker");
    snprintf(T.tmp, sizeof T.tmp, "%s/dcvworker.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR")
                                                                           : "/tmp");
    if (!mkdtemp(T.tmp))
        tap_bail("mkdtemp: %s", strerror(errno));
    snprintf(exe, sizeof exe, "%s/core/distconvd", bdir);
    snprintf(shared, sizeof shared, "%s/shared", T.tmp);
    snprintf(media, sizeof media, "%s/media", T.tmp);
    mkdir(shared, 0755);
    mkdir(media, 0755);
    snprintf(clip, sizeof clip, "%s/in.mkv", media);
    snprintf(long_clip, sizeof long_clip, "%s/long.mkv", shared);
    gen_clip(ffmpeg, clip, "160x120", "2");
    gen_clip(ffmpeg, long_clip, "640x360", "30");

    /* x265 when it was built: the slower encoder keeps the long job busy. */
    snprintf(path, sizeof path, "%s/enc-x265.so", pdir);
    if (access(path, F_OK) == 0)
        codec = "hevc", want_plugin = "x265";
    else
        codec = "h264", want_plugin = "x264";

    snprintf(conf_path, sizeof conf_path, "%s/worker.conf", T.tmp);
    f = fopen(conf_path, "w");
    if (!f)
        tap_bail("%s: %s", conf_path, strerror(errno));
    fprintf(f,
            "role = \"worker\";\nname = \"w1\";\nstate_dir = \"%s/state\";\n"
            "work_dir = \"%s/work\";\ncoordinator = \"tcp://127.0.0.1:1\";\nmax_jobs = 1;\n"
            "worker = { path_map = [ \"/coord/media=%s\" ]; disk_quota = 1000000000;\n"
            "           max_gpu_jobs = 1; };\n"
            /* The fake coordinator authenticates nobody (its net has no
             * security): the job processes, which follow this file, neither. */
            "security = { mode = \"none\"; };\n",
            T.tmp, T.tmp, media);
    fclose(f);
    snprintf(path, sizeof path, "%s/state", T.tmp);
    mkdir(path, 0750);
    snprintf(path, sizeof path, "%s/work", T.tmp);
    mkdir(path, 0750);
    if (dcv_conf_load(&conf, conf_path, 1, err, sizeof err) < 0)
        tap_bail("config: %s", err);

    /* As the daemon does: probe before any thread, block SIGCHLD before the
     * transport's threads start. */
    if (dcv_probe_all(conf, 20000, &probe, err, sizeof err) < 0)
        tap_bail("probe: %s", err);
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, NULL);
    if (dcv_loop_new(&T.loop, err, sizeof err) < 0 ||
        dcv_net_open(pdir, "zmq", NULL, &T.net, err, sizeof err) < 0)
        tap_bail("setup: %s", err);

    so.plane = DCV_PLANE_CONTROL;
    so.role = DCV_TX_BIND_ROUTER;
    so.endpoint = "tcp://127.0.0.1:*";
    if (dcv_sock_open(T.net, &so, &T.ctl, err, sizeof err) < 0 ||
        dcv_sock_attach(T.ctl, T.loop, on_ctl, NULL, err, sizeof err) < 0)
        tap_bail("control ROUTER: %s", err);
    so.plane = DCV_PLANE_DATA;
    if (dcv_sock_open(T.net, &so, &T.data, err, sizeof err) < 0 ||
        dcv_sock_attach(T.data, T.loop, on_data, NULL, err, sizeof err) < 0)
        tap_bail("data ROUTER: %s", err);
    xp.chunk_max = 65536;
    xp.credit_chunks = 4;
    xp.stall_ms = 2000;
    xp.max_retries = 3;
    xp.idle_ms = 10000;
    xc.on_offer = x_offer;
    xc.on_fetch = x_fetch;
    xc.on_received = x_received;
    if (dcv_xsrv_new(T.data, &xp, &xc, NULL, &T.xsrv, err, sizeof err) < 0)
        tap_bail("xsrv: %s", err);
    dcv_loop_add_timer(T.loop, 20, 20, on_pump, NULL, &tid, err, sizeof err);
    dcv_loop_add_timer(T.loop, 200, 200, on_hb, NULL, &tid, err, sizeof err);

    /* ---- worker: HELLO ---------------------------------------------------- */
    dcv_sock_endpoint(T.ctl, ep, sizeof ep);
    local[0] = shared;
    local[1] = NULL;
    wo.coordinator = ep;
    wo.self_exe = exe;
    wo.local_prefixes = local;
    wo.probe_json = probe;
    TAP_IS_INT(dcv_worker_new(T.loop, T.net, conf, &wo, &w, err, sizeof err), 0, "worker starts");
    if (!w)
        tap_bail("%s", err);

    r = wait_msg(DCV_CMD_HELLO, NULL, WAIT_MS);
    if (!TAP_OK(r != NULL, "HELLO arrives"))
        tap_bail("no HELLO");
    {
        struct dcv_proto_hello *h = calloc(1, sizeof *h);
        int x264 = 0, x265 = 0, coord_path = 0, local_path = 0;
        if (!h)
            tap_bail("out of memory");
        TAP_IS_INT(dcv_proto_hello_from_json(r->body, r->len, h, err, sizeof err), 0,
                   "HELLO is valid");
        TAP_IS_STR(h->worker_id, "w1", "HELLO.worker_id is the configured name");
        TAP_IS_INT(h->slots, 1, "HELLO.slots = max_jobs");
        TAP_OK(h->max_cpu_jobs == 0 && h->max_gpu_jobs == 1,
               "HELLO.max_cpu_jobs 0 (= slots), max_gpu_jobs from worker.max_gpu_jobs");
        TAP_IS_INT(strlen(h->session), 32, "HELLO.session is 128 bits of hex");
        TAP_OK(h->host[0] != '\0', "HELLO.host: %s", h->host);
        TAP_IS_STR(h->version, PACKAGE_VERSION, "HELLO.version");
        for (size_t i = 0; i < h->n_devices; i++) {
            if (!strcmp(h->devices[i].plugin, "x264") && (h->devices[i].caps.flags & DCV_CAP_AVAILABLE))
                x264 = 1;
            if (!strcmp(h->devices[i].plugin, "x265") && (h->devices[i].caps.flags & DCV_CAP_AVAILABLE))
                x265 = 1;
        }
        TAP_OK(x264, "HELLO.devices has an available x264 device");
        snprintf(path, sizeof path, "%s/enc-x265.so", pdir);
        if (access(path, F_OK) == 0)
            TAP_OK(x265, "HELLO.devices has an available x265 device");
        else
            tap_skip("x265 not built", "HELLO.devices has x265");
        for (size_t i = 0; i < h->n_plugins; i++)
            TAP_OK(strcmp(h->plugins[i].name, "zmq") != 0, "HELLO.plugins lists encoders only (%s)",
                   h->plugins[i].name);
        for (size_t i = 0; i < h->n_paths; i++) {
            if (!strcmp(h->paths[i], "/coord/media"))
                coord_path = 1;
            if (!strcmp(h->paths[i], shared))
                local_path = 1;
        }
        TAP_OK(coord_path && local_path, "HELLO.paths: the path map's coordinator side and the "
                                         "local prefix");
        TAP_IS_INT(h->n_running, 0, "HELLO.running is empty");
        snprintf(g_session, sizeof g_session, "%s", h->session);
        free(h);
    }
    T.peer = r->peer;
    T.have_peer = 1;
    T.alive = 1;
    welcome();

    /* ---- heartbeats --------------------------------------------------------- */
    TAP_OK(wait_heartbeat(NULL, -1), "HEARTBEAT arrives after WELCOME");
    r = wait_msg(DCV_CMD_HEARTBEAT, NULL, WAIT_MS);
    if (TAP_OK(r != NULL, "heartbeats keep coming")) {
        struct dcv_proto_heartbeat hb;
        TAP_IS_INT(dcv_proto_heartbeat_from_json(r->body, r->len, &hb, err, sizeof err), 0,
                   "HEARTBEAT is valid");
        TAP_OK(hb.has_telemetry && hb.telemetry.ncpu >= 1 && hb.telemetry.mem_total > 0,
               "telemetry: %lld cpus, %lld bytes of memory", (long long)hb.telemetry.ncpu,
               (long long)hb.telemetry.mem_total);
        TAP_IS_INT(hb.telemetry.disk_total, 1000000000, "disk_total is the quota");
        TAP_OK(hb.telemetry.disk_free <= 1000000000, "disk_free within the quota");
        TAP_IS_INT(hb.telemetry.slots_used, 0, "no slot used yet");
        TAP_IS_INT(hb.telemetry.draining, 0, "not draining");
    }

    /* ---- a JOB for another session is ignored -------------------------------- */
    char stray[33];
    random_job_id(stray);
    snprintf(input, sizeof input, "{\"kind\":\"path\",\"path\":\"/coord/media/in.mkv\"}");
    send_job(stray, "not-our-session", input, "{}");

    /* ---- path input through the path map ---------------------------------------- */
    random_job_id(jid);
    {
        char prof[128];
        snprintf(prof, sizeof prof, "{\"codec\":\"%s\",\"preset\":1}", codec);
        send_job(jid, g_session, input, prof);
    }
    expect_done(jid, "path input", want_plugin);
    snprintf(g_gone_path, sizeof g_gone_path, "%s/work/%s-1", T.tmp, jid);
    TAP_OK(wait_until(path_gone, WAIT_MS), "the job's work dir is gone");
    TAP_OK(find_msg(DCV_CMD_ACCEPT, stray) == NULL && find_msg(DCV_CMD_REJECT, stray) == NULL &&
               find_msg(DCV_CMD_FAIL, stray) == NULL,
           "the JOB for another session got no answer");

    /* ---- coordinator-held input: copy, then stream -------------------------------- */
    {
        int fd = open(clip, O_RDONLY);
        snprintf(T.serve_path, sizeof T.serve_path, "%s", clip);
        T.serve_id = 4242;
        if (fd < 0 || dcv_xcli_sha256_fd(fd, &T.serve_size, T.serve_sha, err, sizeof err) < 0)
            tap_bail("sha of %s: %s", clip, err);
        close(fd);
    }
    snprintf(input, sizeof input,
             "{\"kind\":\"xfer\",\"xfer_id\":4242,\"size\":%lld,\"sha256\":\"%s\",\"mode\":\"copy\","
             "\"name\":\"in.mkv\"}",
             (long long)T.serve_size, T.serve_sha);
    random_job_id(jid);
    send_job(jid, g_session, input, "{\"codec\":\"h264\",\"preset\":1}");
    expect_done(jid, "xfer copy input", "x264");
    TAP_OK(T.fetches >= 1, "the input was fetched over the data plane");

    snprintf(input, sizeof input,
             "{\"kind\":\"xfer\",\"xfer_id\":4242,\"size\":%lld,\"sha256\":\"%s\",\"mode\":\"stream\","
             "\"name\":\"in.mkv\"}",
             (long long)T.serve_size, T.serve_sha);
    random_job_id(jid);
    send_job(jid, g_session, input, "{\"codec\":\"h264\",\"preset\":1,\"container\":\"mp4\"}");
    expect_done(jid, "xfer stream input", "x264");

    /* ---- a long job: heartbeats list it, a full worker says busy ------------------ */
    char long_id[33], busy_id[33];
    random_job_id(long_id);
    snprintf(input, sizeof input, "{\"kind\":\"path\",\"path\":\"%s\"}", long_clip);
    {
        char prof[128];
        snprintf(prof, sizeof prof, "{\"codec\":\"%s\",\"preset\":7}", codec);
        send_job(long_id, g_session, input, prof);
    }
    r = wait_msg(DCV_CMD_ACCEPT, long_id, WAIT_MS);
    TAP_OK(r != NULL, "long job: ACCEPT (local prefix input)");
    TAP_OK(wait_heartbeat(long_id, -1), "a heartbeat lists the running job with its slot");
    pid = find_job_pid(long_id);
    TAP_OK(pid > 0, "the job process runs (pid %ld)", (long)pid);

    random_job_id(busy_id);
    snprintf(input, sizeof input, "{\"kind\":\"path\",\"path\":\"/coord/media/in.mkv\"}");
    send_job(busy_id, g_session, input, "{}");
    r = wait_msg(DCV_CMD_REJECT, busy_id, WAIT_MS);
    if (TAP_OK(r != NULL, "JOB while full: REJECT")) {
        o = parse(r);
        TAP_IS_STR(jget_str(o, "code"), "busy", "REJECT code busy");
        TAP_IS_INT(jget_bool(o, "retryable"), 1, "REJECT busy is retryable");
        json_object_put(o);
    }

    /* ---- coordinator silence: new connection, HELLO lists the running job --------- */
    {
        struct dcv_tx_peer old = T.peer;
        T.alive = 0;
        for (;;) {
            r = wait_msg(DCV_CMD_HELLO, NULL, WAIT_MS);
            if (!r || !dcv_peer_equal(&r->peer, &old))
                break;
        }
        if (TAP_OK(r != NULL, "silent coordinator: the worker says HELLO again")) {
            struct dcv_proto_hello *h = calloc(1, sizeof *h);
            if (!h)
                tap_bail("out of memory");
            TAP_OK(!dcv_peer_equal(&r->peer, &old), "... from a new connection");
            TAP_IS_INT(dcv_proto_hello_from_json(r->body, r->len, h, err, sizeof err), 0,
                       "the new HELLO is valid");
            TAP_IS_STR(h->session, g_session, "same session (same process)");
            TAP_OK(h->n_running == 1 && !strcmp(h->running[0].job_id, long_id) &&
                       h->running[0].attempt == 1,
                   "HELLO.running lists the job that kept running");
            free(h);
            T.peer = r->peer;
            T.alive = 1;
            welcome();
        }
    }
    TAP_OK(pid > 0 && kill(pid, 0) == 0, "the job survived the reconnect");
    TAP_OK(wait_msg(DCV_CMD_PROGRESS, long_id, WAIT_MS) != NULL,
           "PROGRESS for the running job on the new connection");

    /* ---- cancel ---------------------------------------------------------------------- */
    {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"job_id\":\"%s\",\"attempt\":1,\"session\":\"%s\",\"reason\":\"test\"}",
                 long_id, g_session);
        send_ctl(DCV_CMD_CANCEL, body);
    }
    r = wait_msg(DCV_CMD_FAIL, long_id, WAIT_MS);
    if (TAP_OK(r != NULL, "CANCEL: FAIL arrives")) {
        o = parse(r);
        TAP_IS_STR(jget_str(o, "code"), "cancelled", "FAIL code cancelled");
        TAP_IS_INT(jget_bool(o, "retryable"), 0, "cancelled is not retryable");
        json_object_put(o);
    }
    errno = 0;
    TAP_OK(pid > 0 && kill(pid, 0) != 0 && errno == ESRCH, "the job process is gone");
    snprintf(path, sizeof path, "%s/work/%s-1", T.tmp, long_id);
    TAP_OK(access(path, F_OK) != 0, "the cancelled job's work dir is gone");

    /* ---- drain -------------------------------------------------------------------------- */
    send_ctl(DCV_CMD_DRAIN, "{\"draining\":true}");
    TAP_OK(wait_heartbeat(NULL, 1), "DRAIN: heartbeats say draining");
    random_job_id(jid);
    send_job(jid, g_session, input, "{}");
    r = wait_msg(DCV_CMD_REJECT, jid, WAIT_MS);
    if (TAP_OK(r != NULL, "JOB while draining: REJECT")) {
        o = parse(r);
        TAP_IS_STR(jget_str(o, "code"), "busy", "... code busy");
        json_object_put(o);
    }
    send_ctl(DCV_CMD_DRAIN, "{\"draining\":false}");
    TAP_OK(wait_heartbeat(NULL, 0), "undrain: heartbeats say not draining");

    /* ---- a newer attempt of a job supersedes the one still running here ------------------- */
    {
        char in_long[PATH_MAX + 256], body[256], prof7[128];
        pid_t p1, p2;
        snprintf(in_long, sizeof in_long, "{\"kind\":\"path\",\"path\":\"%s\"}", long_clip);
        random_job_id(jid);
        snprintf(prof7, sizeof prof7, "{\"codec\":\"%s\",\"preset\":7}", codec);
        send_job_attempt(jid, 1, g_session, in_long, prof7);
        r = wait_msg(DCV_CMD_ACCEPT, jid, WAIT_MS);
        TAP_OK(r != NULL, "attempt 1 runs");
        p1 = find_job_pid(jid);
        send_job_attempt(jid, 2, g_session, in_long, prof7);
        r = wait_msg(DCV_CMD_ACCEPT, jid, WAIT_MS);
        TAP_OK(r != NULL && strstr(r->body, "\"attempt\":2"), "attempt 2 accepted in the same slot");
        snprintf(g_gone_pid_job, sizeof g_gone_pid_job, "%d", (int)p1);
        TAP_OK(p1 > 0 && wait_until(pid_gone, WAIT_MS), "attempt 1's process was stopped");
        p2 = find_job_pid(jid);
        TAP_OK(p2 > 0 && p2 != p1, "attempt 2 has its own process");
        snprintf(body, sizeof body, "{\"job_id\":\"%s\",\"attempt\":2,\"session\":\"%s\"}", jid,
                 g_session);
        send_ctl(DCV_CMD_CANCEL, body);
        r = wait_msg(DCV_CMD_FAIL, jid, WAIT_MS);
        TAP_OK(r != NULL && strstr(r->body, "\"attempt\":2") && strstr(r->body, "cancelled"),
               "attempt 2 cancelled");
        TAP_OK(find_msg(DCV_CMD_FAIL, jid) == NULL && find_msg(DCV_CMD_DONE, jid) == NULL,
               "nothing said for the superseded attempt 1");
    }

    /* ---- an input outside every announced path --------------------------------------------- */
    random_job_id(jid);
    send_job(jid, g_session, "{\"kind\":\"path\",\"path\":\"/elsewhere/a.mkv\"}", "{}");
    r = wait_msg(DCV_CMD_REJECT, jid, WAIT_MS);
    TAP_OK(r != NULL && strstr(r->body, "unsupported"), "a path outside the map: REJECT unsupported");

    /* ---- a corrupt input: REJECT input, not retryable -------------------------------------- */
    snprintf(path, sizeof path, "%s/garbage.mkv", media);
    f = fopen(path, "w");
    if (f) {
        for (int i = 0; i < 20000; i++)
            fputc((i * 7919) & 0xff, f);
        fclose(f);
    }
    random_job_id(jid);
    send_job(jid, g_session, "{\"kind\":\"path\",\"path\":\"/coord/media/garbage.mkv\"}", "{}");
    r = wait_msg(DCV_CMD_REJECT, jid, WAIT_MS);
    if (TAP_OK(r != NULL, "corrupt input: REJECT (before accept)")) {
        o = parse(r);
        TAP_IS_STR(jget_str(o, "code"), "input", "... code input");
        TAP_IS_INT(jget_bool(o, "retryable"), 0, "... not retryable");
        json_object_put(o);
    }

    /* ---- JOB.placement: exactly that device, or REJECT nodev -------------------------------- */
    {
        char body[4096];
        random_job_id(jid);
        snprintf(body, sizeof body,
                 "{\"job_id\":\"%s\",\"attempt\":1,\"session\":\"%s\","
                 "\"input\":{\"kind\":\"path\",\"path\":\"/coord/media/in.mkv\"},"
                 "\"profile\":{\"codec\":\"h264\",\"encoder\":\"x265\"},"
                 "\"placement\":{\"plugin\":\"nvenc\",\"device_id\":\"GPU-nothere\","
                 "\"codec\":\"h264\",\"encoder\":\"h264_nvenc\",\"hw\":true,\"fallback\":false}}",
                 jid, g_session);
        send_ctl(DCV_CMD_JOB, body);
        r = wait_msg(DCV_CMD_REJECT, jid, WAIT_MS);
        if (TAP_OK(r != NULL, "placement on a device this worker lacks: REJECT")) {
            o = parse(r);
            TAP_IS_STR(jget_str(o, "code"), "nodev", "... code nodev");
            TAP_IS_INT(jget_bool(o, "retryable"), 1, "... retryable (another worker may have it)");
            TAP_OK(strstr(jget_str(o, "message"), "placement") != NULL, "... says placement: %s",
                   jget_str(o, "message"));
            json_object_put(o);
        }
        /* The placement names the exact device; the job encodes there and
         * nowhere else (the coordinator counted the session there). */
        random_job_id(jid);
        snprintf(body, sizeof body,
                 "{\"job_id\":\"%s\",\"attempt\":1,\"session\":\"%s\","
                 "\"input\":{\"kind\":\"path\",\"path\":\"/coord/media/in.mkv\"},"
                 "\"profile\":{\"codec\":\"h264\",\"encoder\":\"sw\"},"
                 "\"placement\":{\"plugin\":\"x264\",\"device_id\":\"cpu\","
                 "\"codec\":\"h264\",\"encoder\":\"libx264\",\"hw\":false,\"fallback\":true}}",
                 jid, g_session);
        send_ctl(DCV_CMD_JOB, body);
        expect_done(jid, "placed job", "x264");
    }

    /* ---- shutdown: DISCONNECT ---------------------------------------------------------------- */
    T.alive = 0;
    dcv_worker_free(&w);
    TAP_OK(wait_msg(DCV_CMD_DISCONNECT, NULL, 10000) != NULL, "dcv_worker_free says DISCONNECT");

    /* ---- a job process that crashes ---------------------------------------------------------- */
    {
        char script[PATH_MAX + 32];
        snprintf(script, sizeof script, "%s/crash.sh", T.tmp);
        f = fopen(script, "w");
        if (!f)
            tap_bail("%s", script);
        fprintf(f, "#!/bin/sh\nkill -SEGV $$\n");
        fclose(f);
        chmod(script, 0755);
        wo.self_exe = script;
        T.have_peer = 0;
        TAP_IS_INT(dcv_worker_new(T.loop, T.net, conf, &wo, &w, err, sizeof err), 0,
                   "a second worker starts");
        r = wait_msg(DCV_CMD_HELLO, NULL, WAIT_MS);
        if (r) {
            struct dcv_proto_hello *h = calloc(1, sizeof *h);
            if (!h || dcv_proto_hello_from_json(r->body, r->len, h, err, sizeof err) < 0)
                tap_bail("bad HELLO: %s", err);
            TAP_OK(strcmp(h->session, g_session) != 0, "a new process start is a new session");
            snprintf(g_session, sizeof g_session, "%s", h->session);
            free(h);
            T.peer = r->peer;
            T.have_peer = 1;
            welcome();
            random_job_id(jid);
            send_job(jid, g_session, "{\"kind\":\"path\",\"path\":\"/coord/media/in.mkv\"}",
                     "{}");
            r = wait_msg(DCV_CMD_REJECT, jid, WAIT_MS);
            TAP_OK(r && strstr(r->body, "\"internal\"") && strstr(r->body, "signal 11"),
                   "a crashed job process: REJECT internal naming signal 11: %s",
                   r ? r->body : "(nothing)");
            TAP_OK(r && strstr(r->body, "\"retryable\":true"), "... retryable");
            T.alive = 0;
        } else {
            TAP_OK(0, "second worker HELLO");
        }
        dcv_worker_free(&w);
    }

    dcv_xsrv_free(&T.xsrv);
    dcv_sock_close(&T.ctl);
    dcv_sock_close(&T.data);
    dcv_net_close(&T.net);
    dcv_loop_destroy(&T.loop);
    dcv_conf_free(&conf);
    free(probe);
    for (size_t i = 0; i < T.n_msgs; i++)
        free(T.msgs[i].body);
    rm_rf(T.tmp);
    return tap_done();
}
