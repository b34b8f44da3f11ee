/*
 * Plugin loader. The header a plugin returns is untrusted until proven
 * otherwise: only its four leading uint32 fields are read before struct_size
 * says how much more exists, and everything kept is a size-checked copy.
 */
#include "pluginhost.h"
#include "clock.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>

#include "config.h"
#include "log.h"

/*
 * The smallest header/ops a 1.0 plugin can have: everything up to the last
 * field a 1.0 host reads. The trailing reserved[] slots are never read, so
 * a plugin whose header ends right before them is still complete; counting
 * only what is used keeps the check about meaning, not padding.
 */
#define HDR_V1_0_SIZE (offsetof(struct dcv_plugin_header, ops) + sizeof(const void *))
#define ENC_OPS_V1_0_SIZE                                                      \
    (offsetof(struct dcv_encoder_ops, last_error) +                           \
     sizeof(((struct dcv_encoder_ops *)0)->last_error))
#define TX_OPS_V1_0_SIZE                                                       \
    (offsetof(struct dcv_transport_ops, close) +                              \
     sizeof(((struct dcv_transport_ops *)0)->close))

#define NAME_MAX_LEN 63

/* Formats "PATH: refused: REASON" into err and returns rc, so every refusal
 * is one statement and always names the file. */
static int refuse(int rc, const char *path, char *err, size_t errlen, const char *fmt, ...)
    DCV_PRINTF(5, 6);
static int refuse(int rc, const char *path, char *err, size_t errlen, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "%s: refused: %s", path, reason);
    return rc;
}

static int name_valid(const char *name, const char **why)
{
    size_t len = strnlen(name, NAME_MAX_LEN + 1);

    if (len == 0) {
        *why = "empty plugin name";
        return 0;
    }
    if (len > NAME_MAX_LEN) {
        *why = "plugin name longer than 63 characters";
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            *why = "plugin name may only contain a-z, 0-9 and '-'";
            return 0;
        }
    }
    return 1;
}

static const char *kind_name(uint32_t kind)
{
    return kind == DCV_PLUGIN_ENCODER ? "encoder" : "transport";
}

/* Copy the ops table the header points at, after checking it is big enough
 * for what a 1.0 host calls and has every required function. */
static int copy_ops(struct dcv_plugin *p, const char *path, char *err, size_t errlen)
{
    const char *missing = NULL;

    if (!p->hdr.ops)
        return refuse(-EINVAL, path, err, errlen, "%s plugin has no ops table (ops is NULL)",
                      kind_name(p->hdr.kind));

    if (p->hdr.kind == DCV_PLUGIN_ENCODER) {
        const struct dcv_encoder_ops *o = p->hdr.ops;
        uint32_t sz = o->struct_size;
        if (sz < ENC_OPS_V1_0_SIZE)
            return refuse(-EINVAL, path, err, errlen,
                          "encoder ops struct_size %u is smaller than the ABI 1.0 minimum %zu",
                          sz, (size_t)ENC_OPS_V1_0_SIZE);
        memcpy(&p->enc, o, sz < sizeof(p->enc) ? sz : sizeof(p->enc));
        const struct dcv_encoder_ops *e = &p->enc;
        if (!e->probe)
            missing = "probe";
        else if (!e->open)
            missing = "open";
        else if (!e->get_stream_params)
            missing = "get_stream_params";
        else if (!e->send_frame)
            missing = "send_frame";
        else if (!e->receive_packet)
            missing = "receive_packet";
        else if (!e->close)
            missing = "close";
        else if (!e->last_error)
            missing = "last_error";
    } else {
        const struct dcv_transport_ops *o = p->hdr.ops;
        uint32_t sz = o->struct_size;
        if (sz < TX_OPS_V1_0_SIZE)
            return refuse(-EINVAL, path, err, errlen,
                          "transport ops struct_size %u is smaller than the ABI 1.0 minimum %zu",
                          sz, (size_t)TX_OPS_V1_0_SIZE);
        memcpy(&p->tx, o, sz < sizeof(p->tx) ? sz : sizeof(p->tx));
        const struct dcv_transport_ops *t = &p->tx;
        /* Every transport op of 1.0 is required: the host's loop calls
         * them all (events() for the edge-triggered fd, msg_free() after
         * each recv(), last_error() for every failure it logs). */
        if (!t->open)
            missing = "open";
        else if (!t->send)
            missing = "send";
        else if (!t->recv)
            missing = "recv";
        else if (!t->msg_free)
            missing = "msg_free";
        else if (!t->get_fd)
            missing = "get_fd";
        else if (!t->events)
            missing = "events";
        else if (!t->endpoint)
            missing = "endpoint";
        else if (!t->stats)
            missing = "stats";
        else if (!t->last_error)
            missing = "last_error";
        else if (!t->close)
            missing = "close";
    }
    if (missing)
        return refuse(-EINVAL, path, err, errlen, "required %s op '%s' is NULL",
                      kind_name(p->hdr.kind), missing);
    return 0;
}

/* FFmpeg structs (AVFrame, AVPacket) cross the boundary, so their layout
 * must be the one of the libraries actually mapped in this process, not
 * the headers the daemon was compiled with. */
static int check_ffmpeg(const struct dcv_plugin_header *h, const char *path, char *err,
                        size_t errlen)
{
    unsigned run_codec = avcodec_version() >> 16, run_util = avutil_version() >> 16;

    if (h->kind == DCV_PLUGIN_TRANSPORT && h->avcodec_major == 0 && h->avutil_major == 0)
        return 0; /* a transport that does not use FFmpeg at all */
    if (h->kind == DCV_PLUGIN_ENCODER && (h->avcodec_major == 0 || h->avutil_major == 0))
        return refuse(-EPROTO, path, err, errlen,
                      "encoder plugin declares no FFmpeg version (libavcodec %u, libavutil %u); "
                      "encoders exchange AVFrame/AVPacket and must record the majors they "
                      "were built against",
                      h->avcodec_major, h->avutil_major);
    if (h->avcodec_major != run_codec || h->avutil_major != run_util)
        return refuse(-EPROTO, path, err, errlen,
                      "built against libavcodec %u / libavutil %u, but this distconvd runs "
                      "libavcodec %u / libavutil %u: rebuild the plugin against the "
                      "installed FFmpeg",
                      h->avcodec_major, h->avutil_major, run_codec, run_util);
    return 0;
}

static int check_header(struct dcv_plugin *p, const struct dcv_plugin_header *h,
                        const char *path, const struct dcv_plugin_set *set, char *err,
                        size_t errlen)
{
    const char *why;

    /* Only the four leading fields are known to exist until struct_size
     * has been checked. */
    if (h->magic != DCV_PLUGIN_MAGIC)
        return refuse(-ENOEXEC, path, err, errlen,
                      "bad magic 0x%08x (expected 0x%08x): not a distconv plugin header",
                      h->magic, DCV_PLUGIN_MAGIC);
    if (h->abi_major != DCV_ABI_MAJOR)
        return refuse(-EPROTO, path, err, errlen, "ABI major %u, this distconvd speaks %u",
                      h->abi_major, DCV_ABI_MAJOR);
    if (h->abi_minor > DCV_ABI_MINOR)
        return refuse(-EPROTO, path, err, errlen,
                      "built for ABI %u.%u, newer than this distconvd (%u.%u): upgrade distconv",
                      h->abi_major, h->abi_minor, DCV_ABI_MAJOR, DCV_ABI_MINOR);
    if (h->struct_size < HDR_V1_0_SIZE)
        return refuse(-EINVAL, path, err, errlen,
                      "header struct_size %u is smaller than the ABI 1.0 header (%zu bytes)",
                      h->struct_size, (size_t)HDR_V1_0_SIZE);

    memcpy(&p->hdr, h, h->struct_size < sizeof(p->hdr) ? h->struct_size : sizeof(p->hdr));
    h = &p->hdr;

    if (h->kind != DCV_PLUGIN_ENCODER && h->kind != DCV_PLUGIN_TRANSPORT)
        return refuse(-EINVAL, path, err, errlen,
                      "unknown plugin kind %u (1 = encoder, 2 = transport)", h->kind);
    if (h->flags != 0)
        return refuse(-EINVAL, path, err, errlen,
                      "header flags 0x%x set, but ABI %u.%u defines none", h->flags,
                      DCV_ABI_MAJOR, DCV_ABI_MINOR);
    int rc = check_ffmpeg(h, path, err, errlen);
    if (rc < 0)
        return rc;
    if (!h->name)
        return refuse(-EINVAL, path, err, errlen, "plugin name is NULL");
    if (!name_valid(h->name, &why))
        return refuse(-EINVAL, path, err, errlen, "%s", why);
    const struct dcv_plugin *other = set ? dcv_plugin_set_find(set, h->name) : NULL;
    if (other)
        return refuse(-EEXIST, path, err, errlen,
                      "duplicate plugin name '%s', already loaded from %s", h->name,
                      other->path);
    rc = copy_ops(p, path, err, errlen);
    if (rc < 0)
        return rc;
    if (!h->init || !h->fini)
        return refuse(-EINVAL, path, err, errlen, "required header function '%s' is NULL",
                      !h->init ? "init" : "fini");

    /* Consumers print these without checking: optional strings read as "". */
    if (!p->hdr.version)
        p->hdr.version = "";
    if (!p->hdr.license)
        p->hdr.license = "";
    if (!p->hdr.description)
        p->hdr.description = "";
    return 0;
}

int dcv_plugin_load(const char *path, const struct dcv_plugin_set *set,
                    struct dcv_plugin **out, char *err, size_t errlen)
{
    struct stat st;
    struct dcv_plugin *p;
    void *dl;
    int rc;

    *out = NULL;
    if (!path || !*path)
        return refuse(-EINVAL, "(no path)", err, errlen, "empty plugin path");
    if (strlen(path) >= sizeof(p->path))
        return refuse(-ENAMETOOLONG, path, err, errlen, "path too long");
    if (stat(path, &st) < 0) {
        rc = -errno;
        return refuse(rc, path, err, errlen, "cannot stat: %s", strerror(-rc));
    }
    if (!S_ISREG(st.st_mode))
        return refuse(-EINVAL, path, err, errlen, "not a regular file");
    /* The daemon runs whatever code this file holds, often as a service
     * user with access to every job's media: never code anyone may swap. */
    if (st.st_mode & S_IWOTH)
        return refuse(-EPERM, path, err, errlen,
                      "world-writable: anyone could replace the code distconvd runs; chmod o-w");

    dlerror();
    /* RTLD_LOCAL: two plugins may carry symbols of the same name (static
     * helpers of a vendor SDK) and must not bind to each other's. */
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        size_t n = strlen(path);
        /* glibc prefixes the path, which the message already starts with. */
        if (e && strncmp(e, path, n) == 0 && strncmp(e + n, ": ", 2) == 0)
            e += n + 2;
        return refuse(-ENOEXEC, path, err, errlen, "dlopen failed: %s", e ? e : "unknown error");
    }
    /*
     * From here on a refused file stays mapped: dlopen already ran its
     * constructors, which may have registered things (atexit handlers,
     * FFmpeg or driver callbacks) that would point into unmapped code after
     * dlclose. GStreamer keeps plugins resident for the same reason.
     */
    dlerror();
    dcv_plugin_query_fn query;
    void *sym = dlsym(dl, DCV_PLUGIN_QUERY_SYMBOL);
    if (!sym)
        return refuse(-ENOEXEC, path, err, errlen,
                      "not a distconv v1 plugin (no " DCV_PLUGIN_QUERY_SYMBOL ")");
    /* POSIX guarantees a data pointer from dlsym converts to a function
     * pointer; memcpy keeps -Wpedantic quiet about it. */
    memcpy(&query, &sym, sizeof(query));
    const struct dcv_plugin_header *h = query();
    if (!h)
        return refuse(-EINVAL, path, err, errlen, DCV_PLUGIN_QUERY_SYMBOL "() returned NULL");

    p = calloc(1, sizeof(*p));
    if (!p)
        return refuse(-ENOMEM, path, err, errlen, "out of memory");
    snprintf(p->path, sizeof(p->path), "%s", path);
    p->dl = dl;
    rc = check_header(p, h, path, set, err, errlen);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

struct dcv_plugin *dcv_plugin_set_find(const struct dcv_plugin_set *set, const char *name)
{
    if (!set || !name)
        return NULL;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->items[i]->hdr.name, name) == 0)
            return set->items[i];
    return NULL;
}

int dcv_plugin_set_add(struct dcv_plugin_set *set, struct dcv_plugin *p)
{
    if (dcv_plugin_set_find(set, p->hdr.name))
        return -EEXIST;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        struct dcv_plugin **items = realloc(set->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        set->items = items;
        set->cap = cap;
    }
    set->items[set->n++] = p;
    return 0;
}

static int so_filter(const struct dirent *d)
{
    size_t len = strlen(d->d_name);

    /* Hidden files are editor or package-manager leftovers, never plugins
     * someone meant to install. */
    return d->d_name[0] != '.' && len > 3 && strcmp(d->d_name + len - 3, ".so") == 0;
}

/* Bytewise, not alphasort's strcoll: load order (and so which of two
 * duplicate names wins) must not depend on the locale. */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

void dcv_plugin_names_free(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int dcv_plugin_scan_dir(const char *dir, char ***names, char *err, size_t errlen)
{
    struct dirent **ents = NULL;
    char **out;
    int n;

    *names = NULL;
    n = scandir(dir, &ents, so_filter, name_cmp);
    if (n < 0) {
        int rc = -errno;
        snprintf(err, errlen, "%s: cannot read plugin directory: %s", dir, strerror(-rc));
        return rc;
    }
    out = calloc((size_t)n + 1, sizeof(*out));
    for (int i = 0; i < n; i++) {
        if (out && !(out[i] = strdup(ents[i]->d_name))) {
            dcv_plugin_names_free(out, i);
            out = NULL;
        }
        free(ents[i]);
    }
    free(ents);
    if (!out) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -ENOMEM;
    }
    *names = out;
    return n;
}

int dcv_plugin_set_load_dir(struct dcv_plugin_set *set, const char *dir, char *err,
                            size_t errlen)
{
    char **names;
    int n, loaded = 0;

    n = dcv_plugin_scan_dir(dir, &names, err, errlen);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        char path[4096], why[1536];
        struct dcv_plugin *p;
        int rc;

        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
            dcv_log(DCV_LOG_WARN, "plugin", "%s/%s: refused: path too long", dir, names[i]);
            continue;
        }
        rc = dcv_plugin_load(path, set, &p, why, sizeof(why));
        if (rc < 0) {
            dcv_log(DCV_LOG_WARN, "plugin", "%s", why);
            continue;
        }
        rc = dcv_plugin_set_add(set, p);
        if (rc < 0) {
            dcv_log(DCV_LOG_WARN, "plugin", "%s: refused: %s", path, strerror(-rc));
            free(p);
            continue;
        }
        dcv_log(DCV_LOG_DEBUG, "plugin", "%s: loaded %s plugin '%s' %s", path,
                kind_name(p->hdr.kind), p->hdr.name, p->hdr.version);
        loaded++;
    }
    dcv_plugin_names_free(names, n);
    return loaded;
}

/* ------------------------------------------------------------------------ */
/* Host services                                                             */
/* ------------------------------------------------------------------------ */

static void host_log(void *host_ctx, int level, const char *fmt, ...) DCV_PRINTF(3, 4);
static void host_log(void *host_ctx, int level, const char *fmt, ...)
{
    const struct dcv_plugin *p = host_ctx;
    char component[8 + NAME_MAX_LEN + 1];
    va_list ap;

    /* A plugin's level is untrusted: clamp instead of indexing with it. */
    if (level < DCV_LOG_ERROR)
        level = DCV_LOG_ERROR;
    if (level > DCV_LOG_TRACE)
        level = DCV_LOG_TRACE;
    if (!fmt)
        return;
    snprintf(component, sizeof(component), "plugin:%s", p ? p->hdr.name : "?");
    va_start(ap, fmt);
    dcv_logv(level, component, fmt, ap);
    va_end(ap);
}

/*
 * Without a loaded configuration a plugin still gets a handle (plugin.h
 * promises one); this tag stands for "no subtree" and is never passed to
 * the config module, so no empty-config object is needed there.
 */
static const char empty_cfg_tag;
#define EMPTY_CFG ((const struct dcv_config *)(const void *)&empty_cfg_tag)

static int host_cfg_int(const struct dcv_config *cfg, const char *path, int64_t *out)
{
    if (!cfg || cfg == EMPTY_CFG || !path || !out)
        return !path || !out ? -EINVAL : -ENOENT;
    return dcv_config_get_int(cfg, path, out);
}

static int host_cfg_str(const struct dcv_config *cfg, const char *path, const char **out)
{
    if (!cfg || cfg == EMPTY_CFG || !path || !out)
        return !path || !out ? -EINVAL : -ENOENT;
    return dcv_config_get_str(cfg, path, out);
}

static int host_cfg_bool(const struct dcv_config *cfg, const char *path, int *out)
{
    if (!cfg || cfg == EMPTY_CFG || !path || !out)
        return !path || !out ? -EINVAL : -ENOENT;
    return dcv_config_get_bool(cfg, path, out);
}

static int host_cfg_double(const struct dcv_config *cfg, const char *path, double *out)
{
    if (!cfg || cfg == EMPTY_CFG || !path || !out)
        return !path || !out ? -EINVAL : -ENOENT;
    return dcv_config_get_double(cfg, path, out);
}

int dcv_plugin_init(struct dcv_plugin *p, struct dcv_conf *conf, char *err, size_t errlen)
{
    char why[1024] = "";
    const struct dcv_config *cfg;
    void *ctx = NULL;
    int rc;

    if (p->initialised)
        return 0;
    memset(&p->host, 0, sizeof(p->host));
    p->host.struct_size = sizeof(p->host);
    p->host.abi_minor = DCV_ABI_MINOR;
    p->host.host_ctx = p;
    p->host.log = host_log;
    p->host.cfg_get_int = host_cfg_int;
    p->host.cfg_get_str = host_cfg_str;
    p->host.cfg_get_bool = host_cfg_bool;
    p->host.cfg_get_double = host_cfg_double;
    p->host.now_ns = dcv_mono_ns;

    cfg = conf ? dcv_conf_plugin(conf, p->hdr.name) : NULL;
    if (!cfg)
        cfg = EMPTY_CFG;
    rc = p->hdr.init(&p->host, cfg, &ctx, why, sizeof(why));
    why[sizeof(why) - 1] = '\0'; /* the plugin may have filled it to the brim */
    if (rc < 0) {
        snprintf(err, errlen, "%s: init failed: %s", p->path,
                 why[0] ? why : strerror(-rc));
        return rc;
    }
    p->ctx = ctx;
    p->initialised = 1;
    return 0;
}

void dcv_plugin_set_clear(struct dcv_plugin_set *set)
{
    if (!set)
        return;
    /* Reverse load order, like destructors: a later plugin may lean on an
     * earlier one's process-wide setup. */
    for (size_t i = set->n; i-- > 0;) {
        struct dcv_plugin *p = set->items[i];
        if (p->initialised && p->hdr.fini)
            p->hdr.fini(p->ctx);
        free(p);
    }
    free(set->items);
    set->items = NULL;
    set->n = set->cap = 0;
}
