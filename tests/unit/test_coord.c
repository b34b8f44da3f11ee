/*
 * The coordinator service end to end in one process: dcv_coord on a real
 * loop with real transport-zmq (tcp://127.0.0.1:* and ipc://) and a real
 * SQLite store in a temp dir, driven by fake workers (control DEALERs
 * speaking the proto codec) and an admin DEALER. Data-plane clients block,
 * so they run in children: this program re-executed ("child MODE ..."),
 * reporting through a result file, while the parent keeps the loop turning.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "coordinator/coord.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "proto.h"
#include "tap.h"
#include "xfer/client.h"

#define HB 200 /* heartbeat_ms of the coordinator under test */

static char tmp[256], self_exe[PATH_MAX];
static struct dcv_loop *loop;
static struct dcv_net *net;
static struct dcv_conf *conf;
static struct dcv_coord *co;
static struct dcv_sock *adm;
static char err[1024];

#define DEVICE                                                                             \
    "{\"plugin\":\"x264\",\"available\":true,\"hardware\":false,"                          \
    "\"hw_type\":\"none\",\"device_id\":\"cpu\",\"device_name\":\"x264 (CPU)\","           \
    "\"max_sessions\":0,\"sessions_scope\":\"unlimited\",\"sessions_source\":\"none\","    \
    "\"flags\":[],\"unavailable_reason\":\"\",\"codecs\":[{\"codec\":\"h264\","            \
    "\"encoder\":\"libx264\",\"profiles\":\"high\",\"max_width\":16384,"                   \
    "\"max_height\":16384,\"bit_depths\":[8],\"pix_fmts\":[\"yuv420p\"]}]}"

/* ---- the loop ----------------------------------------------------------------- */

static void stop_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    (void)id;
    (void)arg;
    dcv_loop_stop(l);
}

static void spin(int ms)
{
    if (dcv_loop_add_timer(loop, (uint64_t)ms, 0, stop_cb, NULL, NULL, err, sizeof err) < 0 ||
        dcv_loop_run(loop, err, sizeof err) < 0)
        tap_bail("loop: %s", err);
}

/* ---- fake workers ------------------------------------------------------------------ */

struct msg {
    struct msg *next;
    int cmd;
    char *body;
};

struct fw {
    char id[32], session[40];
    struct dcv_sock *s;
    int alive;           /* sends heartbeats */
    uint64_t last_hb;
    struct msg *inbox;
};

#define MAX_FW 8
static struct fw *fws[MAX_FW];

static struct dcv_sock *dealer(enum dcv_proto_plane plane, const char *ep)
{
    struct dcv_sock_opts o = { 0 };
    struct dcv_sock *s = NULL;
    o.plane = plane;
    o.role = DCV_TX_CONNECT_DEALER;
    o.endpoint = ep;
    if (dcv_sock_open(net, &o, &s, err, sizeof err) < 0)
        tap_bail("dealer %s: %s", ep, err);
    return s;
}

static void sendj(struct dcv_sock *s, int cmd, const char *json)
{
    for (int i = 0; i < 200; i++) {
        int r = dcv_sock_send_json(s, NULL, cmd, json, err, sizeof err);
        if (r == 0)
            return;
        if (r != -EAGAIN)
            tap_bail("send: %s", err);
        spin(10);
    }
    tap_bail("send: peer never connected");
}

static void fw_recv_all(struct fw *w)
{
    struct dcv_proto_msg m;
    int r;
    while (w->s && (r = dcv_sock_recv(w->s, NULL, &m, err, sizeof err)) != -EAGAIN) {
        struct msg *x, **pp;
        if (r < 0)
            continue;
        if (m.cmd == DCV_CMD_HEARTBEAT)
            continue;
        if (!(x = calloc(1, sizeof *x)) || !(x->body = strndup(m.body, m.body_len)))
            tap_bail("oom");
        x->cmd = m.cmd;
        for (pp = &w->inbox; *pp; pp = &(*pp)->next)
            ;
        *pp = x;
    }
}

static void fw_heartbeat(struct fw *w)
{
    sendj(w->s, DCV_CMD_HEARTBEAT,
          "{\"telemetry\":{\"cpu_pct\":1,\"load1\":0.1,\"ncpu\":4,\"mem_total\":1000000000,"
          "\"mem_avail\":900000000,\"disk_total\":100000000000,\"disk_free\":50000000000,"
          "\"slots_used\":0,\"busy\":false,\"draining\":false,\"jobs\":[]}}");
    w->last_hb = dcv_loop_now_ms();
    if (getenv("DCV_TEST_DEBUG"))
        tap_diag("%s heartbeat", w->id);
}

/* Turn the loop for ms, letting every fake worker read and heartbeat. */
static void pump(int ms)
{
    uint64_t end = dcv_loop_now_ms() + (uint64_t)ms;
    do {
        spin(10);
        for (int i = 0; i < MAX_FW; i++) {
            struct fw *w = fws[i];
            if (!w || !w->s)
                continue;
            fw_recv_all(w);
            if (w->alive && dcv_loop_now_ms() - w->last_hb >= HB / 2)
                fw_heartbeat(w);
        }
    } while (dcv_loop_now_ms() < end);
}

static char *fw_take(struct fw *w, int cmd)
{
    for (struct msg **pp = &w->inbox, *x; (x = *pp); pp = &x->next)
        if (x->cmd == cmd) {
            char *b = x->body;
            *pp = x->next;
            free(x);
            return b;
        }
    return NULL;
}

static char *fw_wait(struct fw *w, int cmd, int timeout_ms)
{
    uint64_t end = dcv_loop_now_ms() + (uint64_t)timeout_ms;
    char *b;
    while (!(b = fw_take(w, cmd)) && dcv_loop_now_ms() < end)
        pump(20);
    return b;
}

static void fw_clear(struct fw *w)
{
    while (w->inbox) {
        struct msg *x = w->inbox;
        w->inbox = x->next;
        free(x->body);
        free(x);
    }
}

static struct fw *fw_hello_devs(const char *id, const char *session, int slots,
                                const char *paths, const char *running, const char *devices,
                                const char *extra, struct dcv_proto_welcome *wel)
{
    struct fw *w = calloc(1, sizeof *w);
    char hello[8192], *b;
    int i;

    if (!w)
        tap_bail("oom");
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->session, sizeof w->session, "%s", session);
    w->s = dealer(DCV_PLANE_CONTROL, dcv_coord_control_endpoint(co));
    for (i = 0; i < MAX_FW && fws[i]; i++)
        ;
    if (i == MAX_FW)
        tap_bail("too many fake workers");
    fws[i] = w;
    snprintf(hello, sizeof hello,
             "{\"worker_id\":\"%s\",\"session\":\"%s\",\"proto_min\":1,\"proto_max\":1,"
             "\"host\":\"boot-%s\",\"hostname\":\"box-%s\",\"version\":\"test\",\"slots\":%d,"
             "\"plugins\":[{\"name\":\"x264\",\"version\":\"1\",\"abi_minor\":0}],"
             "\"devices\":[%s],\"running\":%s%s%s%s%s}",
             id, session, id, id, slots, devices, running ? running : "[]",
             paths ? ",\"paths\":[\"" : "", paths ? paths : "", paths ? "\"]" : "",
             extra ? extra : "");
    sendj(w->s, DCV_CMD_HELLO, hello);
    if (!(b = fw_wait(w, DCV_CMD_WELCOME, 5000)))
        tap_bail("worker %s: no WELCOME", id);
    if (wel && dcv_proto_welcome_from_json(b, strlen(b), wel, err, sizeof err) < 0)
        tap_bail("WELCOME: %s", err);
    free(b);
    w->alive = 1;
    fw_heartbeat(w);
    return w;
}

static struct fw *fw_hello(const char *id, const char *session, int slots, const char *paths,
                           const char *running, struct dcv_proto_welcome *wel)
{
    return fw_hello_devs(id, session, slots, paths, running, DEVICE, NULL, wel);
}

static void fw_close(struct fw *w)
{
    /* a worker that shuts down says so (one try: the peer may be gone) */
    (void)dcv_sock_send_json(w->s, NULL, DCV_CMD_DISCONNECT, "{\"reason\":\"bye\"}", err, sizeof err);
    for (int i = 0; i < MAX_FW; i++)
        if (fws[i] == w)
            fws[i] = NULL;
    fw_clear(w);
    dcv_sock_close(&w->s);
    free(w);
}

/* Wait for a JOB and decode it. */
static int fw_job(struct fw *w, struct dcv_proto_job *job, int timeout_ms)
{
    char *b = fw_wait(w, DCV_CMD_JOB, timeout_ms);
    int r;
    if (!b)
        return -ETIMEDOUT;
    r = dcv_proto_job_from_json(b, strlen(b), job, err, sizeof err);
    if (r < 0)
        tap_diag("JOB: %s", err);
    free(b);
    return r;
}

static void fw_fenced(struct fw *w, int cmd, const char *job_id, int64_t attempt, const char *rest)
{
    char b[2048];
    snprintf(b, sizeof b, "{\"job_id\":\"%s\",\"attempt\":%" PRId64 ",\"session\":\"%s\"%s%s}",
             job_id, attempt, w->session, rest && *rest ? "," : "", rest ? rest : "");
    sendj(w->s, cmd, b);
}

/* ---- admin ---------------------------------------------------------------------- */

struct areply {
    int status;
    char error[1024];
    json_object *body;
};

static int admin(const char *verb, const char *args, const char *key, struct areply *rep)
{
    static int seq;
    char req[16384], id[32];
    uint64_t end;

    snprintf(id, sizeof id, "r%d", ++seq);
    snprintf(req, sizeof req, "{\"req_id\":\"%s\",\"verb\":\"%s\",\"args\":%s%s%s%s}", id, verb,
             args ? args : "{}", key ? ",\"idempotency_key\":\"" : "", key ? key : "",
             key ? "\"" : "");
    sendj(adm, DCV_CMD_REQUEST, req);
    memset(rep, 0, sizeof *rep);
    rep->status = -1;
    end = dcv_loop_now_ms() + 5000;
    while (dcv_loop_now_ms() < end) {
        struct dcv_proto_msg m;
        struct dcv_proto_reply r;
        pump(10);
        while (dcv_sock_recv(adm, NULL, &m, err, sizeof err) == 0) {
            memset(&r, 0, sizeof r);
            if (m.cmd != DCV_CMD_FINAL ||
                dcv_proto_final_from_json(m.body, m.body_len, &r, err, sizeof err) < 0)
                continue;
            if (strcmp(r.req_id, id) != 0) {
                dcv_proto_reply_clear(&r);
                continue;
            }
            rep->status = r.status;
            snprintf(rep->error, sizeof rep->error, "%s", r.error);
            rep->body = json_tokener_parse(r.body ? r.body : "{}");
            dcv_proto_reply_clear(&r);
            return rep->status;
        }
    }
    return -1;
}

static void areply_clear(struct areply *r)
{
    json_object_put(r->body);
    r->body = NULL;
}

/* body["a"]["b"] ... */
static json_object *jget(json_object *o, const char *path)
{
    char buf[256], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", path);
    for (tok = strtok_r(buf, ".", &save); o && tok; tok = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, tok, &o))
            return NULL;
    return o;
}

static const char *jstr(json_object *o, const char *path)
{
    json_object *v = jget(o, path);
    return v ? json_object_get_string(v) : "";
}

static int64_t jint(json_object *o, const char *path)
{
    json_object *v = jget(o, path);
    return v ? json_object_get_int64(v) : -1;
}

static char *status_of(const char *job_id, int64_t *attempt, char *state, size_t len)
{
    struct areply r;
    char args[128];
    snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", job_id);
    if (admin("status", args, NULL, &r) != 200)
        tap_bail("status %s: %d %s", job_id, r.status, r.error);
    snprintf(state, len, "%s", jstr(r.body, "state"));
    if (attempt)
        *attempt = jint(r.body, "attempt");
    areply_clear(&r);
    return state;
}

/* Extra profile keys for submit_path (",\"encoder\":\"hw\""), "" normally. */
static const char *submit_profile = "";
static const char *submit_codec = "h264";

/* Submit a path input; returns the status, the job id in id. */
static int submit_path(const char *path, const char *extra, const char *key, char id[40],
                       struct areply *out)
{
    char args[4096];
    struct areply r;
    int st;
    snprintf(args, sizeof args,
             "{\"profile\":{\"codec\":\"%s\",\"crf\":23%s},\"input\":{\"kind\":\"path\","
             "\"source\":\"%s\"}%s}",
             submit_codec, submit_profile, path, extra ? extra : "");
    st = admin("submit", args, key, &r);
    if (id)
        snprintf(id, 40, "%s", jstr(r.body, "job_id"));
    if (out)
        *out = r;
    else
        areply_clear(&r);
    return st;
}

/* ---- children: blocking data-plane clients ---------------------------------------------- */

static int child_main(int argc, char **argv)
{
    /* child MODE DATA_EP RESULT_FILE FILE XFER SIZE SHA [JOB ATTEMPT SESSION] */
    struct dcv_xcli_params p = { .timeout_ms = 10000 };
    struct dcv_proto_fence fence, *fp = NULL;
    struct dcv_proto_blob b;
    struct dcv_xcli *c = NULL;
    char e[1024] = "";
    const char *mode = argv[2];
    FILE *res;
    int fd, r = -EINVAL, code = -1;

    if (argc < 9)
        return 2;
    memset(&b, 0, sizeof b);
    b.xfer_id = strtoll(argv[6], NULL, 10);
    b.size = strtoll(argv[7], NULL, 10);
    snprintf(b.sha256, sizeof b.sha256, "%s", strcmp(argv[8], "-") ? argv[8] : "");
    if (argc >= 12) {
        memset(&fence, 0, sizeof fence);
        snprintf(fence.job_id, sizeof fence.job_id, "%s", argv[9]);
        fence.attempt = strtoll(argv[10], NULL, 10);
        snprintf(fence.session, sizeof fence.session, "%s", argv[11]);
        fp = &fence;
    }
    if ((r = dcv_net_open(getenv("DISTCONV_PLUGIN_DIR"), "zmq", NULL, &net, e, sizeof e)) < 0 ||
        (r = dcv_xcli_open(net, argv[3], &p, &c, e, sizeof e)) < 0)
        goto done;
    if (strcmp(mode, "upload") == 0 || strcmp(mode, "output") == 0) {
        if ((fd = open(argv[5], O_RDONLY)) < 0) {
            r = -errno;
            goto done;
        }
        b.sha256[0] = '\0';
        b.size = -1;
        r = dcv_xcli_send_file(c, strcmp(mode, "upload") == 0 ? DCV_PURPOSE_UPLOAD : DCV_PURPOSE_OUTPUT,
                               fp, fd, &b, NULL, NULL, &code, e, sizeof e);
        close(fd);
    } else {
        if ((fd = open(argv[5], O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0) {
            r = -errno;
            goto done;
        }
        r = dcv_xcli_fetch_file(c, strcmp(mode, "input") == 0 ? DCV_PURPOSE_INPUT : DCV_PURPOSE_DOWNLOAD,
                                fp, &b, fd, NULL, NULL, &code, e, sizeof e);
        close(fd);
    }
done:
    dcv_xcli_close(&c);
    dcv_net_close(&net);
    if ((res = fopen(argv[4], "w"))) {
        fprintf(res, "%d %" PRId64 " %" PRId64 " %s %d %s\n", r, b.xfer_id, b.size,
                b.sha256[0] ? b.sha256 : "-", code, e);
        fclose(res);
    }
    return r == 0 ? 0 : 1;
}

struct cres {
    int rc, code;
    int64_t xfer_id, size;
    char sha[80];
    char err[1024];
};

/* Run a child while the loop turns; its result line into *res. */
static int run_child(const char *mode, const char *file, int64_t xfer, int64_t size,
                     const char *sha, const char *job, int64_t attempt, const char *session,
                     struct cres *res)
{
    char rf[512], xs[32], ss[32], as[32];
    pid_t pid;
    int st = 0;
    FILE *f;
    uint64_t end;

    snprintf(rf, sizeof rf, "%s/child.out", tmp);
    unlink(rf);
    snprintf(xs, sizeof xs, "%" PRId64, xfer);
    snprintf(ss, sizeof ss, "%" PRId64, size);
    snprintf(as, sizeof as, "%" PRId64, attempt);
    fflush(stdout);
    if ((pid = fork()) < 0)
        tap_bail("fork");
    if (pid == 0) {
        char *args[] = { self_exe, (char *)"child", (char *)mode,
                         (char *)dcv_coord_data_endpoint(co), rf, (char *)file, xs, ss,
                         (char *)(sha && *sha ? sha : "-"), (char *)job, as, (char *)session, NULL };
        if (!job)
            args[9] = NULL;
        execv(self_exe, args);
        _exit(127);
    }
    end = dcv_loop_now_ms() + 30000;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (dcv_loop_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        pump(10);
    }
    memset(res, 0, sizeof *res);
    res->rc = -9999;
    if ((f = fopen(rf, "r"))) {
        if (fscanf(f, "%d %" SCNd64 " %" SCNd64 " %79s %d %1023[^\n]", &res->rc, &res->xfer_id,
                   &res->size, res->sha, &res->code, res->err) < 5)
            res->rc = -9998;
        fclose(f);
    }
    return res->rc;
}

static void sha_file(const char *path, char sha[65], int64_t *size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 || dcv_xcli_sha256_fd(fd, size, sha, err, sizeof err) < 0)
        tap_bail("sha256 %s: %s", path, err);
    close(fd);
}

static void write_file(const char *path, size_t n, unsigned seed)
{
    FILE *f = fopen(path, "w");
    if (!f)
        tap_bail("create %s", path);
    for (size_t i = 0; i < n; i++)
        fputc((int)((i * 2654435761u + seed) >> 13) & 0xff, f);
    fclose(f);
}

/* ---- setup ------------------------------------------------------------------------------- */

static void start_coord(void)
{
    if (dcv_coord_new(loop, net, conf, &co, err, sizeof err) < 0)
        tap_bail("dcv_coord_new: %s", err);
    adm = dealer(DCV_PLANE_ADMIN, dcv_coord_admin_endpoint(co));
}

static void stop_coord(void)
{
    dcv_sock_close(&adm);
    dcv_coord_free(&co);
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    char path[512], cmd[1024];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s/dcv-coord-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp))
        tap_bail("mkdtemp");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/shared/sub' '%s/outside'", tmp, tmp);
    if (system(cmd) != 0)
        tap_bail("mkdir");
    snprintf(path, sizeof path, "%s/coord.conf", tmp);
    if (!(f = fopen(path, "w")))
        tap_bail("conf");
    fprintf(f,
            "role = \"coordinator\";\n"
            "state_dir = \"%s/state\";\n"
            "bind = \"tcp://127.0.0.1:*\";\n"
            "data_bind = \"tcp://127.0.0.1:*\";\n"
            "admin = \"ipc://%s/state/admin.sock\";\n"
            "shared_roots = [ \"%s/shared\" ];\n"
            "liveness = { heartbeat_ms = %d; misses = 3; };\n"
            "transfer = { chunk_size = 65536; credit_chunks = 4; };\n"
            /* Requeued attempts run again at once here: the retry back-off
             * has its own tests (test_backoff, faults-worker.sh). */
            "queue = { retry_backoff_ms = 0; };\n",
            tmp, tmp, tmp, HB);
    fclose(f);
    if (dcv_conf_load(&conf, path, 1, err, sizeof err) < 0)
        tap_bail("config: %s", err);
    dcv_log_setup(getenv("DCV_TEST_DEBUG") ? DCV_LOG_TRACE : DCV_LOG_ERROR, DCV_LOG_TEXT,
                  DCV_LOG_STDERR, "test_coord");
    if (dcv_loop_new(&loop, err, sizeof err) < 0)
        tap_bail("loop: %s", err);
    if (dcv_net_open(getenv("DISTCONV_PLUGIN_DIR"), "zmq", conf, &net, err, sizeof err) < 0)
        tap_bail("net: %s", err);
    start_coord();
}

/* ---- scenarios ------------------------------------------------------------------------------ */

static char in_path[512], in_sha[65];
static int64_t in_size;

static void test_info_and_errors(void)
{
    struct areply r;
    char p[600], args[1024];
    int st;

    st = admin("info", NULL, NULL, &r);
    TAP_IS_INT(st, 200, "info answers");
    TAP_IS_STR(jstr(r.body, "data_endpoint"), dcv_coord_data_endpoint(co),
               "info: the data endpoint as the client reaches it");
    TAP_OK(strlen(jstr(r.body, "coordinator_epoch")) > 0 && strlen(jstr(r.body, "version")) > 0,
           "info: epoch and version");
    areply_clear(&r);

    st = admin("status", "{\"job_id\":\"0123456789abcdef0123456789abcdef\"}", NULL, &r);
    TAP_IS_INT(st, 404, "status of an unknown job: 404");
    TAP_HAS_STR(r.error, "no job", "404 names the job");
    areply_clear(&r);
    TAP_IS_INT(admin("cancel", "{\"job_id\":\"0123456789abcdef0123456789abcdef\"}", NULL, &r), 404,
               "cancel of an unknown job: 404");
    areply_clear(&r);
    TAP_IS_INT(admin("worker", "{\"worker_id\":\"nobody\"}", NULL, &r), 404, "unknown worker: 404");
    areply_clear(&r);
    TAP_IS_INT(admin("drain", "{\"worker_id\":\"nobody\"}", NULL, &r), 404, "drain unknown worker: 404");
    areply_clear(&r);

    snprintf(args, sizeof args,
             "{\"profile\":{\"codec\":\"h264\",\"crf\":\"abc\"},\"input\":{\"kind\":\"path\",\"source\":\"%s\"}}",
             in_path);
    TAP_IS_INT(admin("submit", args, NULL, &r), 400, "bad profile value: 400");
    TAP_HAS_STR(r.error, "crf", "the error names the option");
    areply_clear(&r);
    snprintf(args, sizeof args,
             "{\"profile\":{\"codec\":\"h264\",\"bogus\":1},\"input\":{\"kind\":\"path\",\"source\":\"%s\"}}",
             in_path);
    TAP_IS_INT(admin("submit", args, NULL, &r), 400, "unknown profile option: 400");
    TAP_HAS_STR(r.error, "bogus", "the error names the unknown option");
    areply_clear(&r);

    snprintf(p, sizeof p, "%s/outside/x.bin", tmp);
    write_file(p, 100, 1);
    TAP_IS_INT(submit_path(p, NULL, NULL, NULL, &r), 403, "path outside the shared roots: 403");
    TAP_HAS_STR(r.error, "outside the shared roots", "and says why");
    areply_clear(&r);
    /* a symlink inside the root pointing out of it is outside too */
    snprintf(args, sizeof args, "%s/shared/link.bin", tmp);
    if (symlink(p, args) == 0) {
        TAP_IS_INT(submit_path(args, NULL, NULL, NULL, &r), 403, "symlink out of the root: 403");
        areply_clear(&r);
    }
    snprintf(p, sizeof p, "%s/shared/missing.bin", tmp);
    TAP_IS_INT(submit_path(p, NULL, NULL, NULL, &r), 400, "missing path: 400");
    areply_clear(&r);
    /* URL inputs: the scheme must be on inputs.url_protocols (http, https) */
    TAP_IS_INT(admin("submit",
                     "{\"profile\":{\"codec\":\"h264\"},\"input\":{\"kind\":\"url\",\"source\":\"ftp://x/y\"}}",
                     NULL, &r), 403, "url input, ftp: 403");
    TAP_HAS_STR(r.error, "not allowed (inputs.url_protocols: http, https)", "url: names the list");
    areply_clear(&r);
    TAP_IS_INT(admin("submit",
                     "{\"profile\":{\"codec\":\"h264\"},\"input\":{\"kind\":\"url\",\"source\":\"file:///etc/passwd\"}}",
                     NULL, &r), 403, "url input, file: 403");
    TAP_HAS_STR(r.error, "never allowed", "url: file is never allowed");
    areply_clear(&r);
    TAP_IS_INT(admin("submit",
                     "{\"profile\":{\"codec\":\"h264\"},\"input\":{\"kind\":\"upload\",\"xfer_id\":12345,"
                     "\"size\":10,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}}",
                     NULL, &r), 400, "uncommitted upload: 400");
    TAP_HAS_STR(r.error, "not committed", "upload: says not committed");
    areply_clear(&r);
    TAP_IS_INT(admin("jobs", NULL, NULL, &r), 200, "jobs list");
    TAP_IS_INT(jint(r.body, "total"), 0, "no job was created by the refused submits");
    areply_clear(&r);
}

static struct fw *w1, *w2;
static char job_a[40];

static void test_hello_submit_fail_retry(void)
{
    struct dcv_proto_welcome wel;
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    struct areply r;
    char id2[40], state[32], *b;
    int64_t attempt;

    w1 = fw_hello("w1", "s1a", 1, NULL, NULL, &wel);
    TAP_IS_STR(wel.session, "s1a", "WELCOME echoes the session");
    TAP_IS_INT(wel.hb_ivl_ms, HB, "WELCOME.hb_ivl_ms = heartbeat_ms");
    TAP_IS_INT(wel.liveness, 3, "WELCOME.liveness");
    TAP_IS_INT(wel.chunk_max, 65536, "WELCOME.chunk_max = transfer.chunk_size");
    TAP_IS_INT(wel.credit_chunks, 4, "WELCOME.credit_chunks");
    TAP_IS_STR(wel.data_endpoint, dcv_coord_data_endpoint(co), "WELCOME.data_endpoint = bound data endpoint");
    TAP_OK(strlen(wel.coordinator_epoch) > 0, "WELCOME.coordinator_epoch");

    TAP_IS_INT(admin("workers", NULL, NULL, &r), 200, "workers");
    TAP_IS_STR(jstr(json_object_array_get_idx(jget(r.body, "workers"), 0), "state"), "online", "w1 online");
    areply_clear(&r);

    /* idempotent submit */
    TAP_IS_INT(submit_path(in_path, NULL, "key-1", job_a, &r), 200, "submit (path input)");
    TAP_OK(jget(r.body, "created") && json_object_get_boolean(jget(r.body, "created")), "created: true");
    areply_clear(&r);
    TAP_IS_INT(submit_path(in_path, NULL, "key-1", id2, &r), 200, "submit again with the same key");
    TAP_IS_STR(id2, job_a, "same key: same job");
    TAP_OK(jget(r.body, "created") && !json_object_get_boolean(jget(r.body, "created")), "created: false");
    areply_clear(&r);
    TAP_IS_INT(admin("jobs", NULL, NULL, &r), 200, "jobs");
    TAP_IS_INT(jint(r.body, "total"), 1, "one job for two submits");
    areply_clear(&r);

    /* dispatched to w1: not a path it reads, so over the data plane */
    TAP_IS_INT(fw_job(w1, job, 5000), 0, "w1 gets a JOB");
    TAP_IS_STR(job->fence.job_id, job_a, "JOB.job_id");
    TAP_IS_INT(job->fence.attempt, 1, "JOB.attempt 1");
    TAP_IS_STR(job->fence.session, "s1a", "JOB.session = the worker's");
    TAP_IS_INT(job->input.kind, DCV_INPUT_XFER, "input kind xfer (w1 has no paths)");
    TAP_IS_INT(job->input.blob.size, in_size, "input size");
    TAP_IS_STR(job->input.blob.sha256, in_sha, "input sha256 computed by the coordinator");
    TAP_IS_INT(job->input.mode, DCV_FETCH_COPY, "mode copy (room on the worker)");
    TAP_IS_STR(job->input.name, "in.bin", "input name");
    TAP_HAS_STR(job->profile, "\"codec\"", "profile travels");
    status_of(job_a, &attempt, state, sizeof state);
    TAP_IS_STR(state, "assigned", "status: assigned");

    fw_fenced(w1, DCV_CMD_ACCEPT, job_a, 1, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    fw_fenced(w1, DCV_CMD_PROGRESS, job_a, 1, "\"phase\":\"encode\",\"pct\":50");
    pump(100);
    {
        char args[128];
        snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", job_a);
        TAP_IS_INT(admin("status", args, NULL, &r), 200, "status");
        TAP_IS_STR(jstr(r.body, "state"), "running", "ACCEPT: running");
        TAP_IS_STR(jstr(r.body, "encoder.encoder"), "libx264", "status shows the encoder");
        TAP_IS_INT(jint(r.body, "progress.pct"), 50, "status shows the progress");
        TAP_IS_STR(jstr(r.body, "worker"), "w1", "status shows the worker");
        areply_clear(&r);
    }
    fw_fenced(w1, DCV_CMD_FAIL, job_a, 1, "\"code\":\"encode\",\"message\":\"boom\",\"retryable\":true");
    TAP_IS_INT(fw_job(w1, job, 5000), 0, "retryable FAIL: JOB again");
    TAP_IS_INT(job->fence.attempt, 2, "attempt 2");
    status_of(job_a, &attempt, state, sizeof state);
    TAP_OK(strcmp(state, "assigned") == 0 && attempt == 2, "status: assigned, attempt 2 (%s %" PRId64 ")",
           state, attempt);

    /* stale messages of attempt 1 change nothing */
    fw_fenced(w1, DCV_CMD_PROGRESS, job_a, 1, "\"phase\":\"encode\",\"pct\":99");
    fw_fenced(w1, DCV_CMD_DONE, job_a, 1,
              "\"output\":{\"xfer_id\":7,\"size\":1,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}");
    fw_fenced(w1, DCV_CMD_FAIL, job_a, 1, "\"code\":\"encode\",\"message\":\"late\",\"retryable\":false");
    pump(200);
    status_of(job_a, &attempt, state, sizeof state);
    TAP_OK(strcmp(state, "assigned") == 0 && attempt == 2,
           "stale PROGRESS/DONE/FAIL of attempt 1 ignored (%s %" PRId64 ")", state, attempt);
    b = fw_take(w1, DCV_CMD_DISCONNECT);
    TAP_OK(b == NULL, "stale messages are not answered with DISCONNECT");
    free(b);
    fw_fenced(w1, DCV_CMD_ACCEPT, job_a, 2, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    pump(50);
    free(job);
}

static void test_worker_lost(void)
{
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    struct areply r;
    char paths[600], state[32];
    int64_t attempt;

    snprintf(paths, sizeof paths, "%s/shared", tmp);
    w2 = fw_hello("w2", "s2a", 1, paths, NULL, NULL);
    pump(100);
    TAP_OK(fw_take(w2, DCV_CMD_JOB) == NULL, "w2 gets nothing while w1 holds the only job");
    w1->alive = 0; /* w1 goes silent */
    TAP_IS_INT(fw_job(w2, job, 5000), 0, "silent w1: its job goes to w2");
    TAP_IS_STR(job->fence.job_id, job_a, "the same job");
    TAP_IS_INT(job->fence.attempt, 3, "with attempt+1");
    TAP_IS_INT(job->input.kind, DCV_INPUT_PATH, "w2 reads the shared root: input kind path");
    TAP_HAS_STR(job->input.path, "/shared/in.bin", "JOB.input.path");
    status_of(job_a, &attempt, state, sizeof state);
    TAP_OK(strcmp(state, "assigned") == 0 && attempt == 3, "status: attempt 3");
    {
        char args[128];
        snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", job_a);
        admin("status", args, NULL, &r);
        TAP_IS_STR(jstr(r.body, "worker"), "w2", "held by w2 now");
        json_object *at = jget(r.body, "attempts");
        TAP_OK(at && json_object_array_length(at) == 3, "three attempts recorded");
        TAP_IS_STR(jstr(json_object_array_get_idx(at, 1), "outcome"), "worker-lost",
                   "attempt 2 ended: worker-lost");
        areply_clear(&r);
    }
    TAP_IS_INT(admin("worker", "{\"worker_id\":\"w1\"}", NULL, &r), 200, "worker w1");
    TAP_IS_STR(jstr(r.body, "state"), "offline", "w1 offline");
    areply_clear(&r);
    TAP_IS_INT(admin("worker", "{\"worker_id\":\"w2\"}", NULL, &r), 200, "worker w2");
    TAP_IS_INT(jint(r.body, "slots_used"), 1, "w2: one slot used");
    TAP_IS_STR(jstr(r.body, "plugins.0") , "", "(plugins is an array)");
    TAP_OK(json_object_array_length(jget(r.body, "devices")) == 1, "w2: devices listed");
    areply_clear(&r);
    fw_close(w1);
    w1 = NULL;
    /* end it: a permanent failure */
    fw_fenced(w2, DCV_CMD_ACCEPT, job_a, 3, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    fw_fenced(w2, DCV_CMD_FAIL, job_a, 3, "\"code\":\"input\",\"message\":\"bad input\",\"retryable\":false");
    pump(100);
    status_of(job_a, NULL, state, sizeof state);
    TAP_IS_STR(state, "failed", "non-retryable FAIL: failed");
    free(job);
}

static void test_drain_cancel(void)
{
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    struct areply r;
    char id[40], state[32], *b, args[128];

    TAP_IS_INT(admin("drain", "{\"worker_id\":\"w2\"}", NULL, &r), 200, "drain w2");
    TAP_OK(jget(r.body, "draining") && json_object_get_boolean(jget(r.body, "draining")), "reply: draining");
    areply_clear(&r);
    b = fw_wait(w2, DCV_CMD_DRAIN, 2000);
    TAP_HAS_STR(b, "true", "w2 receives DRAIN {draining: true}");
    free(b);
    TAP_IS_INT(submit_path(in_path, NULL, NULL, id, NULL), 200, "submit while drained");
    pump(5 * HB);
    b = fw_take(w2, DCV_CMD_JOB);
    TAP_OK(b == NULL, "a draining worker gets no JOB");
    free(b);
    status_of(id, NULL, state, sizeof state);
    TAP_IS_STR(state, "queued", "the job waits");
    TAP_IS_INT(admin("undrain", "{\"worker_id\":\"w2\"}", NULL, &r), 200, "undrain w2");
    areply_clear(&r);
    b = fw_wait(w2, DCV_CMD_DRAIN, 2000);
    TAP_HAS_STR(b, "false", "w2 receives DRAIN {draining: false}");
    free(b);
    TAP_IS_INT(fw_job(w2, job, 5000), 0, "undrained: JOB arrives");
    TAP_IS_STR(job->fence.job_id, id, "the waiting job");
    fw_fenced(w2, DCV_CMD_ACCEPT, id, 1, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    pump(50);
    snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", id);
    TAP_IS_INT(admin("cancel", args, NULL, &r), 200, "cancel");
    TAP_IS_STR(jstr(r.body, "state"), "cancelled", "reply: cancelled");
    areply_clear(&r);
    b = fw_wait(w2, DCV_CMD_CANCEL, 2000);
    {
        struct dcv_proto_cancel cm;
        TAP_OK(b && dcv_proto_cancel_from_json(b, strlen(b), &cm, err, sizeof err) == 0 &&
                   strcmp(cm.fence.job_id, id) == 0 && cm.fence.attempt == 1 &&
                   strcmp(cm.fence.session, "s2a") == 0,
               "w2 receives CANCEL with the attempt's fence");
    }
    free(b);
    fw_fenced(w2, DCV_CMD_FAIL, id, 1, "\"code\":\"cancelled\",\"message\":\"cancelled\",\"retryable\":false");
    pump(100);
    status_of(id, NULL, state, sizeof state);
    TAP_IS_STR(state, "cancelled", "FAIL cancelled after CANCEL changes nothing");
    TAP_IS_INT(admin("cancel", args, NULL, &r), 200, "cancel again (a CLI retry) is fine");
    areply_clear(&r);
    TAP_IS_INT(admin("get", args, NULL, &r), 404, "get output of a cancelled job: 404");
    TAP_HAS_STR(r.error, "cancelled", "and says its state");
    areply_clear(&r);
    free(job);
}

static void test_priorities(void)
{
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    struct areply r;
    char lo[40], n0[40], n10[40], hi[40];
    const char *want[4] = { hi, n10, n0, lo };
    const char *names[4] = { "high", "normal +10", "normal 0", "low" };

    admin("drain", "{\"worker_id\":\"w2\"}", NULL, &r);
    areply_clear(&r);
    pump(50);
    fw_clear(w2);
    submit_path(in_path, ",\"prio_class\":\"low\"", NULL, lo, NULL);
    submit_path(in_path, NULL, NULL, n0, NULL);
    submit_path(in_path, ",\"priority\":10", NULL, n10, NULL);
    submit_path(in_path, ",\"prio_class\":\"high\",\"priority\":-5", NULL, hi, NULL);
    admin("undrain", "{\"worker_id\":\"w2\"}", NULL, &r);
    areply_clear(&r);
    for (int i = 0; i < 4; i++) {
        char m[80];
        int ok = fw_job(w2, job, 5000) == 0;
        snprintf(m, sizeof m, "dispatch order %d: %s", i + 1, names[i]);
        TAP_OK(ok && strcmp(job->fence.job_id, want[i]) == 0, "%s", m);
        if (!ok)
            break;
        fw_fenced(w2, DCV_CMD_REJECT, job->fence.job_id, job->fence.attempt,
                  "\"code\":\"unsupported\",\"message\":\"no\",\"retryable\":true");
        /* a retryable REJECT spends the attempt and requeues (a final one
         * fails the job at once); fail it for good to move on */
        if (fw_job(w2, job, 5000) == 0)
            fw_fenced(w2, DCV_CMD_FAIL, job->fence.job_id, job->fence.attempt,
                      "\"code\":\"unsupported\",\"message\":\"no\",\"retryable\":false");
    }
    pump(100);
    TAP_IS_INT(admin("jobs", "{\"state\":\"failed\",\"limit\":2}", NULL, &r), 200, "jobs state=failed limit 2");
    TAP_IS_INT(json_object_array_length(jget(r.body, "jobs")), 2, "limit caps the list");
    TAP_IS_INT(jint(r.body, "total"), 5, "total counts every failed job");
    areply_clear(&r);
    free(job);
}

static void test_busy_reject(void)
{
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    char id[40], state[32];
    int64_t attempt;

    submit_path(in_path, NULL, NULL, id, NULL);
    TAP_IS_INT(fw_job(w2, job, 5000), 0, "JOB");
    fw_fenced(w2, DCV_CMD_REJECT, id, 1, "\"code\":\"busy\",\"message\":\"no session\",\"retryable\":true");
    TAP_IS_INT(fw_job(w2, job, 5000), 0, "busy REJECT: JOB again");
    TAP_IS_INT(job->fence.attempt, 1, "busy keeps the attempt number");
    fw_fenced(w2, DCV_CMD_ACCEPT, id, 1, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    fw_fenced(w2, DCV_CMD_FAIL, id, 1, "\"code\":\"encode\",\"message\":\"x\",\"retryable\":false");
    pump(100);
    status_of(id, &attempt, state, sizeof state);
    TAP_OK(strcmp(state, "failed") == 0 && attempt == 1, "then failed on attempt 1");
    free(job);
}


/* A worker with one hardware "GPU" (1 session, per device) and x265: hevc
 * only, so the h264 jobs other scenarios leave queued never reach it. */
#define HEVC_DEVICE(plugin, hw, hwtype, id, max, scope, enc)                               \
    "{\"plugin\":\"" plugin "\",\"available\":true,\"hardware\":" hw ","                   \
    "\"hw_type\":\"" hwtype "\",\"device_id\":\"" id "\",\"device_name\":\"test\","        \
    "\"max_sessions\":" max ",\"sessions_scope\":\"" scope "\",\"sessions_source\":\"probed\"," \
    "\"flags\":[],\"unavailable_reason\":\"\",\"codecs\":[{\"codec\":\"hevc\","            \
    "\"encoder\":\"" enc "\",\"profiles\":\"main\",\"max_width\":8192,"                    \
    "\"max_height\":8192,\"bit_depths\":[8],\"pix_fmts\":[\"yuv420p\"]}]}"
#define GPU_DEVICE HEVC_DEVICE("nvenc", "true", "cuda", "GPU-t1", "1", "per-device", "hevc_nvenc")
#define X265_DEVICE HEVC_DEVICE("x265", "false", "none", "cpu", "0", "unlimited", "libx265")

/* The history note of the newest entry whose note contains `needle`, or "". */
static int history_has(const char *id, const char *needle)
{
    struct areply r;
    char args[128];
    json_object *h;
    int found = 0;
    snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", id);
    if (admin("status", args, NULL, &r) != 200)
        return 0;
    h = jget(r.body, "history");
    for (size_t i = 0; h && i < json_object_array_length(h); i++) {
        const char *n = jstr(json_object_array_get_idx(h, i), "note");
        if (n && strstr(n, needle))
            found = 1;
    }
    if (!found)
        tap_diag("history of %s lacks '%s': %s", id, needle,
                 json_object_to_json_string(jget(r.body, "history")));
    areply_clear(&r);
    return found;
}

static const char *error_of(const char *id, char *buf, size_t len)
{
    struct areply r;
    char args[128];
    snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", id);
    buf[0] = '\0';
    if (admin("status", args, NULL, &r) == 200 && jstr(r.body, "error"))
        snprintf(buf, len, "%s", jstr(r.body, "error"));
    areply_clear(&r);
    return buf;
}

static void test_gpu_policies(void)
{
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    struct areply r;
    struct fw *g;
    char a[40], b[40], c[40], d[40], state[32], e[1024];
    int64_t attempt;

    /* Only the GPU worker takes work in this scenario. */
    admin("drain", "{\"worker_id\":\"w2\"}", NULL, &r);
    areply_clear(&r);
    g = fw_hello_devs("g1", "5e55105e55105e55105e55105e551001", 4, NULL, NULL,
                      GPU_DEVICE "," X265_DEVICE, ",\"max_gpu_jobs\":2", NULL);
    submit_codec = "hevc";

    /* auto: hardware first, and the JOB says exactly where. */
    submit_path(in_path, NULL, NULL, a, NULL);
    TAP_IS_INT(fw_job(g, job, 5000), 0, "GPU job: JOB");
    TAP_OK(job->has_placement, "JOB carries a placement");
    TAP_IS_STR(job->placement.plugin, "nvenc", "placement plugin");
    TAP_IS_STR(job->placement.device_id, "GPU-t1", "placement device");
    TAP_IS_STR(job->placement.encoder, "hevc_nvenc", "placement encoder");
    TAP_OK(job->placement.hw && !job->placement.fallback, "placement: hardware, no fallback");
    TAP_OK(history_has(a, "assigned to g1: hevc_nvenc on GPU-t1"), "history names the device");
    fw_fenced(g, DCV_CMD_ACCEPT, a, 1, "\"plugin\":\"nvenc\",\"encoder\":\"hevc_nvenc\",\"device_id\":\"GPU-t1\"");

    /* The GPU's one session is taken: the default policy falls back. */
    submit_path(in_path, NULL, NULL, b, NULL);
    TAP_IS_INT(fw_job(g, job, 5000), 0, "fallback: JOB at once");
    TAP_IS_STR(job->fence.job_id, b, "fallback: the second job");
    TAP_IS_STR(job->placement.plugin, "x265", "fallback: software plugin");
    TAP_OK(!job->placement.hw && job->placement.fallback, "fallback flagged in the placement");
    fw_fenced(g, DCV_CMD_ACCEPT, b, 1, "\"plugin\":\"x265\",\"encoder\":\"libx265\",\"device_id\":\"cpu\"");
    TAP_OK(history_has(b, "fallback to x265 (libx265): no GPU session free (GPU-t1 sessions 1/1)"),
           "fallback explained in the history");

    /* reject: fails at once, naming the GPU and its count. */
    submit_profile = ",\"gpu-policy\":\"reject\"";
    submit_path(in_path, NULL, NULL, c, NULL);
    pump(300);
    status_of(c, NULL, state, sizeof state);
    TAP_IS_STR(state, "failed", "reject: failed at once");
    TAP_HAS_STR(error_of(c, e, sizeof e), "busy: no GPU encoder session free", "reject: code busy");
    TAP_HAS_STR(e, "GPU-t1 sessions 1/1", "reject: names the GPU");

    /* queue with a 1 s wait: waits, then times out. */
    submit_profile = ",\"gpu-policy\":\"queue\",\"gpu-wait\":1";
    submit_path(in_path, NULL, NULL, d, NULL);
    pump(300);
    status_of(d, NULL, state, sizeof state);
    TAP_IS_STR(state, "queued", "queue: waits for a session");
    TAP_OK(fw_take(g, DCV_CMD_JOB) == NULL, "queue: no JOB while the GPU is full");
    for (int i = 0; i < 40 && strcmp(status_of(d, NULL, state, sizeof state), "queued") == 0; i++)
        pump(100);
    TAP_IS_STR(state, "failed", "queue: failed after gpu-wait");
    TAP_HAS_STR(error_of(d, e, sizeof e),
                "timeout: no GPU encoder session became free within 1 s (GPU-t1 sessions 1/1)",
                "queue: timeout message");

    /* hw + fallback cannot work: refused at submit. */
    submit_profile = ",\"encoder\":\"hw\",\"gpu-policy\":\"fallback\"";
    TAP_IS_INT(submit_path(in_path, NULL, NULL, NULL, &r), 400, "hw + fallback refused at submit");
    TAP_HAS_STR(r.error, "fallback needs a job that may run in software", "and says why");
    areply_clear(&r);
    submit_profile = "";
    submit_codec = "h264";

    /* -EBUSY at open: the attempt is not spent, the GPU counts as full at
     * what is left in use (0 after this job), so the job falls back. */
    fw_fenced(g, DCV_CMD_FAIL, b, 1, "\"code\":\"encode\",\"message\":\"x\",\"retryable\":false");
    fw_fenced(g, DCV_CMD_FAIL, a, 1,
              "\"code\":\"busy\",\"message\":\"nvenc: out of encoder sessions\",\"retryable\":true");
    TAP_IS_INT(fw_job(g, job, 5000), 0, "busy: JOB again");
    TAP_IS_STR(job->fence.job_id, a, "busy: the same job");
    TAP_IS_INT(job->fence.attempt, 1, "busy: attempt not spent");
    TAP_OK(job->placement.fallback && !job->placement.hw,
           "busy: the GPU is held full, so software this time");
    TAP_OK(history_has(a, "GPU-t1 sessions 0/0 (held after a refused session)"),
           "busy: the hold is in the note");
    fw_fenced(g, DCV_CMD_FAIL, a, 1, "\"code\":\"encode\",\"message\":\"x\",\"retryable\":false");
    pump(100);
    status_of(a, &attempt, state, sizeof state);
    TAP_OK(strcmp(state, "failed") == 0 && attempt == 1, "busy: done with on attempt 1");

    fw_close(g);
    admin("undrain", "{\"worker_id\":\"w2\"}", NULL, &r);
    areply_clear(&r);
    pump(100);
    fw_clear(w2);
    free(job);
}

static void test_garbage(void)
{
    struct dcv_sock *g = dealer(DCV_PLANE_CONTROL, dcv_coord_control_endpoint(co));
    struct dcv_sock *d = dealer(DCV_PLANE_DATA, dcv_coord_control_endpoint(co));
    struct dcv_proto_msg m;
    struct areply r;
    uint64_t end;
    int got = 0;
    char *b;

    sendj(g, DCV_CMD_HEARTBEAT, "{}");
    end = dcv_loop_now_ms() + 3000;
    while (!got && dcv_loop_now_ms() < end) {
        pump(20);
        while (dcv_sock_recv(g, NULL, &m, err, sizeof err) == 0)
            if (m.cmd == DCV_CMD_DISCONNECT) {
                got = 1;
                TAP_OK(m.body_len > 0 && memmem(m.body, m.body_len, "HELLO", 5) != NULL,
                       "message before HELLO: DISCONNECT says HELLO first");
            }
    }
    TAP_OK(got, "DISCONNECT to a peer that skipped HELLO");
    got = 0;
    sendj(g, DCV_CMD_HELLO, "{\"worker_id\":");
    end = dcv_loop_now_ms() + 3000;
    while (!got && dcv_loop_now_ms() < end) {
        pump(20);
        while (dcv_sock_recv(g, NULL, &m, err, sizeof err) == 0)
            got |= m.cmd == DCV_CMD_DISCONNECT;
    }
    TAP_OK(got, "garbage HELLO body: DISCONNECT");
    /* A frame set of another plane on the control socket. */
    sendj(d, DCV_CMD_ABORT, "{\"xfer_id\":1,\"code\":\"stale\",\"message\":\"x\"}");
    pump(100);
    /* A registered worker sending a malformed job message. */
    sendj(w2->s, DCV_CMD_ACCEPT, "{}");
    b = fw_wait(w2, DCV_CMD_DISCONNECT, 3000);
    TAP_OK(b != NULL, "malformed ACCEPT from a worker: DISCONNECT");
    free(b);
    dcv_sock_close(&g);
    dcv_sock_close(&d);
    TAP_IS_INT(admin("info", NULL, NULL, &r), 200, "the coordinator keeps working");
    areply_clear(&r);
    /* w2 says HELLO again (same session) and is back in business */
    fw_close(w2);
    {
        char paths[600];
        snprintf(paths, sizeof paths, "%s/shared", tmp);
        w2 = fw_hello("w2", "s2a", 1, paths, NULL, NULL);
    }
    TAP_IS_INT(admin("worker", "{\"worker_id\":\"w2\"}", NULL, &r), 200, "w2 again");
    TAP_IS_STR(jstr(r.body, "state"), "online", "w2 online after a new HELLO");
    areply_clear(&r);
}

static int make_media(const char *path, const char *size)
{
    const char *ff = getenv("DCV_FFMPEG");
    char cmd[2048];
    if (!ff || !*ff)
        return -1;
    snprintf(cmd, sizeof cmd,
             "'%s' -nostdin -v error -f lavfi -i testsrc=size=%s:rate=10 -t 1 -c:v mpeg4 "
             "-f matroska -y '%s'", ff, size, path);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_data_plane(void)
{
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    struct fw *w3;
    struct areply r;
    struct cres cr;
    char src[600], outp[600], got[600], sha[65], sha2[65], args[1024], id[40], state[32];
    char up_sha[80];
    int64_t sz, up_size, up_xfer;

    snprintf(src, sizeof src, "%s/src.mkv", tmp);
    snprintf(outp, sizeof outp, "%s/encoded.mkv", tmp);
    if (make_media(src, "160x120") < 0 || make_media(outp, "128x96") < 0) {
        tap_skip("no ffmpeg to make media", "data plane end to end");
        free(job);
        return;
    }
    /* w2 drained so the new worker without paths gets it over the data plane */
    admin("drain", "{\"worker_id\":\"w2\"}", NULL, &r);
    areply_clear(&r);
    w3 = fw_hello("w3", "s3a", 2, NULL, NULL, NULL);

    TAP_IS_INT(run_child("upload", src, 0, -1, NULL, NULL, 0, NULL, &cr), 0, "upload through the data plane");
    if (cr.rc != 0)
        tap_diag("upload: %s", cr.err);
    up_xfer = cr.xfer_id;
    up_size = cr.size;
    snprintf(up_sha, sizeof up_sha, "%s", cr.sha);
    sha_file(src, sha, &sz);
    TAP_OK(up_size == sz && strcmp(up_sha, sha) == 0, "upload: size and sha256 reported");
    {
        /* The same upload offered again (a client that lost the COMMIT) is
         * COMMITted from the blob it has, not received again from byte 0
         * into a new part that replaces it (issue 11 A11). */
        char blob[PATH_MAX];
        struct stat st1, st2;
        snprintf(blob, sizeof blob, "%s/state/blobs/uploads/%" PRId64, tmp, up_xfer);
        int have = stat(blob, &st1) == 0;
        TAP_IS_INT(run_child("upload", src, up_xfer, -1, NULL, NULL, 0, NULL, &cr), 0,
                   "the committed upload offered again succeeds");
        TAP_OK(have && stat(blob, &st2) == 0 && st1.st_ino == st2.st_ino &&
                   st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
                   st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec && cr.xfer_id == up_xfer,
               "... from the blob already there (same file, not received again)");
    }

    snprintf(args, sizeof args,
             "{\"profile\":{\"codec\":\"h264\",\"container\":\"mkv\"},\"input\":{\"kind\":\"upload\",\"xfer_id\":%" PRId64
             ",\"size\":%" PRId64 ",\"sha256\":\"%s\",\"name\":\"holiday.mp4\"}}",
             up_xfer, up_size, "1111111111111111111111111111111111111111111111111111111111111111");
    TAP_IS_INT(admin("submit", args, NULL, &r), 400, "upload with a wrong sha256: 400");
    TAP_HAS_STR(r.error, "does not match", "says it does not match");
    areply_clear(&r);
    snprintf(args, sizeof args,
             "{\"profile\":{\"codec\":\"h264\",\"container\":\"mkv\"},\"input\":{\"kind\":\"upload\",\"xfer_id\":%" PRId64
             ",\"size\":%" PRId64 ",\"sha256\":\"%s\",\"name\":\"holiday.mp4\"}}",
             up_xfer, up_size, up_sha);
    TAP_IS_INT(admin("submit", args, NULL, &r), 200, "submit the upload");
    snprintf(id, sizeof id, "%s", jstr(r.body, "job_id"));
    areply_clear(&r);

    TAP_IS_INT(fw_job(w3, job, 5000), 0, "w3 gets the JOB");
    TAP_OK(job->input.kind == DCV_INPUT_XFER && job->input.blob.size == up_size &&
               strcmp(job->input.blob.sha256, up_sha) == 0,
           "input: xfer with the upload's size and sha256");
    TAP_IS_STR(job->input.name, "holiday.mp4", "input name as submitted");
    fw_fenced(w3, DCV_CMD_ACCEPT, id, 1, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    pump(50);

    snprintf(got, sizeof got, "%s/fetched.mkv", tmp);
    TAP_IS_INT(run_child("input", got, job->input.blob.xfer_id, job->input.blob.size,
                         job->input.blob.sha256, id, 1, "s3a", &cr), 0, "fetch the input with the fence");
    if (cr.rc != 0)
        tap_diag("fetch: %s", cr.err);
    sha_file(got, sha2, &sz);
    TAP_IS_STR(sha2, up_sha, "fetched input is the upload");
    TAP_OK(run_child("input", got, job->input.blob.xfer_id, job->input.blob.size,
                     job->input.blob.sha256, id, 2, "s3a", &cr) != 0 && cr.code == DCV_CODE_STALE,
           "a fetch with a stale fence is refused (ABORT stale)");
    TAP_OK(run_child("output", outp, 0, -1, NULL, id, 7, "s3a", &cr) != 0 && cr.code == DCV_CODE_STALE,
           "an output with a stale fence is refused (ABORT stale)");

    TAP_IS_INT(run_child("output", outp, 0, -1, NULL, id, 1, "s3a", &cr), 0, "send the output with the fence");
    if (cr.rc != 0)
        tap_diag("output: %s", cr.err);
    {
        char rest[400];
        snprintf(rest, sizeof rest, "\"output\":{\"xfer_id\":%" PRId64 ",\"size\":%" PRId64
                 ",\"sha256\":\"%s\"},\"frames\":10,\"elapsed_ms\":5", cr.xfer_id, cr.size, cr.sha);
        fw_fenced(w3, DCV_CMD_DONE, id, 1, rest);
    }
    pump(200);
    snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", id);
    TAP_IS_INT(admin("status", args, NULL, &r), 200, "status");
    TAP_IS_STR(jstr(r.body, "state"), "done", "DONE with a committed, valid output: done");
    TAP_IS_STR(jstr(r.body, "output.name"), "holiday.mkv", "output name: input base + container");
    sha_file(outp, sha, &sz);
    TAP_IS_STR(jstr(r.body, "output.sha256"), sha, "output sha256");
    TAP_IS_STR(jstr(r.body, "encoder.encoder"), "libx264", "encoder kept for a done job");
    areply_clear(&r);

    TAP_IS_INT(admin("get", args, NULL, &r), 200, "get the output");
    {
        int64_t x = jint(r.body, "xfer_id"), s = jint(r.body, "size");
        snprintf(sha2, sizeof sha2, "%s", jstr(r.body, "sha256"));
        TAP_IS_STR(jstr(r.body, "name"), "holiday.mkv", "get: name");
        areply_clear(&r);
        snprintf(got, sizeof got, "%s/downloaded.mkv", tmp);
        TAP_IS_INT(run_child("download", got, x, s, sha2, NULL, 0, NULL, &cr), 0, "download it");
        if (cr.rc != 0)
            tap_diag("download: %s", cr.err);
        sha_file(got, sha2, &sz);
        TAP_IS_STR(sha2, sha, "downloaded = what the worker sent");
    }
    snprintf(args, sizeof args, "{\"job_id\":\"%s\",\"what\":\"input\"}", id);
    TAP_IS_INT(admin("get", args, NULL, &r), 200, "get the input");
    {
        int64_t x = jint(r.body, "xfer_id"), s = jint(r.body, "size");
        snprintf(sha2, sizeof sha2, "%s", jstr(r.body, "sha256"));
        areply_clear(&r);
        TAP_IS_INT(run_child("download", got, x, s, sha2, NULL, 0, NULL, &cr), 0, "download the input");
        sha_file(got, sha2, &sz);
        TAP_IS_STR(sha2, up_sha, "downloaded input = the upload");
    }

    /* An output that is not media fails verification and is retried. */
    submit_path(in_path, NULL, NULL, id, NULL);
    TAP_IS_INT(fw_job(w3, job, 5000), 0, "another JOB");
    fw_fenced(w3, DCV_CMD_ACCEPT, id, 1, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    pump(50);
    TAP_IS_INT(run_child("output", in_path, 0, -1, NULL, id, 1, "s3a", &cr), 0, "send a non-media output");
    {
        char rest[400];
        int64_t attempt;
        snprintf(rest, sizeof rest, "\"output\":{\"xfer_id\":%" PRId64 ",\"size\":%" PRId64 ",\"sha256\":\"%s\"}",
                 cr.xfer_id, cr.size, cr.sha);
        fw_fenced(w3, DCV_CMD_DONE, id, 1, rest);
        TAP_IS_INT(fw_job(w3, job, 5000), 0, "verification failed: JOB again");
        status_of(id, &attempt, state, sizeof state);
        TAP_IS_INT(attempt, 2, "on attempt 2");
        snprintf(args, sizeof args, "{\"job_id\":\"%s\"}", id);
        admin("status", args, NULL, &r);
        TAP_HAS_STR(jstr(r.body, "error"), "verify", "the error says verification failed");
        areply_clear(&r);
        fw_fenced(w3, DCV_CMD_DONE, id, 2, rest);
        pump(100);
        status_of(id, &attempt, state, sizeof state);
        TAP_IS_INT(attempt, 3, "DONE without a committed output: retried again");
        admin("cancel", args, NULL, &r);
        areply_clear(&r);
    }
    fw_close(w3);
    admin("undrain", "{\"worker_id\":\"w2\"}", NULL, &r);
    areply_clear(&r);
    free(job);
}

/* A coordinator restart: a held job survives and is re-attached by its
 * worker's HELLO; one whose worker never returns is requeued after grace. */
static void test_restart(void)
{
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    struct fw *w4, *w5;
    struct areply r;
    char ja[40], jb[40], state[32], running[256], *b;
    int64_t attempt;

    admin("drain", "{\"worker_id\":\"w2\"}", NULL, &r);
    areply_clear(&r);
    w4 = fw_hello("w4", "s4a", 1, NULL, NULL, NULL);
    submit_path(in_path, NULL, NULL, ja, NULL);
    TAP_IS_INT(fw_job(w4, job, 5000), 0, "w4 gets a JOB");
    TAP_IS_STR(job->fence.job_id, ja, "the new job");
    fw_fenced(w4, DCV_CMD_ACCEPT, ja, 1, "\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"");
    w5 = fw_hello("w5", "s5a", 1, NULL, NULL, NULL);
    submit_path(in_path, NULL, NULL, jb, NULL);
    TAP_IS_INT(fw_job(w5, job, 5000), 0, "w5 gets a JOB");
    pump(50);
    fw_close(w2);
    w2 = NULL;

    w4->alive = w5->alive = 0; /* nobody to heartbeat to */
    stop_coord();
    /* The goodbye DISCONNECT is best effort (it races the socket's close),
     * so it is not asserted; a worker notices the silence anyway. */
    b = fw_wait(w4, DCV_CMD_DISCONNECT, 300);
    tap_diag("shutdown DISCONNECT %s", b ? "received" : "not received");
    free(b);
    fw_close(w4);
    fw_close(w5);
    start_coord();

    snprintf(running, sizeof running, "[{\"job_id\":\"%s\",\"attempt\":1,\"progress\":40}]", ja);
    w4 = fw_hello("w4", "s4a", 1, NULL, running, NULL);
    pump(100);
    status_of(ja, &attempt, state, sizeof state);
    TAP_OK(strcmp(state, "running") == 0 && attempt == 1, "re-attached after the restart (%s %" PRId64 ")",
           state, attempt);
    status_of(jb, &attempt, state, sizeof state);
    TAP_OK(strcmp(state, "assigned") == 0 && attempt == 1, "w5's job waits for the grace period");
    /* The restart grace: two liveness windows (3 x HB each) plus 2 s. */
    pump(2 * 3 * HB + 2000 + 3 * HB);
    status_of(jb, &attempt, state, sizeof state);
    TAP_OK(attempt == 2 && strcmp(state, "done") != 0, "after the grace: requeued with attempt 2 (%s)", state);
    fw_fenced(w4, DCV_CMD_PROGRESS, ja, 1, "\"phase\":\"encode\",\"pct\":60");
    fw_fenced(w4, DCV_CMD_FAIL, ja, 1, "\"code\":\"encode\",\"message\":\"x\",\"retryable\":false");
    pump(100);
    status_of(ja, &attempt, state, sizeof state);
    TAP_IS_STR(state, "failed", "the re-attached attempt still speaks with its fence");
    fw_close(w4);
    free(job);
}

int main(int argc, char **argv)
{
    char cmd[600];
    ssize_t n;

    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_main(argc, argv);
    if (!getenv("DISTCONV_PLUGIN_DIR"))
        tap_bail("DISTCONV_PLUGIN_DIR is not set (run through make check)");
    if ((n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1)) < 0)
        tap_bail("readlink /proc/self/exe");
    self_exe[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    setup();
    snprintf(in_path, sizeof in_path, "%s/shared/in.bin", tmp);
    write_file(in_path, 300000, 7);
    sha_file(in_path, in_sha, &in_size);

    test_info_and_errors();
    test_hello_submit_fail_retry();
    test_worker_lost();
    test_drain_cancel();
    test_priorities();
    test_busy_reject();
    test_gpu_policies();
    test_garbage();
    test_data_plane();
    test_restart();

    stop_coord();
    for (int i = 0; i < MAX_FW; i++)
        if (fws[i])
            fw_close(fws[i]);
    dcv_net_close(&net);
    dcv_loop_destroy(&loop);
    dcv_conf_free(&conf);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmp);
    return tap_done();
}
