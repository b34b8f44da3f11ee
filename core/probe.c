/*
 * Capability probing, one fork()ed child per plugin file.
 *
 * The parent never dlopen()s a plugin: loading runs constructors, init and
 * probe touch GPU drivers, and any of them may crash, hang or leave threads
 * behind. A child does all of it and reports newline-separated JSON on a
 * pipe: first the plugin's identity (as soon as the header was accepted, so
 * a later crash or hang is still attributed to a name), then the result.
 * The parent treats those lines as untrusted input: the plugin shares the
 * child's address space and may have scribbled on anything.
 *
 * Children are forked before they are waited for, so the report takes as
 * long as the slowest plugin, not the sum. fork() without exec() is only
 * safe when the caller has no other threads: call this before starting any
 * (the daemon probes at start-up, the worker in its registration step).
 */
#include "probe.h"
#include "jsonutil.h"
#include "clock.h"

#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include <json-c/json.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

#include "caps_json.h"
#include "pluginhost.h"

#define MAX_DEVICES 16
/* A report is a few KiB; anything near this is a runaway plugin. */
#define MAX_REPORT (1u << 20)
#define MAX_FIELD 1024


struct child {
    const char *file;
    pid_t pid;         /* 0 when fork failed */
    int fd;            /* read end, -1 once at EOF */
    int reaped;
    int status;        /* from waitpid */
    int killed;        /* we sent SIGKILL at the deadline */
    int fork_errno;
    int overflow;      /* sent more than MAX_REPORT */
    char *buf;
    size_t len, cap;
};

/* ------------------------------------------------------------------------ */
/* Child side                                                                 */
/* ------------------------------------------------------------------------ */

static void write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the parent gave up on us; nothing left to tell */
        s += w;
        len -= (size_t)w;
    }
}

/* Sends one object as one line; JSON_C_TO_STRING_PLAIN never emits raw
 * newlines (they are escaped inside strings). */
static void send_line(int fd, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

    if (s) {
        write_all(fd, s, strlen(s));
        write_all(fd, "\n", 1);
    }
}

/* The loader's messages start with "PATH: refused: " / "PATH: init
 * failed: "; the report has the file and status in their own fields. */
static const char *bare_reason(const char *msg, const char *path)
{
    static const char *const tags[] = {"refused: ", "init failed: "};
    size_t n = strlen(path);

    if (strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
        msg += n + 2;
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
        if (strncmp(msg, tags[i], strlen(tags[i])) == 0)
            return msg + strlen(tags[i]);
    return msg;
}

static void add_str(struct json_object *o, const char *key, const char *val)
{
    struct json_object *v = json_object_new_string(val ? val : "");

    if (v && json_object_object_add(o, key, v) != 0)
        json_object_put(v);
}

static void finish(int fd, const char *status, const char *reason, struct json_object *devices)
{
    struct json_object *o = json_object_new_object();

    if (o) {
        add_str(o, "status", status);
        add_str(o, "reason", reason);
        if (devices && json_object_object_add(o, "devices", json_object_get(devices)) != 0)
            json_object_put(devices);
        send_line(fd, o);
    }
    json_object_put(o);
}

/* Returns "ok" or "probe-failed" (reason in why), filling devices. */
static const char *probe_devices(struct dcv_plugin *p, struct json_object *devices, char *why,
                                 size_t whylen)
{
    for (uint32_t i = 0; i < MAX_DEVICES; i++) {
        struct dcv_device_caps caps;
        struct json_object *d = NULL, *c = NULL, *idx;
        char e[512];

        memset(&caps, 0, sizeof(caps));
        caps.struct_size = sizeof(caps);
        int rc = p->enc.probe(p->ctx, i, &caps);
        if (rc == 0)
            break;
        if (rc < 0) {
            snprintf(why, whylen, "probe(%u) failed: %s", i, strerror(-rc));
            return "probe-failed";
        }
        rc = dcv_caps_to_json(&caps, &c, e, sizeof(e));
        if (rc < 0) {
            snprintf(why, whylen, "probe(%u) returned unusable capabilities: %s", i, e);
            return "probe-failed";
        }
        d = json_object_new_object();
        idx = json_object_new_int((int)i);
        if (!d || !idx || json_object_object_add(d, "index", idx) != 0) {
            json_object_put(idx);
            json_object_put(d);
            json_object_put(c);
            snprintf(why, whylen, "out of memory");
            return "probe-failed";
        }
        json_object_object_foreach(c, key, val) json_object_object_add(d, key, json_object_get(val));
        json_object_put(c);
        if (json_object_array_add(devices, d) != 0) {
            json_object_put(d);
            snprintf(why, whylen, "out of memory");
            return "probe-failed";
        }
    }
    return "ok";
}

/* dcv_probe_ext.child's emit(): one {"KEY": value} line to the parent. */
struct ext_emit {
    int fd;
    const char *key;
};

static void ext_emit(void *ectx, struct json_object *value)
{
    struct ext_emit *e = ectx;
    struct json_object *o = json_object_new_object();

    if (o && value && json_object_object_add(o, e->key, json_object_get(value)) == 0)
        send_line(e->fd, o);
    json_object_put(o);
}

static void child_run(struct dcv_conf *conf, const char *path, int fd,
                      const struct dcv_probe_ext *ext)
{
    struct dcv_plugin *p = NULL;
    struct json_object *id, *devices;
    char err[2048], why[1024] = "";
    const char *status;

    if (dcv_plugin_load(path, NULL, &p, err, sizeof(err)) < 0) {
        finish(fd, "refused", bare_reason(err, path), NULL);
        return;
    }
    id = json_object_new_object();
    if (!id)
        return;
    add_str(id, "name", p->hdr.name);
    add_str(id, "kind", p->hdr.kind == DCV_PLUGIN_ENCODER ? "encoder" : "transport");
    add_str(id, "version", p->hdr.version);
    add_str(id, "description", p->hdr.description);
    add_str(id, "license", p->hdr.license);
    /* The ABI minor the plugin was built against: a worker reports it in HELLO. */
    json_object_object_add(id, "abi_minor", json_object_new_int((int)p->hdr.abi_minor));
    send_line(fd, id);
    json_object_put(id);

    if (!dcv_conf_plugin_enabled(conf, p->hdr.name)) {
        snprintf(why, sizeof(why), "disabled in the configuration (plugins.%s.enabled)",
                 p->hdr.name);
        finish(fd, "disabled", why, NULL);
        return;
    }
    if (dcv_plugin_init(p, conf, err, sizeof(err)) < 0) {
        finish(fd, "init-failed", bare_reason(err, path), NULL);
        return;
    }
    devices = json_object_new_array();
    if (!devices)
        return;
    status = p->hdr.kind == DCV_PLUGIN_ENCODER ? probe_devices(p, devices, why, sizeof(why))
                                                : "ok";
    finish(fd, status, why, devices);
    /* The extra work comes after the report: a crash in it still leaves
     * the capabilities (and whatever it emitted) to the parent. */
    if (ext && ext->child && p->hdr.kind == DCV_PLUGIN_ENCODER && strcmp(status, "ok") == 0) {
        struct ext_emit e = {fd, ext->key};
        ext->child(p, devices, ext_emit, &e, ext->arg);
    }
    json_object_put(devices);
    /* After the report: a crash in fini still shows, as "crashed". */
    p->hdr.fini(p->ctx);
}

void dcv_probe_child_setup(pid_t parent)
{
    sigset_t none;

    /* The daemon blocks signals for its signalfd; a plugin crash must
     * still kill this child, and the parent's SIGKILL always does. */
    static const int dfl[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGPIPE,
                              SIGTERM, SIGINT, SIGHUP, SIGCHLD};

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The daemon's own handlers (a crash reporter, a shutdown flag) mean
     * nothing here: a crash must end this process with its signal. */
    for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
        signal(dfl[i], SIG_DFL);
    /* Own process group, so a timeout also kills helpers it spawned. */
    setpgid(0, 0);
#ifdef HAVE_SYS_PRCTL_H
    /* An orphaned child (the daemon was killed) must not hold a GPU. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
#else
    (void)parent;
#endif
}

static void child_main(struct dcv_conf *conf, const char *dir, const char *file, int fd,
                       pid_t parent, const struct dcv_probe_ext *ext)
{
    char path[PATH_MAX + 256];

    dcv_probe_child_setup(parent);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    child_run(conf, path, fd, ext);
    close(fd);
    /* _exit: no atexit handlers, no stdio flush of the parent's buffers,
     * no destructors of a plugin we deliberately leave loaded. */
    _exit(0);
}

/* ------------------------------------------------------------------------ */
/* Parent side                                                                */
/* ------------------------------------------------------------------------ */

static void close_fd(struct child *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* The whole process group: helpers a plugin or driver spawned must not
 * outlive the probe (the child made itself a group leader). */
static void kill_group(struct child *c)
{
    if (c->pid > 0)
        kill(-c->pid, SIGKILL);
}

static void kill_child(struct child *c)
{
    if (c->pid > 0 && !c->reaped) {
        kill_group(c);
        kill(c->pid, SIGKILL);
        c->killed = 1;
    }
}

/* Returns 1 when it read anything (a sign of life), else 0. */
static int read_child(struct child *c)
{
    int got = 0;

    while (c->fd >= 0) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 8192;
            char *b = cap <= MAX_REPORT + 8192 ? realloc(c->buf, cap) : NULL;
            if (!b) {
                c->overflow = 1;
                kill_child(c);
                close_fd(c);
                return got;
            }
            c->buf = b;
            c->cap = cap;
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return got;
        if (r <= 0) {
            close_fd(c);
            return got;
        }
        got = 1;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        if (c->len > MAX_REPORT) {
            c->overflow = 1;
            kill_child(c);
            close_fd(c);
        }
    }
    return got;
}

static void reap(struct child *c, int block)
{
    int st;

    if (c->pid <= 0 || c->reaped)
        return;
    for (;;) {
        pid_t r = waitpid(c->pid, &st, block ? 0 : WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return;
        /* r < 0: someone else reaped it (SIGCHLD set to SIG_IGN); there
         * is no status to report, and nothing left to wait for. */
        c->status = r == c->pid ? st : 0;
        c->reaped = 1;
        break;
    }
    /* What it wrote before exiting is all in the pipe by now (a larger
     * report would have blocked it). Its own children may still hold the
     * write end, so EOF is not waited for. */
    if (c->fd >= 0)
        read_child(c);
    close_fd(c);
    kill_group(c);
}

/* renew: every read from a child restarts the deadline (serial mode: the
 * limit is on silence, not on the whole run). */
static void supervise(struct child *cs, int n, unsigned timeout_ms, int renew)
{
    int64_t deadline = dcv_mono_ms() + timeout_ms;
    struct pollfd *pfd = calloc((size_t)n + 1, sizeof(*pfd));
    int *map = calloc((size_t)n + 1, sizeof(*map));

    for (;;) {
        int64_t left = deadline - dcv_mono_ms();
        int np = 0, running = 0;

        for (int i = 0; i < n; i++) {
            reap(&cs[i], 0);
            if (cs[i].pid > 0 && !cs[i].reaped)
                running = 1;
            if (cs[i].fd >= 0 && pfd && map) {
                pfd[np].fd = cs[i].fd;
                pfd[np].events = POLLIN;
                map[np++] = i;
            }
        }
        if (!running || left <= 0 || !pfd || !map)
            break;
        /* With every pipe at EOF only exits are awaited; they come within
         * microseconds, so a short sleep beats a SIGCHLD handler here. */
        int wait_ms = np ? (int)(left > 1000 ? 1000 : left) : (left > 5 ? 5 : (int)left);
        int r = poll(pfd, (nfds_t)np, wait_ms);
        if (r < 0 && errno != EINTR)
            break;
        for (int k = 0; r > 0 && k < np; k++)
            if (pfd[k].revents && read_child(&cs[map[k]]) && renew)
                deadline = dcv_mono_ms() + timeout_ms;
    }
    /* Deadline (or no memory for the poll set): whatever still runs is
     * killed and reaped here, so no child outlives this call. */
    for (int i = 0; i < n; i++) {
        kill_child(&cs[i]);
        reap(&cs[i], 1);
        close_fd(&cs[i]);
    }
    free(pfd);
    free(map);
}

/* A string from the child, bounded and without control characters, or
 * NULL when the field is absent or not a string. */
static const char *child_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    if (strlen(s) > MAX_FIELD)
        return NULL;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return NULL;
    return s;
}

static int status_known(const char *s)
{
    static const char *const known[] = {"ok", "refused", "disabled", "init-failed",
                                        "probe-failed"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(s, known[i]) == 0)
            return 1;
    return 0;
}

/* Re-validate each device through the same parser the coordinator uses
 * for remote reports, so what we print is what a worker would send. */
static struct json_object *checked_devices(struct json_object *in, char *why, size_t whylen)
{
    struct json_object *out = json_object_new_array();
    size_t n;

    if (!out || !json_object_is_type(in, json_type_array))
        return out;
    n = json_object_array_length(in);
    for (size_t i = 0; i < n && i < MAX_DEVICES; i++) {
        struct json_object *d = json_object_array_get_idx(in, i), *c = NULL, *idx, *o;
        struct dcv_device_caps caps;
        char e[512];

        if (dcv_caps_from_json(d, &caps, e, sizeof(e)) < 0 ||
            dcv_caps_to_json(&caps, &c, e, sizeof(e)) < 0) {
            snprintf(why, whylen, "device %zu: invalid capabilities: %s", i, e);
            continue;
        }
        o = json_object_new_object();
        idx = json_object_new_int((int)i);
        if (o && idx && json_object_object_add(o, "index", idx) == 0) {
            json_object_object_foreach(c, key, val)
                json_object_object_add(o, key, json_object_get(val));
            if (json_object_array_add(out, o) == 0)
                o = NULL;
        } else {
            json_object_put(idx);
        }
        json_object_put(o);
        json_object_put(c);
    }
    return out;
}

static struct json_object *plugin_report(struct child *c, unsigned timeout_ms,
                                         const struct dcv_probe_ext *ext)
{
    struct json_object *rep = json_object_new_object();
    struct json_object *devices = NULL, *extra = NULL;
    const char *fields[] = {"name", "kind", "version", "description", "license"};
    char status[32] = "", reason[MAX_FIELD + 128] = "", bad[600] = "";
    int have_final = 0;

    if (!rep)
        return NULL;
    add_str(rep, "file", c->file);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        add_str(rep, fields[i], "");
    if (ext && ext->key && !(extra = json_object_new_array())) {
        json_object_put(rep);
        return NULL;
    }

    /* Complete lines only: a child killed mid-write leaves a torn tail. */
    char *line = c->buf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        struct json_object *o = json_tokener_parse(line);
        struct json_object *xv;
        if (extra && o && json_object_is_type(o, json_type_object) &&
            json_object_object_get_ex(o, ext->key, &xv)) {
            /* An extra line is that and nothing else. */
            struct json_object *kept = ext->check ? ext->check(xv, ext->arg) : NULL;
            if (kept && json_object_array_add(extra, kept) != 0)
                json_object_put(kept);
        } else if (o && json_object_is_type(o, json_type_object)) {
            for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                const char *s = child_str(o, fields[i]);
                if (s)
                    add_str(rep, fields[i], s);
            }
            struct json_object *am;
            if (json_object_object_get_ex(o, "abi_minor", &am) &&
                json_object_is_type(am, json_type_int) && json_object_get_int64(am) >= 0 &&
                json_object_get_int64(am) <= 65535)
                json_object_object_add(rep, "abi_minor",
                                       json_object_new_int((int)json_object_get_int64(am)));
            const char *st = child_str(o, "status");
            if (st && status_known(st)) {
                const char *r = child_str(o, "reason");
                struct json_object *d;
                snprintf(status, sizeof(status), "%s", st);
                snprintf(reason, sizeof(reason), "%s", r ? r : "");
                json_object_put(devices);
                devices = NULL;
                if (json_object_object_get_ex(o, "devices", &d))
                    devices = checked_devices(d, bad, sizeof(bad));
                have_final = 1;
            }
        }
        json_object_put(o);
        line = nl + 1;
    }

    if (c->pid <= 0) {
        snprintf(status, sizeof(status), "error");
        snprintf(reason, sizeof(reason), "cannot start a probe process: %s",
                 strerror(c->fork_errno));
    } else if (c->overflow) {
        snprintf(status, sizeof(status), "crashed");
        snprintf(reason, sizeof(reason), "probe process sent more than %u bytes (killed)",
                 MAX_REPORT);
    } else if (c->killed) {
        snprintf(status, sizeof(status), "timeout");
        snprintf(reason, sizeof(reason), "no answer within %u ms (probe process killed)",
                 timeout_ms);
    } else if (WIFSIGNALED(c->status)) {
        int sig = WTERMSIG(c->status);
        snprintf(status, sizeof(status), "crashed");
        snprintf(reason, sizeof(reason), "probe process killed by signal %d (%s)%s", sig,
                 strsignal(sig), have_final ? " after its report" : "");
    } else if (WIFEXITED(c->status) && WEXITSTATUS(c->status) != 0) {
        snprintf(status, sizeof(status), "crashed");
        snprintf(reason, sizeof(reason), "probe process exited with status %d",
                 WEXITSTATUS(c->status));
    } else if (!have_final) {
        snprintf(status, sizeof(status), "crashed");
        snprintf(reason, sizeof(reason), "probe process exited without a report");
    } else if (bad[0] && strcmp(status, "ok") == 0) {
        snprintf(status, sizeof(status), "probe-failed");
        snprintf(reason, sizeof(reason), "%s", bad);
    }
    add_str(rep, "status", status);
    add_str(rep, "reason", reason);
    if (!devices)
        devices = json_object_new_array();
    if (devices && json_object_object_add(rep, "devices", devices) != 0)
        json_object_put(devices);
    if (extra && json_object_object_add(rep, ext->key, extra) != 0)
        json_object_put(extra);
    return rep;
}

/* Each child loaded its file alone, so none of them could see that two
 * files carry the same name; the daemon's loader takes the first by file
 * name and refuses the rest, and the report must say the same. */
static void mark_duplicate(struct json_object *earlier, struct json_object *p)
{
    const char *name = dcv_json_str(p, "name", "");
    char reason[MAX_FIELD];

    if (!*name || strcmp(dcv_json_str(p, "status", ""), "refused") == 0)
        return;
    for (size_t i = 0; i < json_object_array_length(earlier); i++) {
        struct json_object *o = json_object_array_get_idx(earlier, i);
        if (strcmp(dcv_json_str(o, "name", ""), name) != 0 || strcmp(dcv_json_str(o, "status", ""), "refused") == 0)
            continue;
        snprintf(reason, sizeof(reason), "duplicate plugin name '%s', already loaded from %s",
                 name, dcv_json_str(o, "file", ""));
        add_str(p, "status", "refused");
        add_str(p, "reason", reason);
        struct json_object *none = json_object_new_array();
        if (none && json_object_object_add(p, "devices", none) != 0)
            json_object_put(none);
        return;
    }
}

static struct json_object *ffmpeg_versions(void)
{
    static const struct {
        const char *name;
        unsigned (*fn)(void);
    } libs[] = {
        {"avcodec", avcodec_version},   {"avformat", avformat_version},
        {"avfilter", avfilter_version}, {"avutil", avutil_version},
        {"swscale", swscale_version},   {"swresample", swresample_version},
    };
    struct json_object *o = json_object_new_object();

    for (size_t i = 0; o && i < sizeof(libs) / sizeof(libs[0]); i++) {
        char v[32];
        unsigned n = libs[i].fn();
        snprintf(v, sizeof(v), "%u.%u.%u", n >> 16, (n >> 8) & 0xff, n & 0xff);
        add_str(o, libs[i].name, v);
    }
    return o;
}

/* Fork the probe child of file i (cs[i] records the outcome). */
static void spawn(struct child *cs, int i, struct dcv_conf *conf, const char *dir, char **names,
                  pid_t self, const struct dcv_probe_ext *ext)
{
    int fds[2];

    cs[i].file = names[i];
    cs[i].fd = -1;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        cs[i].fork_errno = errno;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        cs[i].fork_errno = errno;
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        /* Earlier siblings' pipes are none of this child's business. */
        for (int k = 0; k < i; k++)
            if (cs[k].fd >= 0)
                close(cs[k].fd);
        close(fds[0]);
        child_main(conf, dir, names[i], fds[1], self, ext);
    }
    close(fds[1]);
    /* Also here: the group must exist before a kill(-pid) can race. */
    setpgid(pid, pid);
    cs[i].pid = pid;
    cs[i].fd = fds[0];
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
}

int dcv_probe_all(struct dcv_conf *conf, unsigned timeout_ms, char **json_out, char *err,
                  size_t errlen)
{
    return dcv_probe_run(conf, timeout_ms, NULL, json_out, err, errlen);
}

int dcv_probe_run(struct dcv_conf *conf, unsigned timeout_ms, const struct dcv_probe_ext *ext,
                  char **json_out, char *err, size_t errlen)
{
    const char *dir;
    char **names;
    struct child *cs;
    struct json_object *root, *plugins;
    int n, rc = 0;

    *json_out = NULL;
    if (!conf) {
        snprintf(err, errlen, "probe: no configuration");
        return -EINVAL;
    }
    dir = dcv_conf_settings(conf)->plugin_dir;
    n = dcv_plugin_scan_dir(dir, &names, err, errlen);
    if (n < 0)
        return n;
    cs = calloc((size_t)n + 1, sizeof(*cs));
    if (!cs) {
        dcv_plugin_names_free(names, n);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }

    /* Buffered output would otherwise be written again by a child whose
     * plugin flushes stdio. */
    fflush(NULL);
    pid_t self = getpid();
    if (ext && ext->serial) {
        for (int i = 0; i < n; i++) {
            spawn(cs, i, conf, dir, names, self, ext);
            supervise(&cs[i], 1, timeout_ms, 1);
        }
    } else {
        for (int i = 0; i < n; i++)
            spawn(cs, i, conf, dir, names, self, ext);
        supervise(cs, n, timeout_ms, 0);
    }

    root = json_object_new_object();
    plugins = json_object_new_array();
    if (root && plugins) {
        char abi[16];
        snprintf(abi, sizeof(abi), "%d.%d", DCV_ABI_MAJOR, DCV_ABI_MINOR);
        add_str(root, "host_abi", abi);
        struct json_object *ff = ffmpeg_versions();
        if (ff && json_object_object_add(root, "ffmpeg", ff) != 0)
            json_object_put(ff);
        add_str(root, "plugin_dir", dir);
        for (int i = 0; i < n; i++) {
            struct json_object *p = plugin_report(&cs[i], timeout_ms, ext);
            if (p)
                mark_duplicate(plugins, p);
            if (!p || json_object_array_add(plugins, p) != 0) {
                json_object_put(p);
                rc = -ENOMEM;
            }
        }
        if (json_object_object_add(root, "plugins", plugins) == 0)
            plugins = NULL;
        else
            rc = -ENOMEM;
    } else {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        const char *s = json_object_to_json_string_ext(
            root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                      JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s || !(*json_out = strdup(s)))
            rc = -ENOMEM;
    }
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    json_object_put(plugins);
    json_object_put(root);
    for (int i = 0; i < n; i++)
        free(cs[i].buf);
    free(cs);
    dcv_plugin_names_free(names, n);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Text rendering                                                             */
/* ------------------------------------------------------------------------ */

static struct json_object *jarr(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array))
        return v;
    return NULL;
}

static void text_codec(FILE *f, struct json_object *c)
{
    struct json_object *a;
    size_t n;

    fprintf(f, "      %s via %s:", dcv_json_str(c, "codec", ""), dcv_json_str(c, "encoder", ""));
    if ((a = jarr(c, "bit_depths")) && (n = json_object_array_length(a)) > 0) {
        fputc(' ', f);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s%d", i ? "/" : "", json_object_get_int(json_object_array_get_idx(a, i)));
        fputs("-bit,", f);
    }
    if (dcv_json_int(c, "max_width", 0) > 0 && dcv_json_int(c, "max_height", 0) > 0)
        fprintf(f, " up to %lldx%lld,", (long long)dcv_json_int(c, "max_width", 0),
                (long long)dcv_json_int(c, "max_height", 0));
    if ((a = jarr(c, "pix_fmts")))
        for (size_t i = 0; i < json_object_array_length(a); i++)
            fprintf(f, " %s", json_object_get_string(json_object_array_get_idx(a, i)));
    if (*dcv_json_str(c, "profiles", ""))
        fprintf(f, " (profiles %s)", dcv_json_str(c, "profiles", ""));
    fputc('\n', f);
}

static void text_device(FILE *f, struct json_object *d)
{
    struct json_object *a;

    if (!dcv_json_bool(d, "available")) {
        fprintf(f, "    device %lld: unavailable: %s\n", (long long)dcv_json_int(d, "index", 0),
                dcv_json_str(d, "unavailable_reason", ""));
        return;
    }
    fprintf(f, "    device %lld %s \"%s\": available, ", (long long)dcv_json_int(d, "index", 0),
            dcv_json_str(d, "device_id", ""), dcv_json_str(d, "device_name", ""));
    if (dcv_json_bool(d, "hardware"))
        fprintf(f, "hardware (%s)", dcv_json_str(d, "hw_type", ""));
    else
        fputs("software", f);
    const char *scope = dcv_json_str(d, "sessions_scope", "");
    if (strcmp(scope, "unlimited") == 0 || dcv_json_int(d, "max_sessions", 0) == 0)
        fputs(", sessions unlimited", f);
    else
        fprintf(f, ", sessions %lld %s (%s)", (long long)dcv_json_int(d, "max_sessions", 0), scope,
                dcv_json_str(d, "sessions_source", ""));
    if ((a = jarr(d, "flags")))
        for (size_t i = 0; i < json_object_array_length(a); i++)
            fprintf(f, ", %s", json_object_get_string(json_object_array_get_idx(a, i)));
    fputc('\n', f);
    if ((a = jarr(d, "codecs")))
        for (size_t i = 0; i < json_object_array_length(a); i++)
            text_codec(f, json_object_array_get_idx(a, i));
}

int dcv_probe_format_text(const char *json, char **text_out)
{
    struct json_object *root, *plugins, *ff;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    *text_out = NULL;
    root = json ? json_tokener_parse(json) : NULL;
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return -EINVAL;
    }
    f = open_memstream(&buf, &len);
    if (!f) {
        json_object_put(root);
        return -ENOMEM;
    }
    fprintf(f, "distconv plugin ABI %s", dcv_json_str(root, "host_abi", ""));
    if (json_object_object_get_ex(root, "ffmpeg", &ff))
        fprintf(f, ", libavcodec %s", dcv_json_str(ff, "avcodec", ""));
    fprintf(f, "\nplugins in %s:\n", dcv_json_str(root, "plugin_dir", ""));
    plugins = jarr(root, "plugins");
    if (!plugins || json_object_array_length(plugins) == 0)
        fputs("  (none)\n", f);
    for (size_t i = 0; plugins && i < json_object_array_length(plugins); i++) {
        struct json_object *p = json_object_array_get_idx(plugins, i), *devs;
        const char *name = dcv_json_str(p, "name", ""), *status = dcv_json_str(p, "status", "");

        if (*name)
            fprintf(f, "  %s %s (%s): %s", name, dcv_json_str(p, "version", ""), dcv_json_str(p, "file", ""), status);
        else
            fprintf(f, "  %s: %s", dcv_json_str(p, "file", ""), status);
        if (*dcv_json_str(p, "reason", ""))
            fprintf(f, ": %s", dcv_json_str(p, "reason", ""));
        if (strcmp(dcv_json_str(p, "kind", ""), "transport") == 0)
            fputs(" [transport]", f);
        fputc('\n', f);
        if ((devs = jarr(p, "devices")))
            for (size_t k = 0; k < json_object_array_length(devs); k++)
                text_device(f, json_object_array_get_idx(devs, k));
    }
    json_object_put(root);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return -ENOMEM;
    }
    *text_out = buf;
    return 0;
}
