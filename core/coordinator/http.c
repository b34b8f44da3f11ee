/*
 * The coordinator's HTTP plane (http.h): the route table, the listener's
 * policy (where it may listen, with what authentication, TLS) and its
 * lifetime.
 */
#include "coordinator/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "errbuf.h"
#include "http/assets.h"
#include "log.h"

/* Every route names its entry in the permission table (perm.h); httpd
 * refuses to start with one that does not. */
static const struct dcv_http_route routes[] = {
    {"GET", "/metrics", DCV_ACT_METRICS, co_http_metrics, 0},
    {"GET", "/api/v1/whoami", DCV_ACT_PUBLIC, co_http_whoami, 0},
    {"POST", "/api/v1/login", DCV_ACT_PUBLIC, co_http_login, DCV_HTTP_BODY},
    {"POST", "/api/v1/logout", DCV_ACT_PUBLIC, co_http_logout, DCV_HTTP_BODY},
    {"GET", "/api/v1/cluster", DCV_ACT_INFO, co_api_cluster, 0},
    {"GET", "/api/v1/workers", DCV_ACT_WORKERS_READ, co_api_workers, 0},
    {"GET", "/api/v1/workers/*", DCV_ACT_WORKERS_READ, co_api_worker, 0},
    {"POST", "/api/v1/workers/*/drain", DCV_ACT_WORKERS_CONTROL, co_api_drain, DCV_HTTP_BODY},
    {"POST", "/api/v1/workers/*/undrain", DCV_ACT_WORKERS_CONTROL, co_api_undrain, DCV_HTTP_BODY},
    {"GET", "/api/v1/jobs", DCV_ACT_JOBS_READ, co_api_jobs, 0},
    {"POST", "/api/v1/jobs", DCV_ACT_JOBS_SUBMIT, co_api_submit, DCV_HTTP_BODY},
    {"GET", "/api/v1/jobs/*", DCV_ACT_JOBS_READ, co_api_job, 0},
    {"POST", "/api/v1/jobs/*/cancel", DCV_ACT_JOBS_CONTROL, co_api_cancel, DCV_HTTP_BODY},
    {"POST", "/api/v1/jobs/*/retry", DCV_ACT_JOBS_CONTROL, co_api_retry, DCV_HTTP_BODY},
    {"GET", "/api/v1/events", DCV_ACT_EVENTS, co_api_events, 0},
    {"GET", "/api/v1/routes", DCV_ACT_PUBLIC, co_api_routes, 0},
    {"GET", "/", DCV_ACT_PUBLIC, dcv_assets_serve, 0},
    {"GET", "/assets/*", DCV_ACT_PUBLIC, dcv_assets_serve, 0},
};

const struct dcv_http_route *co_http_routes(size_t *n)
{
    *n = sizeof routes / sizeof routes[0];
    return routes;
}

/* This table and the permission table's entry of each route, so a client
 * (and the test that requests every route with every role) reads what the
 * server enforces. */
void co_api_routes(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    static const int roles[] = {DCV_AUTH_VIEWER, DCV_AUTH_SUBMITTER, DCV_AUTH_OPERATOR};
    json_object *o = json_object_new_object(), *arr = json_object_new_array();

    (void)ud;
    (void)rq;
    if (!o || !arr) {
        json_object_put(o);
        json_object_put(arr);
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        json_object *e = json_object_new_object(), *who = json_object_new_array();
        if (!e || !who) {
            json_object_put(e);
            json_object_put(who);
            continue;
        }
        json_object_object_add(e, "method", json_object_new_string(routes[i].method));
        json_object_object_add(e, "path", json_object_new_string(routes[i].path));
        json_object_object_add(e, "action",
                               json_object_new_string(dcv_perm_name(routes[i].action)));
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
            if (dcv_perm_allows(roles[k], routes[i].action))
                json_object_array_add(who, json_object_new_string(dcv_auth_role_name(roles[k])));
        json_object_object_add(e, "roles", who);
        json_object_array_add(arr, e);
    }
    json_object_object_add(o, "routes", arr);
    co_api_json(out, 200, o);
}

/* A PEM file into memory; a key must not be readable by others (as a
 * secret CURVE key). */
static int read_pem(const char *what, const char *path, int secret, char **out, char *err,
                    size_t errlen)
{
    struct stat st;
    char *buf;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return dcv_err(err, errlen, -errno, "%s %s: %s", what, path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > 1024 * 1024) {
        close(fd);
        return dcv_err(err, errlen, -EINVAL, "%s %s: not a PEM file of 1 byte .. 1 MiB", what,
                       path);
    }
    if (secret && (st.st_mode & 077)) {
        close(fd);
        return dcv_err(err, errlen, -EPERM,
                       "%s %s: group or others may read it (mode %03o): chmod 600 it", what,
                       path, (unsigned)(st.st_mode & 0777));
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    }
    n = read(fd, buf, (size_t)st.st_size);
    close(fd);
    if (n != st.st_size) {
        free(buf);
        return dcv_err(err, errlen, -EIO, "%s %s: short read", what, path);
    }
    buf[n] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        free(buf);
        return dcv_err(err, errlen, -EINVAL, "%s %s: not PEM (no -----BEGIN line)", what, path);
    }
    *out = buf;
    return 0;
}

int co_http_start(struct dcv_coord *c, char *err, size_t errlen)
{
    const struct dcv_settings *s = c->set;
    struct dcv_http_opts o = {
        .bind = s->http_bind,
        .max_connections = (unsigned)s->http_max_connections,
        .per_ip = (unsigned)s->http_per_ip,
        .timeout_s = (unsigned)s->http_timeout_s,
        .authorize = co_http_authorize,
    };
    struct sockaddr_storage ss;
    socklen_t sl;
    int loopback, r;

    if (!s->http_bind[0] || strcmp(s->http_bind, "off") == 0)
        return 0;
    if ((r = dcv_http_bind_parse(s->http_bind, &ss, &sl, &loopback, err, errlen)) < 0)
        return r;
    /* Secure by default: anonymous reading only where only this host can
     * connect (docs/api.md "Authentication"). */
    if (!loopback && s->http_anonymous != DCV_HTTP_ANON_NONE)
        return dcv_err(err, errlen, -EPERM,
                       "http.bind %s is not a loopback address, and http.anonymous = "
                       "\"viewer\" would let anyone who reaches it read the cluster: set "
                       "http.anonymous = \"none\" (API tokens then, made with `distconvctl "
                       "token create`) or bind 127.0.0.1",
                       s->http_bind);
    if (!!s->http_tls_cert[0] != !!s->http_tls_key[0])
        return dcv_err(err, errlen, -EINVAL, "http.tls_cert and http.tls_key go together: "
                                             "set both or neither");
    if (s->http_tls_cert[0]) {
        if ((r = read_pem("http.tls_cert", s->http_tls_cert, 0, &c->web.tls_cert, err,
                          errlen)) < 0 ||
            (r = read_pem("http.tls_key", s->http_tls_key, 1, &c->web.tls_key, err, errlen)) < 0)
            goto fail;
        o.tls_cert_pem = c->web.tls_cert;
        o.tls_key_pem = c->web.tls_key;
    }
    if (s->http_metrics_token_file[0] &&
        (r = dcv_auth_read_token(s->http_metrics_token_file, c->web.scrape,
                                 sizeof c->web.scrape, err, errlen)) < 0)
        goto fail;
    c->web.loopback = loopback;
    c->web.anon_roles = loopback && s->http_anonymous == DCV_HTTP_ANON_VIEWER ? DCV_AUTH_VIEWER : 0;
    if ((r = dcv_httpd_start(c->loop, &o, routes, sizeof routes / sizeof routes[0], c, &c->http,
                             err, errlen)) < 0)
        goto fail;
    if ((r = co_events_start(c, err, errlen)) < 0)
        goto fail;
    if (!loopback && !o.tls_cert_pem)
        dcv_log(DCV_LOG_WARN, CO_LOG,
                "http on %s without TLS: tokens and cookies cross the network in the clear "
                "(set http.tls_cert and http.tls_key)", s->http_bind);
    dcv_log(DCV_LOG_INFO, CO_LOG, "http endpoint bound: %s://%s/ (anonymous access: %s)",
            o.tls_cert_pem ? "https" : "http", s->http_bind,
            c->web.anon_roles ? "read-only" : "none");
    return 0;
fail:
    co_http_free(c);
    return r;
}

void co_http_revoked(struct dcv_coord *c, const char *name)
{
    char who[96];
    co_websessions_drop(c, name);
    snprintf(who, sizeof who, "token:%s", name);
    dcv_httpd_close_streams(c->http, who);
}

void co_http_free(struct dcv_coord *c)
{
    co_events_stop(c);
    dcv_httpd_free(&c->http);
    co_websessions_free(c);
    free(c->web.tls_cert);
    if (c->web.tls_key) {
        memset(c->web.tls_key, 0, strlen(c->web.tls_key));
        free(c->web.tls_key);
    }
    c->web.tls_cert = c->web.tls_key = NULL;
    memset(c->web.scrape, 0, sizeof c->web.scrape);
}
