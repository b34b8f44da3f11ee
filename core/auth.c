/*
 * Key files, allow-lists, roles and the ZAP policy: see auth.h.
 */
#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "config.h"
#include "errbuf.h"
#include "log.h"

#define COMP "auth"
#define TOKEN_MAX 256
#define LINE_MAX_LEN 512

static const char z85_chars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                ".-:+=^!/*?&<>()[]{}@%$#";

const char *dcv_auth_role_name(int roles)
{
    if (roles & DCV_AUTH_OPERATOR)
        return "operator";
    if (roles & DCV_AUTH_SUBMITTER)
        return "submitter";
    if (roles & DCV_AUTH_VIEWER)
        return "viewer";
    if (roles & DCV_AUTH_WORKER)
        return "worker";
    return "nobody";
}

int dcv_auth_default_path(const char *leaf, char *out, size_t len)
{
    const char *slash = strrchr(DCV_DEFAULT_CONFIG, '/');
    int dl = slash ? (int)(slash - DCV_DEFAULT_CONFIG) : 0;
    int n = snprintf(out, len, "%.*s/%s", dl, DCV_DEFAULT_CONFIG, leaf);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int dcv_auth_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n < DCV_AUTH_NAME_MAX && name[0] != '.' && name[0] != '-' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int valid_key(const char *k)
{
    return strlen(k) == DCV_TX_KEY_LEN && strspn(k, z85_chars) == DCV_TX_KEY_LEN;
}

/* Trim blanks at both ends in place; returns the start. */
static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Open a file for reading; with secret, refuse group/other access. */
static FILE *open_checked(const char *path, int secret, char *err, size_t errlen, int *rc)
{
    struct stat st;
    FILE *f = fopen(path, "re");
    if (!f) {
        *rc = -errno;
        dcv_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        *rc = -EINVAL;
        dcv_errf(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if (secret && (st.st_mode & 077)) {
        *rc = -EPERM;
        dcv_errf(err, errlen,
                 "%s: permissions %04o are too open: a secret must not be accessible by group "
                 "or others (chmod 600 %s)",
                 path, (unsigned)(st.st_mode & 07777), path);
        fclose(f);
        return NULL;
    }
    return f;
}

/* The next line that is neither blank nor a comment: 1 found, 0 end,
 * -EINVAL too long (err set). *lineno counts every line read. */
static int next_line(FILE *f, const char *path, char *buf, size_t len, char **out, int *lineno,
                     char *err, size_t errlen)
{
    while (fgets(buf, (int)len, f)) {
        char *p;
        (*lineno)++;
        if (!strchr(buf, '\n') && !feof(f)) {
            dcv_errf(err, errlen, "%s:%d: line too long", path, *lineno);
            return -EINVAL;
        }
        p = trim(buf);
        /* '#' is also a Z85 digit: a line that is exactly a key is a key. */
        if (!*p || (*p == '#' && !valid_key(p)))
            continue;
        *out = p;
        return 1;
    }
    return 0;
}

int dcv_auth_read_key(const char *path, int secret, char out[DCV_TX_KEY_LEN + 1], char *err,
                      size_t errlen)
{
    char buf[LINE_MAX_LEN], *p;
    int lineno = 0, r = 0;
    FILE *f = open_checked(path, secret, err, errlen, &r);

    if (!f)
        return r;
    r = next_line(f, path, buf, sizeof buf, &p, &lineno, err, errlen);
    fclose(f);
    if (r < 0)
        return r;
    if (r == 0)
        return dcv_err(err, errlen, -EINVAL, "%s: no key in the file (expected a %d-character "
                       "Z85 key, as `distconvctl keygen` writes)", path, DCV_TX_KEY_LEN);
    if (!valid_key(p))
        return dcv_err(err, errlen, -EINVAL, "%s:%d: expected a %d-character Z85 key", path,
                       lineno, DCV_TX_KEY_LEN);
    memcpy(out, p, DCV_TX_KEY_LEN + 1);
    return 0;
}

int dcv_auth_read_token(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    char buf[LINE_MAX_LEN], *p;
    int lineno = 0, r = 0;
    FILE *f = open_checked(path, 1, err, errlen, &r);
    size_t n;

    if (!f)
        return r;
    r = next_line(f, path, buf, sizeof buf, &p, &lineno, err, errlen);
    fclose(f);
    if (r < 0)
        return r;
    if (r == 0)
        return dcv_err(err, errlen, -EINVAL, "%s: no token in the file", path);
    n = strlen(p);
    if (n < 16 || n >= TOKEN_MAX || n >= outlen || strpbrk(p, " \t"))
        return dcv_err(err, errlen, -EINVAL,
                       "%s:%d: expected a token of 16 to %d characters without blanks", path,
                       lineno, TOKEN_MAX - 1);
    memcpy(out, p, n + 1);
    return 0;
}

static int write_file(const char *path, mode_t mode, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    size_t n = strlen(text);
    if (fd < 0)
        return dcv_err(err, errlen, -errno, "%s: %s", path,
                       errno == EEXIST ? "exists already (remove it first to replace the key)"
                                       : strerror(errno));
    /* The umask may have taken bits away from 0644; never added any. */
    if (fchmod(fd, mode) < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(path);
        return dcv_err(err, errlen, -e, "%s: %s", path, strerror(e));
    }
    if (close(fd) < 0) {
        int e = errno;
        unlink(path);
        return dcv_err(err, errlen, -e, "%s: %s", path, strerror(e));
    }
    return 0;
}

int dcv_auth_write_keys(const char *dir, const char *name, const char *pub, const char *sec,
                        char *err, size_t errlen)
{
    /* Sized for the longest valid name (DCV_AUTH_NAME_MAX) with the comment
     * lines below; a cut key line would be an unloadable key file, so a text
     * that does not fit is an error, never written. */
    char kpath[4096], ppath[4096], text[512 + DCV_AUTH_NAME_MAX];
    int r, n;

    if (!dcv_auth_valid_name(name))
        return dcv_err(err, errlen, -EINVAL,
                       "name '%s': expected 1 to %d letters, digits, '.', '_' or '-' (not "
                       "starting with '.' or '-')", name, DCV_AUTH_NAME_MAX - 1);
    if (!valid_key(pub) || !valid_key(sec))
        return dcv_err(err, errlen, -EINVAL, "keygen produced an invalid key");
    if ((size_t)snprintf(kpath, sizeof kpath, "%s/%s.key", dir, name) >= sizeof kpath ||
        (size_t)snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, name) >= sizeof ppath)
        return dcv_err(err, errlen, -ENAMETOOLONG, "%s: directory name too long", dir);
    if (access(ppath, F_OK) == 0)
        return dcv_err(err, errlen, -EEXIST, "%s: exists already (remove it first to replace "
                       "the key)", ppath);
    n = snprintf(text, sizeof text,
                 "# distconv CURVE secret key of %s: keep it private (mode 0600)\n%s\n", name, sec);
    if (n < 0 || (size_t)n >= sizeof text)
        return dcv_err(err, errlen, -ENAMETOOLONG, "name '%s': key file text too long", name);
    if ((r = write_file(kpath, 0600, text, err, errlen)) < 0)
        return r;
    n = snprintf(text, sizeof text,
             "# distconv CURVE public key of %s: enroll it by copying this file into the\n"
             "# coordinator's workers.d/ (a worker) or admins.d/ (an operator; add\n"
             "# `role = submitter` for a submitter), then reload it (SIGHUP).\n%s\n",
             name, pub);
    if (n < 0 || (size_t)n >= sizeof text) {
        unlink(kpath);
        return dcv_err(err, errlen, -ENAMETOOLONG, "name '%s': key file text too long", name);
    }
    if ((r = write_file(ppath, 0644, text, err, errlen)) < 0) {
        unlink(kpath);
        return r;
    }
    return 0;
}

/* ---- allow-lists ------------------------------------------------------------------- */

int dcv_auth_role_parse(const char *v)
{
    if (strcmp(v, "viewer") == 0)
        return DCV_AUTH_VIEWER;
    if (strcmp(v, "worker") == 0)
        return DCV_AUTH_WORKER;
    if (strcmp(v, "submitter") == 0)
        return DCV_AUTH_SUBMITTER;
    if (strcmp(v, "operator") == 0)
        return DCV_AUTH_OPERATOR;
    return 0;
}

int dcv_allow_parse_file(const char *path, int default_role, int allowed,
                         struct dcv_allow_entry *out, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/');
    char buf[LINE_MAX_LEN], *p;
    int lineno = 0, r = 0, have_role = 0;
    size_t bl;
    FILE *f;

    memset(out, 0, sizeof *out);
    base = base ? base + 1 : path;
    bl = strlen(base);
    if (bl <= 4 || strcmp(base + bl - 4, ".pub") != 0 || bl - 4 >= sizeof out->name)
        return dcv_err(err, errlen, -EINVAL, "%s: expected NAME.pub", path);
    memcpy(out->name, base, bl - 4);
    out->name[bl - 4] = '\0';
    if (!dcv_auth_valid_name(out->name))
        return dcv_err(err, errlen, -EINVAL,
                       "%s: '%s' is not a valid name (letters, digits, '.', '_', '-')", path,
                       out->name);
    if (!(f = open_checked(path, 0, err, errlen, &r)))
        return r;
    out->roles = default_role;
    while ((r = next_line(f, path, buf, sizeof buf, &p, &lineno, err, errlen)) > 0) {
        char *eq;
        if (!out->key[0]) {
            if (!valid_key(p)) {
                r = dcv_err(err, errlen, -EINVAL, "%s:%d: expected a %d-character Z85 public key",
                            path, lineno, DCV_TX_KEY_LEN);
                break;
            }
            memcpy(out->key, p, DCV_TX_KEY_LEN + 1);
            continue;
        }
        eq = strchr(p, '=');
        if (eq) {
            *eq = '\0';
            if (strcmp(trim(p), "role") == 0) {
                int role = dcv_auth_role_parse(trim(eq + 1));
                if (!role || !(role & allowed) || have_role) {
                    r = dcv_err(err, errlen, -EINVAL, "%s:%d: %s", path, lineno,
                                have_role ? "role given twice"
                                : allowed == DCV_AUTH_WORKER
                                    ? "a workers.d entry can only have role = worker"
                                    : "expected role = viewer, submitter or operator");
                    break;
                }
                out->roles = role;
                have_role = 1;
                continue;
            }
        }
        r = dcv_err(err, errlen, -EINVAL, "%s:%d: expected `role = ...` after the key", path,
                    lineno);
        break;
    }
    fclose(f);
    if (r < 0)
        return r;
    if (!out->key[0])
        return dcv_err(err, errlen, -EINVAL, "%s: no key in the file", path);
    /* An operator may do everything a submitter may. */
    if (out->roles == DCV_AUTH_OPERATOR)
        out->roles |= DCV_AUTH_SUBMITTER;
    return 0;
}

static int pub_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".pub") == 0;
}

static int allow_push(struct dcv_allow *a, size_t *cap, const struct dcv_allow_entry *e)
{
    if (a->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct dcv_allow_entry *v = realloc(a->v, nc * sizeof *v);
        if (!v)
            return -ENOMEM;
        a->v = v;
        *cap = nc;
    }
    a->v[a->n++] = *e;
    return 0;
}

static int load_dir(struct dcv_allow *a, size_t *cap, const char *dir, int default_role,
                    int allowed, char *err, size_t errlen)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, pub_filter, alphasort), r = 0;

    if (n < 0) {
        int e = errno;
        if (e == ENOENT) {
            dcv_log(DCV_LOG_DEBUG, COMP, "%s does not exist: nobody enrolled there", dir);
            return 0;
        }
        return dcv_err(err, errlen, -e, "%s: cannot read: %s", dir, strerror(e));
    }
    for (int i = 0; i < n && r == 0; i++) {
        struct dcv_allow_entry e;
        char path[4096], why[1024];
        size_t k;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name) >= sizeof path)
            continue;
        if (dcv_allow_parse_file(path, default_role, allowed, &e, why, sizeof why) < 0) {
            dcv_log(DCV_LOG_WARN, COMP, "%s (skipped)", why);
            continue;
        }
        for (k = 0; k < a->n; k++)
            if (strcmp(a->v[k].name, e.name) == 0 || strcmp(a->v[k].key, e.key) == 0)
                break;
        if (k < a->n) {
            /* One key, one identity, one role: a second file naming either
             * again is a mistake the operator must see. */
            dcv_log(DCV_LOG_WARN, COMP, "%s:1: %s already enrolled as '%s' (skipped)", path,
                    strcmp(a->v[k].name, e.name) == 0 ? "the name is" : "this key is",
                    a->v[k].name);
            continue;
        }
        if (allow_push(a, cap, &e) < 0)
            r = dcv_err(err, errlen, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return r;
}

static int allow_build(const char *workers_dir, const char *admins_dir, const char *own_name,
                       const char *own_key, struct dcv_allow **out, char *err, size_t errlen)
{
    struct dcv_allow *a = calloc(1, sizeof *a);
    size_t cap = 0;
    int r = 0;

    *out = NULL;
    if (!a)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    if (own_key && own_key[0] && own_name && dcv_auth_valid_name(own_name)) {
        struct dcv_allow_entry e;
        memset(&e, 0, sizeof e);
        snprintf(e.name, sizeof e.name, "%s", own_name);
        memcpy(e.key, own_key, DCV_TX_KEY_LEN + 1);
        e.roles = DCV_AUTH_ALL;
        r = allow_push(a, &cap, &e) < 0 ? dcv_err(err, errlen, -ENOMEM, "out of memory") : 0;
    }
    if (r == 0 && workers_dir && workers_dir[0])
        r = load_dir(a, &cap, workers_dir, DCV_AUTH_WORKER, DCV_AUTH_WORKER, err, errlen);
    if (r == 0 && admins_dir && admins_dir[0])
        r = load_dir(a, &cap, admins_dir, DCV_AUTH_OPERATOR,
                     DCV_AUTH_PEOPLE, err, errlen);
    if (r < 0) {
        dcv_allow_free(&a);
        return r;
    }
    *out = a;
    return 0;
}

int dcv_allow_load(const char *workers_dir, const char *admins_dir, struct dcv_allow **out,
                   char *err, size_t errlen)
{
    return allow_build(workers_dir, admins_dir, NULL, NULL, out, err, errlen);
}

void dcv_allow_free(struct dcv_allow **ap)
{
    struct dcv_allow *a = ap ? *ap : NULL;
    if (!a)
        return;
    free(a->v);
    free(a);
    *ap = NULL;
}

/* ---- the policy ------------------------------------------------------------------- */

struct dcv_auth {
    pthread_mutex_t mu;
    enum dcv_sec_mode mode;
    char workers_dir[4096], admins_dir[4096], token_file[4096];
    char own_name[DCV_AUTH_NAME_MAX], own_key[DCV_TX_KEY_LEN + 1];
    uid_t own_uid;
    gid_t op_gid, sub_gid;
    int has_op_gid, has_sub_gid;
    /* under mu */
    struct dcv_allow *allow;
    char token[TOKEN_MAX];
};

static int group_gid(const char *key, const char *name, gid_t *gid, int *has, char *err,
                     size_t errlen)
{
    struct group gr, *res = NULL;
    char buf[16384];
    *has = 0;
    if (!name[0])
        return 0;
    if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || !res)
        return dcv_err(err, errlen, -ENOENT, "security.%s: no group named '%s' on this system",
                       key, name);
    *gid = res->gr_gid;
    *has = 1;
    return 0;
}

int dcv_auth_new(const struct dcv_settings *s, const char *own_name, const char *own_key,
                 struct dcv_auth **out, char *err, size_t errlen)
{
    struct dcv_auth *a;
    int r;

    *out = NULL;
    if (!(a = calloc(1, sizeof *a)))
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    a->mode = s->sec_mode;
    snprintf(a->workers_dir, sizeof a->workers_dir, "%s", s->sec_workers_dir);
    snprintf(a->admins_dir, sizeof a->admins_dir, "%s", s->sec_admins_dir);
    snprintf(a->token_file, sizeof a->token_file, "%s", s->sec_token_file);
    snprintf(a->own_name, sizeof a->own_name, "%s", own_name ? own_name : "");
    snprintf(a->own_key, sizeof a->own_key, "%s", own_key ? own_key : "");
    a->own_uid = geteuid();
    if ((r = group_gid("ipc_operator_group", s->sec_ipc_operator_group, &a->op_gid,
                       &a->has_op_gid, err, errlen)) < 0 ||
        (r = group_gid("ipc_submitter_group", s->sec_ipc_submitter_group, &a->sub_gid,
                       &a->has_sub_gid, err, errlen)) < 0 ||
        (r = dcv_auth_reload(a, err, errlen)) < 0) {
        dcv_auth_free(&a);
        return r;
    }
    *out = a;
    return 0;
}

void dcv_auth_free(struct dcv_auth **ap)
{
    struct dcv_auth *a = ap ? *ap : NULL;
    if (!a)
        return;
    dcv_allow_free(&a->allow);
    memset(a->token, 0, sizeof a->token);
    pthread_mutex_destroy(&a->mu);
    free(a);
    *ap = NULL;
}

int dcv_auth_reload(struct dcv_auth *a, char *err, size_t errlen)
{
    struct dcv_allow *fresh = NULL, *old;
    char token[TOKEN_MAX] = "";
    int r;

    if (a->mode == DCV_SEC_TOKEN) {
        if ((r = dcv_auth_read_token(a->token_file, token, sizeof token, err, errlen)) < 0)
            return r;
    } else if (a->mode == DCV_SEC_CURVE) {
        if ((r = allow_build(a->workers_dir, a->admins_dir, a->own_name, a->own_key, &fresh, err,
                             errlen)) < 0)
            return r;
    }
    pthread_mutex_lock(&a->mu);
    old = a->allow;
    a->allow = fresh;
    memcpy(a->token, token, sizeof token);
    pthread_mutex_unlock(&a->mu);
    memset(token, 0, sizeof token);
    dcv_allow_free(&old);
    return 0;
}

size_t dcv_auth_count(struct dcv_auth *a)
{
    size_t n;
    pthread_mutex_lock(&a->mu);
    n = a->allow ? a->allow->n : 0;
    pthread_mutex_unlock(&a->mu);
    return n;
}

/* Is uid root, the daemon's own user, or in group gid (primary or
 * supplementary, as the system's group database says now)? */
static int uid_in_group(uid_t uid, gid_t primary, gid_t gid)
{
    struct passwd pw, *res = NULL;
    char buf[16384];
    gid_t groups[256];
    int n = 256;

    if (primary == gid)
        return 1;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res)
        return 0;
    if (res->pw_gid == gid)
        return 1;
    if (getgrouplist(res->pw_name, res->pw_gid, groups, &n) < 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

static int unix_roles(const struct dcv_auth *a, uid_t uid, gid_t gid)
{
    if (uid == 0 || uid == a->own_uid)
        return DCV_AUTH_OPERATOR | DCV_AUTH_SUBMITTER;
    if (a->has_op_gid && uid_in_group(uid, gid, a->op_gid))
        return DCV_AUTH_OPERATOR | DCV_AUTH_SUBMITTER;
    if (a->has_sub_gid && uid_in_group(uid, gid, a->sub_gid))
        return DCV_AUTH_SUBMITTER;
    return 0;
}

static void unix_name(uid_t uid, char *out, size_t len)
{
    struct passwd pw, *res = NULL;
    char buf[16384];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res &&
        dcv_auth_valid_name(res->pw_name))
        snprintf(out, len, "unix:%s", res->pw_name);
    else
        snprintf(out, len, "unix:%u", (unsigned)uid);
}

/* Compare without an early exit: the time must not tell how much of a
 * guessed token was right. */
static int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        d |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
    return la && d == 0;
}

int dcv_auth_authorize(void *auth_ctx, const struct dcv_tx_auth_req *rq, char *user_id,
                       size_t user_id_len, char *reason, size_t reason_len)
{
    struct dcv_auth *a = auth_ctx;
    const char *domain = rq->domain ? rq->domain : "";
    const char *mech = rq->mechanism ? rq->mechanism : "";
    int code = 400;

    user_id[0] = '\0';
    if (strcmp(mech, "NULL") == 0) {
        int roles;
        /* Only the ipc admin socket asks about NULL peers: by uid. */
        if (strcmp(domain, DCV_AUTH_DOMAIN_ADMIN) != 0 || rq->uid < 0) {
            snprintf(reason, reason_len, "unauthenticated peers are not accepted here");
            return 400;
        }
        roles = unix_roles(a, (uid_t)rq->uid, (gid_t)rq->gid);
        unix_name((uid_t)rq->uid, user_id, user_id_len);
        if (!roles) {
            snprintf(reason, reason_len,
                     "local user %s (uid %lld) is not root, the daemon's user, or a member of "
                     "security.ipc_operator_group / ipc_submitter_group",
                     user_id + 5, (long long)rq->uid);
            user_id[0] = '\0';
            return 400;
        }
        return 200;
    }
    pthread_mutex_lock(&a->mu);
    if (strcmp(mech, "PLAIN") == 0) {
        if (a->mode != DCV_SEC_TOKEN || !a->token[0])
            snprintf(reason, reason_len, "PLAIN is only accepted in token mode");
        else if (!rq->password || !token_equal(a->token, rq->password))
            snprintf(reason, reason_len, "wrong token");
        else if (!rq->username || !dcv_auth_valid_name(rq->username))
            snprintf(reason, reason_len, "the user name is not a valid name");
        else {
            snprintf(user_id, user_id_len, "%s", rq->username);
            code = 200;
        }
    } else if (strcmp(mech, "CURVE") == 0) {
        const struct dcv_allow_entry *e = NULL;
        for (size_t i = 0; a->allow && rq->curve_key && i < a->allow->n; i++)
            if (strcmp(a->allow->v[i].key, rq->curve_key) == 0)
                e = &a->allow->v[i];
        if (a->mode != DCV_SEC_CURVE)
            snprintf(reason, reason_len, "CURVE is only accepted in curve mode");
        else if (!e)
            snprintf(reason, reason_len, "key not enrolled (not in workers.d or admins.d)");
        else if (strcmp(domain, DCV_AUTH_DOMAIN_CONTROL) == 0 && !(e->roles & DCV_AUTH_WORKER))
            snprintf(reason, reason_len, "'%s' is a %s, not a worker", e->name,
                     dcv_auth_role_name(e->roles));
        else if (strcmp(domain, DCV_AUTH_DOMAIN_ADMIN) == 0 &&
                 !(e->roles & DCV_AUTH_PEOPLE))
            snprintf(reason, reason_len, "'%s' is a worker, not a viewer, submitter or operator",
                     e->name);
        else {
            snprintf(user_id, user_id_len, "%s", e->name);
            code = 200;
        }
    } else {
        snprintf(reason, reason_len, "unknown mechanism %s", mech);
    }
    pthread_mutex_unlock(&a->mu);
    return code;
}

int dcv_auth_role(struct dcv_auth *a, const char *user_id, int64_t peer_uid)
{
    int roles = 0;

    if (!a || !user_id || !user_id[0])
        return DCV_AUTH_ALL;
    if (strncmp(user_id, "unix:", 5) == 0) {
        if (peer_uid < 0)
            return 0;
        /* Group membership as the system says now: a user removed from
         * the group loses the role at the next request. The primary gid
         * is looked up from passwd inside. */
        return unix_roles(a, (uid_t)peer_uid, (gid_t)-1);
    }
    pthread_mutex_lock(&a->mu);
    if (a->mode == DCV_SEC_TOKEN)
        roles = a->token[0] ? DCV_AUTH_ALL : 0;
    else
        for (size_t i = 0; a->allow && i < a->allow->n; i++)
            if (strcmp(a->allow->v[i].name, user_id) == 0)
                roles = a->allow->v[i].roles;
    pthread_mutex_unlock(&a->mu);
    return roles;
}
