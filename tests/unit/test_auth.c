/*
 * core/auth: key files (format, permissions, file:line errors), allow-list
 * files and directories (roles, bad and duplicate files skipped), the ZAP
 * policy (CURVE keys per domain, token mode, ipc uid), roles after a
 * reload, and key writing. Real files in a temp dir.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "build-config.h"
#include "config.h"
#include "log.h"
#include "tap.h"

static char tmpdir[256];

/* Valid Z85 keys (40 characters of the Z85 alphabet). */
static const char KEY_W1[] = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
static const char KEY_W2[] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
static const char KEY_OP[] = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
static const char KEY_SUB[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
static const char KEY_OWN[] = "#ZIq:uyLf0lT^MW&hJUXgAnvD+rB]1yN*O<m3p!x"; /* starts with '#' */
static const char KEY_BAD[] = "not a key at all";

static const char *path_in(const char *rel)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", tmpdir, rel);
    return p;
}

static const char *write_file(const char *rel, mode_t mode, const char *text)
{
    const char *p = path_in(rel);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        tap_bail("cannot write %s", p);
    if (chmod(p, mode) != 0)
        tap_bail("chmod %s", p);
    return p;
}

static void mkdir_in(const char *rel)
{
    if (mkdir(path_in(rel), 0755) != 0 && errno != EEXIST)
        tap_bail("mkdir %s", rel);
}

static void test_key_files(void)
{
    char key[DCV_TX_KEY_LEN + 1], err[1024], text[256], tok[256];
    const char *p;
    int r;

    snprintf(text, sizeof text, "# comment\n\n   %s   \n", KEY_W1);
    p = write_file("a.key", 0600, text);
    r = dcv_auth_read_key(p, 1, key, err, sizeof err);
    TAP_IS_INT(r, 0, "secret key after a comment and a blank line is read");
    TAP_IS_STR(key, KEY_W1, "the key, trimmed");

    snprintf(text, sizeof text, "# the key below starts with '#', a Z85 digit\n%s\n", KEY_OWN);
    p = write_file("hash.key", 0600, text);
    r = dcv_auth_read_key(p, 1, key, err, sizeof err);
    TAP_OK(r == 0 && strcmp(key, KEY_OWN) == 0, "a key starting with '#' is a key, not a comment");

    p = write_file("open.key", 0644, text);
    r = dcv_auth_read_key(p, 1, key, err, sizeof err);
    TAP_IS_INT(r, -EPERM, "a secret key readable by others is refused");
    TAP_HAS_STR(err, "0644 are too open", "the message names the mode");
    TAP_HAS_STR(err, "chmod 600", "and says how to fix it");
    r = dcv_auth_read_key(p, 0, key, err, sizeof err);
    TAP_IS_INT(r, 0, "the same file is fine as a public key");

    snprintf(text, sizeof text, "# c\n# c\n%s\n", KEY_BAD);
    p = write_file("bad.key", 0600, text);
    r = dcv_auth_read_key(p, 1, key, err, sizeof err);
    TAP_IS_INT(r, -EINVAL, "a malformed key is refused");
    snprintf(text, sizeof text, "%s:3: expected a 40-character Z85 key", p);
    TAP_HAS_STR(err, text, "with file:line");

    p = write_file("empty.key", 0600, "# nothing\n");
    r = dcv_auth_read_key(p, 1, key, err, sizeof err);
    TAP_OK(r == -EINVAL && strstr(err, "no key"), "an empty key file says so");
    r = dcv_auth_read_key(path_in("missing.key"), 1, key, err, sizeof err);
    TAP_OK(r == -ENOENT && strstr(err, "missing.key"), "a missing key file names it");

    p = write_file("token", 0600, "# shared\ncorrect-horse-battery-staple\n");
    r = dcv_auth_read_token(p, tok, sizeof tok, err, sizeof err);
    TAP_OK(r == 0 && strcmp(tok, "correct-horse-battery-staple") == 0, "token read");
    p = write_file("short-token", 0600, "short\n");
    r = dcv_auth_read_token(p, tok, sizeof tok, err, sizeof err);
    TAP_OK(r == -EINVAL && strstr(err, "short-token:1: expected a token of 16"),
           "a short token is refused with file:line (%s)", err);
    p = write_file("open-token", 0640, "correct-horse-battery-staple\n");
    r = dcv_auth_read_token(p, tok, sizeof tok, err, sizeof err);
    TAP_IS_INT(r, -EPERM, "a group-readable token file is refused");
}

static void test_allow_files(void)
{
    struct dcv_allow_entry e;
    char err[1024], text[512], want[PATH_MAX + 64];
    const char *p;
    int r;

    mkdir_in("files");
    snprintf(text, sizeof text, "%s\nrole = submitter\n", KEY_SUB);
    p = write_file("files/alice.pub", 0644, text);
    r = dcv_allow_parse_file(p, DCV_AUTH_OPERATOR, DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR, &e,
                             err, sizeof err);
    TAP_OK(r == 0 && strcmp(e.name, "alice") == 0 && e.roles == DCV_AUTH_SUBMITTER &&
               strcmp(e.key, KEY_SUB) == 0,
           "admins.d entry with role = submitter");

    snprintf(text, sizeof text, "# operator by default\n%s\n", KEY_OP);
    p = write_file("files/root-op.pub", 0644, text);
    r = dcv_allow_parse_file(p, DCV_AUTH_OPERATOR, DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR, &e,
                             err, sizeof err);
    TAP_OK(r == 0 && (e.roles & DCV_AUTH_OPERATOR) && (e.roles & DCV_AUTH_SUBMITTER),
           "admins.d default is operator (which includes submitter)");

    snprintf(text, sizeof text, "%s\n\nrole = operator\n", KEY_W1);
    p = write_file("files/w1.pub", 0644, text);
    r = dcv_allow_parse_file(p, DCV_AUTH_WORKER, DCV_AUTH_WORKER, &e, err, sizeof err);
    snprintf(want, sizeof want, "%s:3: a workers.d entry can only have role = worker", p);
    TAP_OK(r == -EINVAL && strstr(err, want), "workers.d refuses another role at file:line (%s)",
           err);

    snprintf(text, sizeof text, "%s\nrole = submitter\nrole = operator\n", KEY_SUB);
    p = write_file("files/twice.pub", 0644, text);
    r = dcv_allow_parse_file(p, DCV_AUTH_OPERATOR, DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR, &e,
                             err, sizeof err);
    TAP_OK(r == -EINVAL && strstr(err, "twice.pub:3: role given twice"), "role twice (%s)", err);

    snprintf(text, sizeof text, "%s\nhello\n", KEY_W1);
    p = write_file("files/junk.pub", 0644, text);
    r = dcv_allow_parse_file(p, DCV_AUTH_WORKER, DCV_AUTH_WORKER, &e, err, sizeof err);
    TAP_OK(r == -EINVAL && strstr(err, "junk.pub:2: expected `role = ...`"), "junk line (%s)",
           err);

    p = write_file("files/-dash.pub", 0644, KEY_W1);
    r = dcv_allow_parse_file(p, DCV_AUTH_WORKER, DCV_AUTH_WORKER, &e, err, sizeof err);
    TAP_OK(r == -EINVAL && strstr(err, "not a valid name"), "a bad NAME is refused (%s)", err);
    TAP_OK(!dcv_auth_valid_name("") && !dcv_auth_valid_name(".x") && !dcv_auth_valid_name("a/b") &&
               dcv_auth_valid_name("gpu-box_2.lan"),
           "name rules");
}

/* A workers.d with w1, w2, a bad file and a duplicate key; an admins.d
 * with an operator and a submitter. */
static void make_dirs(void)
{
    char text[256];
    mkdir_in("workers.d");
    mkdir_in("admins.d");
    snprintf(text, sizeof text, "%s\n", KEY_W1);
    write_file("workers.d/w1.pub", 0644, text);
    snprintf(text, sizeof text, "%s\n", KEY_W2);
    write_file("workers.d/w2.pub", 0644, text);
    write_file("workers.d/broken.pub", 0644, "garbage\n");
    snprintf(text, sizeof text, "%s\n", KEY_W1);
    write_file("workers.d/z-copy.pub", 0644, text); /* w1 again: skipped (sorts later) */
    write_file("workers.d/README", 0644, "not a .pub file: ignored\n");
    snprintf(text, sizeof text, "%s\n", KEY_OP);
    write_file("admins.d/olga.pub", 0644, text);
    snprintf(text, sizeof text, "%s\nrole = submitter\n", KEY_SUB);
    write_file("admins.d/sam.pub", 0644, text);
}

static void test_allow_dirs(void)
{
    struct dcv_allow *a = NULL;
    char err[1024];
    int r;

    make_dirs();
    r = dcv_allow_load(path_in("workers.d"), path_in("admins.d"), &a, err, sizeof err);
    TAP_IS_INT(r, 0, "allow-lists load despite a bad and a duplicate file");
    TAP_OK(a && a->n == 4, "w1, w2, olga, sam enrolled (got %zu)", a ? a->n : 0);
    dcv_allow_free(&a);
    r = dcv_allow_load(path_in("nowhere.d"), path_in("admins.d"), &a, err, sizeof err);
    TAP_OK(r == 0 && a && a->n == 2, "a missing directory is empty");
    dcv_allow_free(&a);
    write_file("not-a-dir", 0644, "x");
    r = dcv_allow_load(path_in("not-a-dir"), path_in("admins.d"), &a, err, sizeof err);
    TAP_OK(r < 0 && a == NULL && strstr(err, "not-a-dir: cannot read"),
           "an unreadable directory fails the load (%s)", err);
}

static int authz(struct dcv_auth *a, const char *domain, const char *mech, const char *key,
                 const char *user, const char *pass, int64_t uid, char *uid_out, char *reason)
{
    struct dcv_tx_auth_req rq;
    memset(&rq, 0, sizeof rq);
    rq.struct_size = sizeof rq;
    rq.domain = domain;
    rq.mechanism = mech;
    rq.address = "127.0.0.1";
    rq.curve_key = key;
    rq.username = user;
    rq.password = pass;
    rq.uid = uid;
    rq.gid = uid;
    rq.pid = 1;
    reason[0] = '\0';
    return dcv_auth_authorize(a, &rq, uid_out, DCV_TX_MAX_USER_ID + 1, reason, 256);
}

static void settings(struct dcv_settings *s, enum dcv_sec_mode mode)
{
    memset(s, 0, sizeof *s);
    s->sec_mode = mode;
    snprintf(s->sec_workers_dir, sizeof s->sec_workers_dir, "%s", path_in("workers.d"));
    snprintf(s->sec_admins_dir, sizeof s->sec_admins_dir, "%s", path_in("admins.d"));
    snprintf(s->sec_token_file, sizeof s->sec_token_file, "%s", path_in("token"));
}

static void test_policy(void)
{
    struct dcv_settings s;
    struct dcv_auth *a = NULL;
    char user[DCV_TX_MAX_USER_ID + 1], reason[256], err[1024], text[256];
    int r;

    settings(&s, DCV_SEC_CURVE);
    r = dcv_auth_new(&s, "coord", KEY_OWN, &a, err, sizeof err);
    TAP_IS_INT(r, 0, "policy built");
    if (r < 0)
        return;
    TAP_IS_INT((int)dcv_auth_count(a), 5, "own key + 4 enrolled");

    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "CURVE", KEY_W1, NULL, NULL, -1, user, reason);
    TAP_OK(r == 200 && strcmp(user, "w1") == 0, "an enrolled worker key: 200, user w1");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "CURVE", KEY_OP, NULL, NULL, -1, user, reason);
    TAP_OK(r == 400 && strstr(reason, "not a worker"), "an operator key on the control plane: 400");
    r = authz(a, DCV_AUTH_DOMAIN_ADMIN, "CURVE", KEY_W2, NULL, NULL, -1, user, reason);
    TAP_OK(r == 400 && strstr(reason, "not a viewer, submitter or operator"),
           "a worker key on the admin plane: 400");
    r = authz(a, DCV_AUTH_DOMAIN_DATA, "CURVE", KEY_SUB, NULL, NULL, -1, user, reason);
    TAP_OK(r == 200 && strcmp(user, "sam") == 0, "a submitter on the data plane: 200");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "CURVE", "0000000000000000000000000000000000000000",
              NULL, NULL, -1, user, reason);
    TAP_OK(r == 400 && strstr(reason, "not enrolled") && !user[0], "an unknown key: 400");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "CURVE", KEY_OWN, NULL, NULL, -1, user, reason);
    TAP_OK(r == 200 && strcmp(user, "coord") == 0, "the coordinator's own key is enrolled");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "PLAIN", NULL, "w1", "whatever", -1, user, reason);
    TAP_IS_INT(r, 400, "PLAIN is refused in curve mode");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "NULL", NULL, NULL, NULL, 0, user, reason);
    TAP_IS_INT(r, 400, "NULL on the control plane is refused");

    /* ipc admin: by uid */
    r = authz(a, DCV_AUTH_DOMAIN_ADMIN, "NULL", NULL, NULL, NULL, 0, user, reason);
    TAP_OK(r == 200 && strncmp(user, "unix:", 5) == 0, "uid 0 over ipc: 200 (%s)", user);
    r = authz(a, DCV_AUTH_DOMAIN_ADMIN, "NULL", NULL, NULL, NULL, (int64_t)geteuid(), user,
              reason);
    TAP_IS_INT(r, 200, "the daemon's own uid over ipc: 200");
    if (geteuid() != 65534) {
        r = authz(a, DCV_AUTH_DOMAIN_ADMIN, "NULL", NULL, NULL, NULL, 65534, user, reason);
        TAP_OK(r == 400 && strstr(reason, "uid 65534"), "another uid over ipc: 400 (%s)", reason);
        TAP_IS_INT(dcv_auth_role(a, "unix:nobody", 65534), 0, "and it has no role");
    } else {
        tap_skip("running as uid 65534", "another uid over ipc");
        tap_skip("running as uid 65534", "and it has no role");
    }
    TAP_OK(dcv_auth_role(a, "unix:root", 0) & DCV_AUTH_OPERATOR, "root is an operator");

    /* roles */
    TAP_IS_INT(dcv_auth_role(a, "w1", -1), DCV_AUTH_WORKER, "w1 is a worker");
    TAP_IS_INT(dcv_auth_role(a, "sam", -1), DCV_AUTH_SUBMITTER, "sam is a submitter");
    TAP_OK(dcv_auth_role(a, "olga", -1) & DCV_AUTH_OPERATOR, "olga is an operator");
    TAP_IS_INT(dcv_auth_role(a, "mallory", -1), 0, "an unknown id has no role");
    TAP_IS_INT(dcv_auth_role(a, "", -1), DCV_AUTH_ALL, "no id (unauthenticated socket): trusted");
    TAP_IS_INT(dcv_auth_role(NULL, "x", -1), DCV_AUTH_ALL, "no policy: trusted");
    TAP_IS_STR(dcv_auth_role_name(DCV_AUTH_SUBMITTER), "submitter", "role names");

    /* reload: w2 removed, w3 added */
    unlink(path_in("workers.d/w2.pub"));
    snprintf(text, sizeof text, "%s\n", KEY_W2);
    write_file("workers.d/w3.pub", 0644, text);
    r = dcv_auth_reload(a, err, sizeof err);
    TAP_IS_INT(r, 0, "reload");
    TAP_IS_INT(dcv_auth_role(a, "w2", -1), 0, "w2 is no longer enrolled after the reload");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "CURVE", KEY_W2, NULL, NULL, -1, user, reason);
    TAP_OK(r == 200 && strcmp(user, "w3") == 0, "its key now authenticates as w3");

    /* a reload that cannot read a directory keeps the old list */
    snprintf(text, sizeof text, "%s", path_in("workers.d"));
    if (rename(text, path_in("workers.away")) != 0 ||
        symlink(path_in("not-a-dir"), path_in("workers.d")) != 0)
        tap_bail("cannot swap workers.d");
    r = dcv_auth_reload(a, err, sizeof err);
    TAP_OK(r < 0 && strstr(err, "cannot read"), "reload of an unreadable dir fails (%s)", err);
    TAP_IS_INT(dcv_auth_role(a, "w3", -1), DCV_AUTH_WORKER, "and the old list stays");
    unlink(path_in("workers.d"));
    rename(path_in("workers.away"), path_in("workers.d"));
    dcv_auth_free(&a);

    /* token mode */
    write_file("token", 0600, "correct-horse-battery-staple\n");
    settings(&s, DCV_SEC_TOKEN);
    r = dcv_auth_new(&s, "coord", "", &a, err, sizeof err);
    TAP_IS_INT(r, 0, "token policy built");
    if (r < 0)
        return;
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "PLAIN", NULL, "w9", "correct-horse-battery-staple", -1,
              user, reason);
    TAP_OK(r == 200 && strcmp(user, "w9") == 0, "the right token: 200, user = the name sent");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "PLAIN", NULL, "w9", "correct-horse-battery-stapl", -1,
              user, reason);
    TAP_OK(r == 400 && strstr(reason, "wrong token"), "a wrong token: 400");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "PLAIN", NULL, "../x", "correct-horse-battery-staple",
              -1, user, reason);
    TAP_IS_INT(r, 400, "an invalid user name: 400");
    r = authz(a, DCV_AUTH_DOMAIN_CONTROL, "CURVE", KEY_W1, NULL, NULL, -1, user, reason);
    TAP_IS_INT(r, 400, "CURVE in token mode: 400");
    TAP_IS_INT(dcv_auth_role(a, "w9", -1), DCV_AUTH_ALL, "token peers are worker + operator");
    dcv_auth_free(&a);

    settings(&s, DCV_SEC_TOKEN);
    snprintf(s.sec_token_file, sizeof s.sec_token_file, "%s", path_in("no-token"));
    r = dcv_auth_new(&s, "coord", "", &a, err, sizeof err);
    TAP_OK(r < 0 && strstr(err, "no-token"), "token mode without the file fails (%s)", err);

    settings(&s, DCV_SEC_CURVE);
    snprintf(s.sec_ipc_operator_group, sizeof s.sec_ipc_operator_group, "no-such-group-x");
    r = dcv_auth_new(&s, "coord", "", &a, err, sizeof err);
    TAP_OK(r < 0 && strstr(err, "security.ipc_operator_group: no group named 'no-such-group-x'"),
           "an unknown ipc group is a clear error (%s)", err);
}

static void test_write_keys(void)
{
    struct stat st;
    char key[DCV_TX_KEY_LEN + 1], err[1024];
    int r;

    mkdir_in("kg");
    r = dcv_auth_write_keys(path_in("kg"), "box1", KEY_W1, KEY_W2, err, sizeof err);
    TAP_IS_INT(r, 0, "keys written");
    TAP_OK(stat(path_in("kg/box1.key"), &st) == 0 && (st.st_mode & 0777) == 0600,
           "NAME.key is 0600");
    TAP_OK(stat(path_in("kg/box1.pub"), &st) == 0 && (st.st_mode & 0777) == 0644,
           "NAME.pub is 0644");
    TAP_OK(dcv_auth_read_key(path_in("kg/box1.key"), 1, key, err, sizeof err) == 0 &&
               strcmp(key, KEY_W2) == 0,
           "the secret key reads back");
    TAP_OK(dcv_auth_read_key(path_in("kg/box1.pub"), 0, key, err, sizeof err) == 0 &&
               strcmp(key, KEY_W1) == 0,
           "the public key reads back");
    r = dcv_auth_write_keys(path_in("kg"), "box1", KEY_W1, KEY_W2, err, sizeof err);
    TAP_OK(r == -EEXIST && strstr(err, "exists already"), "no overwrite (%s)", err);
    r = dcv_auth_write_keys(path_in("kg"), "a/b", KEY_W1, KEY_W2, err, sizeof err);
    TAP_IS_INT(r, -EINVAL, "a bad name is refused");
}

/* Every valid name length, and every name the docs use, writes a pair that
 * reads back whole (a 256-byte text buffer once cut the .pub key line of
 * any name of 10 or more characters: "coordinator"). */
static void test_write_keys_names(void)
{
    static const char *doc_names[] = {"coordinator", "worker", "op", "alice", "w1", "w2",
                                      "gpu-box.lan", "nas_01"};
    char name[DCV_AUTH_NAME_MAX], longname[DCV_AUTH_NAME_MAX + 1], sub[64], p[4096], key[DCV_TX_KEY_LEN + 1], err[1024];
    int bad = 0, first_bad = 0;
    size_t n, i;

    mkdir_in("kgn");
    for (n = 1; n < DCV_AUTH_NAME_MAX; n++) {
        for (i = 0; i < n; i++)
            name[i] = (char)('a' + i % 26);
        name[n] = '\0';
        snprintf(sub, sizeof sub, "kgn/%zu", n);
        mkdir_in(sub);
        snprintf(p, sizeof p, "%s/%s.pub", path_in(sub), name);
        if (dcv_auth_write_keys(path_in(sub), name, KEY_W1, KEY_W2, err, sizeof err) != 0 ||
            dcv_auth_read_key(p, 0, key, err, sizeof err) != 0 || strcmp(key, KEY_W1) != 0) {
            if (!bad++)
                first_bad = (int)n;
            continue;
        }
        snprintf(p, sizeof p, "%s/%s.key", path_in(sub), name);
        if (dcv_auth_read_key(p, 1, key, err, sizeof err) != 0 || strcmp(key, KEY_W2) != 0)
            if (!bad++)
                first_bad = (int)n;
    }
    TAP_OK(bad == 0, "names of 1 to %d characters write loadable keys (first bad: %d, %s)",
           DCV_AUTH_NAME_MAX - 1, first_bad, bad ? err : "none");
    mkdir_in("kgd");
    for (i = 0; i < sizeof doc_names / sizeof *doc_names; i++) {
        int r = dcv_auth_write_keys(path_in("kgd"), doc_names[i], KEY_W1, KEY_W2, err, sizeof err);
        snprintf(p, sizeof p, "%s/%s.pub", path_in("kgd"), doc_names[i]);
        TAP_OK(r == 0 && dcv_auth_read_key(p, 0, key, err, sizeof err) == 0 &&
                   strcmp(key, KEY_W1) == 0,
               "keygen --name %s writes a loadable public key", doc_names[i]);
    }
    memset(longname, 'x', DCV_AUTH_NAME_MAX);
    longname[DCV_AUTH_NAME_MAX] = '\0';
    TAP_IS_INT(dcv_auth_write_keys(path_in("kgd"), longname, KEY_W1, KEY_W2, err, sizeof err),
               -EINVAL, "a name of DCV_AUTH_NAME_MAX characters is refused");
}

/* A build configured with no --prefix/--sysconfdir reads /etc/distconv,
 * as every doc says (it used to read /usr/local/etc/distconv). */
static void test_default_paths(void)
{
    char p[4096];
#ifdef DCV_ETC_DEFAULTED
    TAP_OK(dcv_auth_default_path("keys/worker.key", p, sizeof p) == 0 &&
               strcmp(p, "/etc/distconv/keys/worker.key") == 0,
           "a default build's key paths are under /etc/distconv (%s)", p);
    TAP_IS_STR(DCV_DEFAULT_CONFIG, "/etc/distconv/distconvd.conf", "default config file");
    TAP_IS_STR(DCV_DEFAULT_STATE_DIR, "/var/lib/distconv", "default state dir");
#else
    (void)p;
    tap_skip("configured with --prefix or --sysconfdir: the admin chose the paths",
             "a default build's paths are /etc/distconv, /var/lib/distconv");
#endif
}

int main(void)
{
    char cmd[300];
    tap_mkdtemp(tmpdir, sizeof tmpdir, "auth");
    dcv_log_setup(DCV_LOG_ERROR, DCV_LOG_TEXT, DCV_LOG_STDERR, "test_auth");
    test_key_files();
    test_allow_files();
    test_allow_dirs();
    test_policy();
    test_write_keys();
    test_write_keys_names();
    test_default_paths();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("cannot remove %s", tmpdir);
    return tap_done();
}
