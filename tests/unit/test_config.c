/* Config loading: real files in a temp dir, real environment variables. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char tmpdir[256];

static const char *const env_vars[] = {
    "DISTCONV_ROLE",        "DISTCONV_NAME",       "DISTCONV_STATE_DIR",
    "DISTCONV_PLUGIN_DIR",  "DISTCONV_PLUGIN_CONF_DIR", "DISTCONV_LOG_LEVEL",
    "DISTCONV_LOG_FORMAT",  "DISTCONV_LOG_TARGET", "DISTCONV_BIND",
    "DISTCONV_DATA_BIND",   "DISTCONV_DATA_ENDPOINT", "DISTCONV_ADMIN",
    "DISTCONV_COORDINATOR", "DISTCONV_MAX_JOBS",   "DISTCONV_WORK_DIR",
    "DISTCONV_TRANSPORT",   "DISTCONV_SHARED_ROOTS", "DISTCONV_PATH_MAP",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
}

/* Write `text` to tmpdir/name; returns the path in a static rotating buffer. */
static const char *write_file(const char *name, const char *text)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    FILE *f;
    snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        tap_bail("cannot write %s", p);
    return p;
}

static const char *mkdir_tmp(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        tap_bail("mkdir %s", p);
    return p;
}

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", path);
}

/* Load `text` as a config file; expect failure; check the exact message. */
static void expect_error(const char *text, const char *want_suffix, const char *name)
{
    struct dcv_conf *c = NULL;
    char err[1024] = "", want[2048];
    const char *path = write_file("bad.conf", text);
    int r = dcv_conf_load(&c, path, 1, err, sizeof err);
    snprintf(want, sizeof want, "%s:%s", path, want_suffix);
    TAP_IS_INT(r, -EINVAL, name);
    TAP_IS_STR(err, want, name);
    TAP_OK(c == NULL, "%s: no config returned", name);
    dcv_conf_free(&c);
}

static void expect_env_error(const char *var, const char *val, const char *want)
{
    struct dcv_conf *c = NULL;
    char err[1024] = "";
    const char *path = write_file("empty.conf", "");
    int r;
    setenv(var, val, 1);
    r = dcv_conf_load(&c, path, 1, err, sizeof err);
    unsetenv(var);
    TAP_IS_INT(r, -EINVAL, var);
    TAP_IS_STR(err, want, var);
    dcv_conf_free(&c);
}

static struct dcv_conf *load_ok(const char *path, int explicit_path, const char *name)
{
    struct dcv_conf *c = NULL;
    char err[1024] = "";
    int r = dcv_conf_load(&c, path, explicit_path, err, sizeof err);
    if (!tap_ok(r == 0 && c != NULL, "%s loads", name))
        tap_diag("  r=%d err: %s", r, err);
    return r == 0 ? c : NULL;
}

static void test_good_file(void)
{
    const char *path = write_file("good.conf",
                                  "# a comment\n"
                                  "role = \"worker\";\n"
                                  "name = \"gpu-box.lan\";\n"
                                  "state_dir = \"/srv/distconv\";\n"
                                  "plugin_dir = \"/opt/distconv/plugins\";\n"
                                  "plugin_conf_dir = \"/nonexistent/plugins.d\";\n"
                                  "log = {\n"
                                  "    level = \"debug\";\n"
                                  "    format = \"json\";\n"
                                  "    target = \"syslog\";\n"
                                  "};\n");
    struct dcv_conf *c = load_ok(path, 1, "good file");
    const struct dcv_settings *s;
    if (!c)
        return;
    s = dcv_conf_settings(c);
    TAP_IS_INT(s->role, DCV_ROLE_WORKER, "role from file");
    TAP_IS_STR(s->name, "gpu-box.lan", "name from file");
    TAP_IS_STR(s->state_dir, "/srv/distconv", "state_dir from file");
    TAP_IS_STR(s->plugin_dir, "/opt/distconv/plugins", "plugin_dir from file");
    TAP_IS_STR(s->plugin_conf_dir, "/nonexistent/plugins.d", "plugin_conf_dir from file");
    TAP_IS_INT(s->log_level, DCV_LOG_DEBUG, "log.level from file");
    TAP_IS_INT(s->log_format, DCV_LOG_JSON, "log.format from file");
    TAP_IS_INT(s->log_target, DCV_LOG_SYSLOG, "log.target from file");
    TAP_IS_STR(dcv_conf_path(c), path, "dcv_conf_path is the file");
    TAP_IS_STR(dcv_role_name(s->role), "worker", "dcv_role_name(worker)");
    dcv_conf_free(&c);
    TAP_OK(c == NULL, "dcv_conf_free clears the pointer");
    dcv_conf_free(&c); /* twice is harmless */
}

static void test_defaults_and_env(void)
{
    const char *empty = write_file("empty.conf", "");
    struct dcv_conf *c = load_ok(empty, 1, "empty file");
    const struct dcv_settings *s;
    char host[256] = "";
    if (c) {
        s = dcv_conf_settings(c);
        gethostname(host, sizeof host);
        host[63] = '\0';
        TAP_IS_INT(s->role, DCV_ROLE_STANDALONE, "default role standalone");
        TAP_IS_STR(s->name, host, "default name is the host name");
        TAP_IS_STR(s->state_dir, DCV_DEFAULT_STATE_DIR, "default state_dir");
        TAP_IS_STR(s->plugin_dir, DCV_DEFAULT_PLUGIN_DIR, "default plugin_dir");
        TAP_IS_STR(s->plugin_conf_dir, DCV_DEFAULT_PLUGIN_CONF_DIR, "default plugin_conf_dir");
        TAP_IS_INT(s->log_level, DCV_LOG_INFO, "default log level info");
        TAP_IS_INT(s->log_format, DCV_LOG_TEXT, "default log format text");
        TAP_IS_INT(s->log_target, DCV_LOG_STDERR, "default log target stderr");
        dcv_conf_free(&c);
    }

    /* Every variable alone, on an empty file: empty file + env is complete. */
    setenv("DISTCONV_ROLE", "coordinator", 1);
    setenv("DISTCONV_NAME", "node-7", 1);
    setenv("DISTCONV_STATE_DIR", "/data/state", 1);
    setenv("DISTCONV_PLUGIN_DIR", "/data/plugins", 1);
    setenv("DISTCONV_PLUGIN_CONF_DIR", "/data/plugins.d", 1);
    setenv("DISTCONV_LOG_LEVEL", "trace", 1);
    setenv("DISTCONV_LOG_FORMAT", "json", 1);
    setenv("DISTCONV_LOG_TARGET", "syslog", 1);
    c = load_ok(empty, 1, "empty file + environment");
    if (c) {
        s = dcv_conf_settings(c);
        TAP_IS_INT(s->role, DCV_ROLE_COORDINATOR, "DISTCONV_ROLE");
        TAP_IS_STR(s->name, "node-7", "DISTCONV_NAME");
        TAP_IS_STR(s->state_dir, "/data/state", "DISTCONV_STATE_DIR");
        TAP_IS_STR(s->plugin_dir, "/data/plugins", "DISTCONV_PLUGIN_DIR");
        TAP_IS_STR(s->plugin_conf_dir, "/data/plugins.d", "DISTCONV_PLUGIN_CONF_DIR");
        TAP_IS_INT(s->log_level, DCV_LOG_TRACE, "DISTCONV_LOG_LEVEL");
        TAP_IS_INT(s->log_format, DCV_LOG_JSON, "DISTCONV_LOG_FORMAT");
        TAP_IS_INT(s->log_target, DCV_LOG_SYSLOG, "DISTCONV_LOG_TARGET");
        dcv_conf_free(&c);
    }

    /* The same, with no file at all (the container case). */
    {
        char missing[PATH_MAX];
        snprintf(missing, sizeof missing, "%s/does-not-exist.conf", tmpdir);
        c = load_ok(missing, 0, "missing default file + environment");
        if (c) {
            s = dcv_conf_settings(c);
            TAP_IS_INT(s->role, DCV_ROLE_COORDINATOR, "role from env without file");
            TAP_IS_STR(s->state_dir, "/data/state", "state_dir from env without file");
            TAP_IS_STR(dcv_conf_path(c), "", "dcv_conf_path is empty without a file");
            dcv_conf_free(&c);
        }
    }

    /* Environment beats the file; an empty variable counts as unset. */
    {
        const char *path = write_file("envwins.conf", "role = \"worker\";\n"
                                                     "name = \"from-file\";\n"
                                                     "log = { level = \"error\"; };\n");
        setenv("DISTCONV_NAME", "", 1);
        c = load_ok(path, 1, "file + environment");
        if (c) {
            s = dcv_conf_settings(c);
            TAP_IS_INT(s->role, DCV_ROLE_COORDINATOR, "DISTCONV_ROLE beats role in file");
            TAP_IS_INT(s->log_level, DCV_LOG_TRACE, "DISTCONV_LOG_LEVEL beats log.level");
            TAP_IS_STR(s->name, "from-file", "empty DISTCONV_NAME leaves the file's value");
            dcv_conf_free(&c);
        }
    }
    clear_env();
}

static void test_files(void)
{
    struct dcv_conf *c = NULL;
    char err[1024] = "", missing[PATH_MAX], want[PATH_MAX + 128];
    int r;

    snprintf(missing, sizeof missing, "%s/nope.conf", tmpdir);
    c = load_ok(missing, 0, "missing default file");
    dcv_conf_free(&c);

    r = dcv_conf_load(&c, missing, 1, err, sizeof err);
    TAP_IS_INT(r, -ENOENT, "missing explicit file is an error");
    snprintf(want, sizeof want, "%s: cannot open: %s", missing, strerror(ENOENT));
    TAP_IS_STR(err, want, "missing explicit file message");
    TAP_OK(c == NULL, "no config on error");

    r = dcv_conf_load(&c, tmpdir, 0, err, sizeof err);
    TAP_IS_INT(r, -EISDIR, "a directory is not a config file");
    TAP_HAS_STR(err, "Is a directory", "directory message says so");

    /* An I/O error other than "missing" is an error even for the default
     * file (and the root-proof way to get one). */
    {
        const char *f = write_file("plain", "");
        char under[PATH_MAX + 16];
        snprintf(under, sizeof under, "%s/distconvd.conf", f);
        r = dcv_conf_load(&c, under, 0, err, sizeof err);
        TAP_IS_INT(r, -ENOTDIR, "ENOTDIR on the default path is an error");
        snprintf(want, sizeof want, "%s: cannot open: %s", under, strerror(ENOTDIR));
        TAP_IS_STR(err, want, "ENOTDIR message");
    }

    if (geteuid() == 0) {
        tap_skip("root reads any file", "unreadable file is an error");
        tap_skip("root reads any file", "unreadable file message");
    } else {
        const char *p = write_file("secret.conf", "role = \"worker\";\n");
        chmod(p, 0);
        r = dcv_conf_load(&c, p, 0, err, sizeof err);
        TAP_IS_INT(r, -EACCES, "unreadable file is an error");
        snprintf(want, sizeof want, "%s: cannot open: %s", p, strerror(EACCES));
        TAP_IS_STR(err, want, "unreadable file message");
        chmod(p, 0644);
    }
}

static void test_errors(void)
{
    expect_error("role = \"worker\";\n\nname = ;\n", "3: syntax error", "syntax error file:line");
    expect_error("role = \"worker\";\nrole = \"worker\";\n", "2: duplicate setting name",
                 "duplicate key");
    expect_error("# comment\n\n\n\n\n\n\n\n\n\n\nrole = \"workr\";\n",
                 "12: role: expected one of standalone, coordinator, worker; got \"workr\"",
                 "bad role");
    expect_error("log = {\n  format = \"text\";\n  level = \"loud\";\n};\n",
                 "3: log.level: expected one of error, warn, info, debug, trace; got \"loud\"",
                 "bad log level");
    expect_error("log = { format = \"xml\"; };\n",
                 "1: log.format: expected one of text, json; got \"xml\"", "bad log format");
    expect_error("log = { target = \"journal\"; };\n",
                 "1: log.target: expected one of stderr, syslog; got \"journal\"",
                 "bad log target");
    expect_error("\nname = 5;\n", "2: name: expected a string", "wrong type");
    expect_error("role = true;\n", "1: role: expected a string", "wrong type for an enum");
    expect_error("log = { level = 3; };\n", "1: log.level: expected a string",
                 "wrong type in a group");
    expect_error("name = \"has space\";\n",
                 "1: name: expected 1 to 63 letters, digits, '.', '_' or '-'; got \"has space\"",
                 "bad name");
    expect_error("\n\nstate_dir = \"var/lib/distconv\";\n",
                 "3: state_dir: expected an absolute path; got \"var/lib/distconv\"",
                 "relative state_dir");
    expect_error("plugin_dir = \"plugins\";\n",
                 "1: plugin_dir: expected an absolute path; got \"plugins\"",
                 "relative plugin_dir");
    expect_error("plugin_conf_dir = \"\";\n",
                 "1: plugin_conf_dir: expected an absolute path; got \"\"",
                 "empty plugin_conf_dir");
    expect_error("role = \"worker\";\n\n\n\n\n\nmaxjob_count = 3;\n", "7: unknown key \"maxjob_count\"",
                 "unknown top-level key");
    expect_error("rol = \"worker\";\n", "1: unknown key \"rol\" (did you mean \"role\"?)",
                 "unknown key with a suggestion");
    expect_error("log = {\n  levle = \"info\";\n};\n",
                 "2: unknown key \"log.levle\" (did you mean \"level\"?)", "unknown key in log");
    expect_error("log = \"info\";\n", "1: log: expected a group { ... }", "log not a group");
    expect_error("plugin = { x264 = { }; };\n",
                 "1: unknown key \"plugin\" (did you mean \"plugins\"?)", "plugin vs plugins");
    expect_error("plugins = 3;\n", "1: plugins: expected a group { ... }",
                 "plugins not a group");
    expect_error("plugins = {\n  x264 = 3;\n};\n", "2: plugins.x264: expected a group { ... }",
                 "plugin entry not a group");
    expect_error("plugins = {\n  x264 = {\n    preset = \"slow\";\n    enabled = \"no\";\n  };\n};\n",
                 "4: plugins.x264.enabled: expected true or false", "enabled must be a bool");
    expect_error("plugins = { X264 = { }; };\n",
                 "1: plugins.X264: expected a plugin name (lowercase letters, digits and '-')",
                 "plugin names are lowercase");

    expect_env_error("DISTCONV_LOG_LEVEL", "loud",
                     "DISTCONV_LOG_LEVEL: expected one of error, warn, info, debug, trace; got "
                     "\"loud\"");
    expect_env_error("DISTCONV_QUEUE_STALL_ACTION", "kill",
                     "DISTCONV_QUEUE_STALL_ACTION: expected one of flag, fail; got \"kill\"");
    expect_env_error("DISTCONV_ROLE", "Worker",
                     "DISTCONV_ROLE: expected one of standalone, coordinator, worker; got "
                     "\"Worker\"");
    expect_env_error("DISTCONV_STATE_DIR", "state",
                     "DISTCONV_STATE_DIR: expected an absolute path; got \"state\"");
    expect_env_error("DISTCONV_PLUGIN_DIR", "./plugins",
                     "DISTCONV_PLUGIN_DIR: expected an absolute path; got \"./plugins\"");
    expect_env_error("DISTCONV_PLUGIN_CONF_DIR", "plugins.d",
                     "DISTCONV_PLUGIN_CONF_DIR: expected an absolute path; got \"plugins.d\"");
    expect_env_error("DISTCONV_LOG_FORMAT", "yaml",
                     "DISTCONV_LOG_FORMAT: expected one of text, json; got \"yaml\"");
    expect_env_error("DISTCONV_LOG_TARGET", "file",
                     "DISTCONV_LOG_TARGET: expected one of stderr, syslog; got \"file\"");
    expect_env_error("DISTCONV_NAME", "a/b",
                     "DISTCONV_NAME: expected 1 to 63 letters, digits, '.', '_' or '-'; got "
                     "\"a/b\"");

    /* The environment is checked even when the file is fine. */
    {
        struct dcv_conf *c = NULL;
        char err[256] = "";
        const char *p = write_file("fine.conf", "role = \"worker\";\n");
        setenv("DISTCONV_LOG_LEVEL", "verbose", 1);
        TAP_IS_INT(dcv_conf_load(&c, p, 1, err, sizeof err), -EINVAL,
                   "bad environment with a good file fails");
        unsetenv("DISTCONV_LOG_LEVEL");
        dcv_conf_free(&c);
        /* A tiny error buffer truncates but never overflows. */
        setenv("DISTCONV_LOG_LEVEL", "verbose", 1);
        TAP_IS_INT(dcv_conf_load(&c, p, 1, err, 8), -EINVAL, "tiny error buffer");
        TAP_IS_INT(strlen(err), 7, "tiny error buffer truncated");
        TAP_IS_INT(dcv_conf_load(&c, p, 1, NULL, 0), -EINVAL, "NULL error buffer");
        unsetenv("DISTCONV_LOG_LEVEL");
    }
}

static void test_plugins(void)
{
    const char *dir = mkdir_tmp("plugins-none.d");
    char text[2048];
    const struct dcv_config *x, *nv, *none;
    struct dcv_conf *c;
    int64_t i64 = 0;
    const char *str = NULL;
    int b = -1;
    double d = 0;

    snprintf(text, sizeof text,
             "plugin_conf_dir = \"%s\";\n"
             "plugins = {\n"
             "  x264 = {\n"
             "    max_sessions = 3;\n"
             "    big = 10000000000L;\n"
             "    tune = \"film\";\n"
             "    ratio = 1.5;\n"
             "    lookahead = true;\n"
             "    x = { depth = 2; };\n"
             "  };\n"
             "  nvenc = { enabled = false; max_sessions = 2; };\n"
             "  transport-zmq = { enabled = true; };\n"
             "};\n",
             dir);
    c = load_ok(write_file("plugins.conf", text), 1, "file with plugins");
    if (!c)
        return;
    x = dcv_conf_plugin(c, "x264");
    nv = dcv_conf_plugin(c, "nvenc");
    none = dcv_conf_plugin(c, "vaapi");
    TAP_OK(x && nv && none, "plugin handles are never NULL");
    TAP_OK(dcv_conf_plugin(c, "x264") == x, "the same handle for the same plugin");

    TAP_IS_INT(dcv_config_get_int(x, "max_sessions", &i64), 0, "get_int");
    TAP_IS_INT(i64, 3, "get_int value");
    TAP_IS_INT(dcv_config_get_int(x, "big", &i64), 0, "get_int of an int64");
    TAP_IS_INT(i64, 10000000000LL, "int64 value");
    TAP_IS_INT(dcv_config_get_str(x, "tune", &str), 0, "get_str");
    TAP_IS_STR(str, "film", "get_str value");
    TAP_IS_INT(dcv_config_get_double(x, "ratio", &d), 0, "get_double");
    TAP_OK(d == 1.5, "get_double value");
    TAP_IS_INT(dcv_config_get_double(x, "max_sessions", &d), 0, "get_double of an int");
    TAP_OK(d == 3.0, "get_double of an int value");
    TAP_IS_INT(dcv_config_get_bool(x, "lookahead", &b), 0, "get_bool");
    TAP_IS_INT(b, 1, "get_bool value");
    TAP_IS_INT(dcv_config_get_int(x, "x.depth", &i64), 0, "nested path");
    TAP_IS_INT(i64, 2, "nested value");

    TAP_IS_INT(dcv_config_get_int(x, "missing", &i64), -ENOENT, "absent key: -ENOENT");
    TAP_IS_INT(dcv_config_get_int(x, "x.missing", &i64), -ENOENT, "absent nested key: -ENOENT");
    TAP_IS_INT(dcv_config_get_int(x, "tune", &i64), -EINVAL, "get_int of a string: -EINVAL");
    TAP_IS_INT(dcv_config_get_int(x, "ratio", &i64), -EINVAL, "get_int of a float: -EINVAL");
    TAP_IS_INT(dcv_config_get_str(x, "max_sessions", &str), -EINVAL,
               "get_str of an int: -EINVAL");
    TAP_IS_INT(dcv_config_get_bool(x, "max_sessions", &b), -EINVAL,
               "get_bool of an int: -EINVAL");
    TAP_IS_INT(dcv_config_get_double(x, "tune", &d), -EINVAL, "get_double of a string: -EINVAL");
    TAP_IS_INT(dcv_config_get_int(x, "x", &i64), -EINVAL, "get_int of a group: -EINVAL");
    TAP_IS_INT(dcv_config_get_int(none, "max_sessions", &i64), -ENOENT,
               "plugin without settings: -ENOENT");
    TAP_IS_INT(dcv_config_get_int(NULL, "max_sessions", &i64), -ENOENT, "NULL handle: -ENOENT");
    TAP_IS_INT(dcv_config_get_int(x, "", &i64), -ENOENT, "empty path: -ENOENT");

    TAP_IS_INT(dcv_conf_plugin_enabled(c, "x264"), 1, "enabled by default");
    TAP_IS_INT(dcv_conf_plugin_enabled(c, "nvenc"), 0, "enabled = false");
    TAP_IS_INT(dcv_conf_plugin_enabled(c, "transport-zmq"), 1, "enabled = true");
    TAP_IS_INT(dcv_conf_plugin_enabled(c, "vaapi"), 1, "unmentioned plugin is enabled");
    TAP_IS_INT(dcv_config_get_int(nv, "max_sessions", &i64), 0, "disabled plugin keeps keys");
    dcv_conf_free(&c);

    TAP_OK(dcv_conf_plugin(NULL, "x264") != NULL, "handle without a conf");
    TAP_IS_INT(dcv_config_get_int(dcv_conf_plugin(NULL, "x264"), "a", &i64), -ENOENT,
               "lookup without a conf: -ENOENT");
    TAP_IS_INT(dcv_conf_plugin_enabled(NULL, "x264"), 1, "enabled without a conf");
}

static void test_dropins(void)
{
    const char *d = mkdir_tmp("plugins.d");
    char dir[512], text[2048], p[PATH_MAX + 32];
    struct dcv_conf *c;
    int64_t i64 = 0;
    const char *str = NULL;
    FILE *f;

    snprintf(dir, sizeof dir, "%s", d);
#define DROP(name, content)                                                         \
    do {                                                                            \
        snprintf(p, sizeof p, "%s/%s", dir, name);                                  \
        if (!(f = fopen(p, "w")) || fputs(content, f) == EOF || fclose(f) != 0)     \
            tap_bail("cannot write %s", p);                                         \
    } while (0)
    DROP("x264.conf", "max_sessions = 2;\ntune = \"film\";\n");
    DROP("vaapi.conf", "device = \"/dev/dri/renderD129\";\n");
    DROP("qsv.conf", "enabled = false;\n");
    DROP("README", "not a config file { \n");
    DROP("x265.conf.dpkg-dist", "syntax error here\n");
    DROP(".hidden.conf", "syntax error here\n");
    DROP("Bad_Name.conf", "max_sessions = 1;\n");

    snprintf(text, sizeof text,
             "plugin_conf_dir = \"%s\";\n"
             "plugins = { x264 = { max_sessions = 5; }; };\n",
             dir);
    c = load_ok(write_file("dropins.conf", text), 1, "file with drop-ins");
    if (c) {
        const struct dcv_config *x = dcv_conf_plugin(c, "x264");
        TAP_IS_INT(dcv_config_get_int(x, "max_sessions", &i64), 0, "key in both");
        TAP_IS_INT(i64, 5, "the main file wins over the drop-in");
        TAP_IS_INT(dcv_config_get_str(x, "tune", &str), 0, "drop-in key not in the main file");
        TAP_IS_STR(str, "film", "drop-in value still applies");
        TAP_IS_INT(dcv_config_get_str(dcv_conf_plugin(c, "vaapi"), "device", &str), 0,
                   "drop-in only plugin");
        TAP_IS_STR(str, "/dev/dri/renderD129", "drop-in only value");
        TAP_IS_INT(dcv_conf_plugin_enabled(c, "qsv"), 0, "drop-in enabled = false");
        TAP_IS_INT(dcv_config_get_int(dcv_conf_plugin(c, "x265"), "x", &i64), -ENOENT,
                   "non-.conf files are ignored");
        dcv_conf_free(&c);
    }

    /* The same drop-ins through the environment, with no main file. */
    setenv("DISTCONV_PLUGIN_CONF_DIR", dir, 1);
    c = load_ok("/nonexistent/distconvd.conf", 0, "drop-ins with no main file");
    if (c) {
        TAP_IS_INT(dcv_config_get_int(dcv_conf_plugin(c, "x264"), "max_sessions", &i64), 0,
                   "drop-in read without main file");
        TAP_IS_INT(i64, 2, "drop-in value without main file");
        dcv_conf_free(&c);
    }

    /* A broken drop-in names itself and its line. */
    DROP("nvenc.conf", "max_sessions = 3;\n\ntune = ;\n");
    {
        char err[1024] = "", want[PATH_MAX + 64];
        int r = dcv_conf_load(&c, "/nonexistent/distconvd.conf", 0, err, sizeof err);
        snprintf(want, sizeof want, "%s/nvenc.conf:3: syntax error", dir);
        TAP_IS_INT(r, -EINVAL, "syntax error in a drop-in");
        TAP_IS_STR(err, want, "drop-in syntax error names file and line");
        DROP("nvenc.conf", "max_sessions = 3;\nenabled = 1;\n");
        r = dcv_conf_load(&c, "/nonexistent/distconvd.conf", 0, err, sizeof err);
        snprintf(want, sizeof want, "%s/nvenc.conf:2: enabled: expected true or false", dir);
        TAP_IS_INT(r, -EINVAL, "non-bool enabled in a drop-in");
        TAP_IS_STR(err, want, "drop-in enabled error names file and line");
    }
    unsetenv("DISTCONV_PLUGIN_CONF_DIR");
#undef DROP
}

/* The shipped example must load as-is, and must document every key. */
static void test_shipped_conf(void)
{
    const char *top = getenv("DCV_TOP_SRCDIR");
    char path[PATH_MAX], *text = NULL, *uncommented = NULL;
    struct dcv_conf *c;
    static const char *const documented[] = {
        "role",        "name",          "state_dir",         "plugin_dir", "plugin_conf_dir",
        "level",       "format",        "target",            "plugins",    "enabled",
        "plugins.d",   "max_sessions",  "nvenc",             "x264",
    };
    size_t len = 0;
    FILE *f;

    if (!top) {
        tap_skip("DCV_TOP_SRCDIR not set", "shipped distconvd.conf loads");
        return;
    }
    snprintf(path, sizeof path, "%s/etc/distconvd.conf", top);
    setenv("DISTCONV_PLUGIN_CONF_DIR", mkdir_tmp("empty-plugins.d"), 1);
    c = load_ok(path, 1, "shipped etc/distconvd.conf");
    if (c) {
        const struct dcv_settings *s = dcv_conf_settings(c);
        TAP_IS_INT(s->role, DCV_ROLE_STANDALONE, "shipped file keeps the default role");
        TAP_IS_INT(s->log_level, DCV_LOG_INFO, "shipped file keeps the default level");
        dcv_conf_free(&c);
    }

    f = fopen(path, "r");
    if (!f)
        tap_bail("cannot read %s", path);
    {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            char *t = realloc(text, len + n + 1);
            if (!t)
                tap_bail("out of memory");
            text = t;
            memcpy(text + len, buf, n);
            len += n;
            text[len] = '\0';
        }
        fclose(f);
    }
    if (!text)
        tap_bail("%s is empty", path);
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        TAP_HAS_STR(text, env_vars[i], "shipped file documents the variable");
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        TAP_HAS_STR(text, documented[i], "shipped file documents the key");

    /* Uncommenting every "#key = value;" line must give a valid file with
     * the same settings: the documented defaults are the real ones. */
    uncommented = malloc(len + 1);
    if (!uncommented)
        tap_bail("out of memory");
    {
        size_t o = 0;
        for (char *line = text; *line;) {
            char *nl = strchr(line, '\n');
            size_t ll = nl ? (size_t)(nl - line) + 1 : strlen(line);
            size_t ws = strspn(line, " \t");
            int is_setting = line[ws] == '#' && line[ws + 1] >= 'a' && line[ws + 1] <= 'z' &&
                             memchr(line, '=', ll) && ll >= 2 &&
                             line[ll - (nl ? 2 : 1)] == ';';
            if (is_setting) {
                memcpy(uncommented + o, line, ws);
                memcpy(uncommented + o + ws, line + ws + 1, ll - ws - 1);
                o += ll - 1;
            } else {
                memcpy(uncommented + o, line, ll);
                o += ll;
            }
            line += ll;
        }
        uncommented[o] = '\0';
    }
    c = load_ok(write_file("shipped-uncommented.conf", uncommented), 1,
                "shipped file with every setting uncommented");
    if (c) {
        const struct dcv_settings *s = dcv_conf_settings(c);
        TAP_IS_INT(s->role, DCV_ROLE_STANDALONE, "documented role default is real");
        TAP_IS_INT(s->log_level, DCV_LOG_INFO, "documented level default is real");
        TAP_IS_INT(s->log_format, DCV_LOG_TEXT, "documented format default is real");
        TAP_IS_INT(s->log_target, DCV_LOG_STDERR, "documented target default is real");
        dcv_conf_free(&c);
    }
    unsetenv("DISTCONV_PLUGIN_CONF_DIR");
    free(uncommented);
    free(text);
}

/* The distributed-jobs settings: role-dependent endpoint defaults, the
 * environment contract containers rely on, lists, and their errors. */
static void test_cluster_keys(void)
{
    const char *empty = write_file("empty-cluster.conf", "");
    struct dcv_conf *c;
    const struct dcv_settings *s;

    setenv("DISTCONV_STATE_DIR", "/srv/dcv", 1);
    c = load_ok(empty, 1, "standalone defaults");
    if (c) {
        s = dcv_conf_settings(c);
        TAP_IS_STR(s->bind, "ipc:///srv/dcv/control.sock", "standalone binds ipc in state_dir");
        TAP_IS_STR(s->data_bind, "ipc:///srv/dcv/data.sock", "standalone data on ipc");
        TAP_IS_STR(s->admin, "ipc:///srv/dcv/admin.sock", "admin default");
        TAP_IS_STR(s->coordinator, s->bind, "standalone worker connects to its own bind");
        TAP_IS_STR(s->work_dir, "/srv/dcv/work", "work_dir default");
        TAP_IS_STR(s->transport, "zmq", "transport default");
        TAP_IS_INT(s->max_jobs, 1, "max_jobs default");
        TAP_IS_INT(s->heartbeat_ms, 2000, "heartbeat default 2 s");
        TAP_IS_INT(s->liveness, 3, "3 misses");
        TAP_IS_INT(s->chunk_size, 1048576, "chunk default 1 MiB");
        TAP_IS_INT(s->credit_chunks, 8, "credit default 8");
        TAP_IS_INT(s->stream, DCV_STREAM_AUTO, "stream auto");
        TAP_IS_INT(s->job_nice, 10, "job nice 10");
        TAP_IS_INT(s->stall_after_s, 300, "stall_after default 300 s");
        TAP_IS_INT(s->stall_action, DCV_STALL_FLAG, "stall_action default flag");
        dcv_conf_free(&c);
    }
    setenv("DISTCONV_ROLE", "coordinator", 1);
    c = load_ok(empty, 1, "coordinator defaults");
    if (c) {
        s = dcv_conf_settings(c);
        TAP_IS_STR(s->bind, "tcp://*:7400", "coordinator binds tcp 7400");
        TAP_IS_STR(s->data_bind, "tcp://*:7401", "data on the next port");
        TAP_IS_STR(s->coordinator, "", "a coordinator connects to nobody");
        dcv_conf_free(&c);
    }
    setenv("DISTCONV_BIND", "tcp://127.0.0.1:*", 1);
    c = load_ok(empty, 1, "ephemeral bind");
    if (c) {
        TAP_IS_STR(dcv_conf_settings(c)->data_bind, "tcp://127.0.0.1:*",
                   "ephemeral control port gives an ephemeral data port");
        dcv_conf_free(&c);
    }
    setenv("DISTCONV_ROLE", "worker", 1);
    setenv("DISTCONV_COORDINATOR", "tcp://coord.lan:7400", 1);
    setenv("DISTCONV_MAX_JOBS", "4", 1);
    setenv("DISTCONV_WORK_DIR", "/scratch/dcv", 1);
    setenv("DISTCONV_PATH_MAP", "/srv/media=/mnt/media;/srv/b=/b", 1);
    c = load_ok(empty, 1, "worker from the environment");
    if (c) {
        s = dcv_conf_settings(c);
        TAP_IS_STR(s->coordinator, "tcp://coord.lan:7400", "DISTCONV_COORDINATOR");
        TAP_IS_INT(s->max_jobs, 4, "DISTCONV_MAX_JOBS");
        TAP_IS_STR(s->work_dir, "/scratch/dcv", "DISTCONV_WORK_DIR");
        TAP_IS_INT(s->path_map.n, 2, "DISTCONV_PATH_MAP has two entries");
        TAP_IS_STR(s->path_map.v[1], "/srv/b=/b", "second path map entry");
        dcv_conf_free(&c);
    }
    clear_env();
    setenv("DISTCONV_MAX_JOBS", "0", 1);
    {
        struct dcv_conf *x = NULL;
        char err[1024] = "";
        int r = dcv_conf_load(&x, empty, 1, err, sizeof err);
        TAP_IS_INT(r, -EINVAL, "DISTCONV_MAX_JOBS=0 refused");
        TAP_HAS_STR(err, "DISTCONV_MAX_JOBS: expected an integer from 1 to 1024", "names the variable");
    }
    clear_env();

    c = load_ok(write_file("lists.conf", "shared_roots = [\"/srv/media\", \"/nas\"];\n"
                                         "worker = { path_map = [\"/srv/media=/mnt/m\"]; disk_quota = 5000000000L; };\n"
                                         "transfer = { stream = \"never\"; chunk_size = 65536; };\n"
                                         "queue = { strategy = \"round-robin\"; stall_after = \"2m\";\n"
                                         "          stall_action = \"fail\"; };\n"),
                1, "lists and groups");
    if (c) {
        s = dcv_conf_settings(c);
        TAP_IS_INT(s->shared_roots.n, 2, "two shared roots");
        TAP_IS_STR(s->shared_roots.v[1], "/nas", "second shared root");
        TAP_IS_INT(s->disk_quota, 5000000000LL, "64-bit disk quota");
        TAP_IS_INT(s->stream, DCV_STREAM_NEVER, "stream never");
        TAP_IS_INT(s->chunk_size, 65536, "chunk size");
        TAP_IS_INT(s->strategy, DCV_CONF_ROUND_ROBIN, "strategy");
        TAP_IS_INT(s->stall_after_s, 120, "stall_after \"2m\"");
        TAP_IS_INT(s->stall_action, DCV_STALL_FAIL, "stall_action fail");
        dcv_conf_free(&c);
    }
    setenv("DISTCONV_QUEUE_STALL_AFTER", "0", 1);
    c = load_ok(empty, 1, "DISTCONV_QUEUE_STALL_AFTER=0");
    unsetenv("DISTCONV_QUEUE_STALL_AFTER");
    if (c) {
        TAP_IS_INT(dcv_conf_settings(c)->stall_after_s, 0, "stall detection off");
        dcv_conf_free(&c);
    }
    expect_error("\nbind = \"7400\";\n",
                 "2: bind: expected an endpoint such as \"tcp://HOST:PORT\" or \"ipc:///PATH\"; got \"7400\"",
                 "bad endpoint");
    expect_error("coordinator = \"tcp://host\";\n", "1: coordinator: expected an endpoint such as \"tcp://HOST:PORT\" or \"ipc:///PATH\"; got \"tcp://host\"",
                 "endpoint without a port");
    expect_error("shared_roots = [\"/ok\", \"relative\"];\n",
                 "1: shared_roots: entry 2: expected an absolute path; got \"relative\"",
                 "relative shared root");
    expect_error("worker = {\n path_map = [\"/a\"];\n};\n",
                 "2: worker.path_map: entry 1: expected \"/coordinator/prefix=/local/prefix\" (two absolute paths); got \"/a\"",
                 "bad path map");
    expect_error("shared_roots = \"/srv\";\n",
                 "1: shared_roots: expected a list of strings [ \"...\", ... ]", "list given as a string");
    expect_error("liveness = { misses = 0; };\n",
                 "1: liveness.misses: expected an integer from 1 to 100; got 0", "misses 0");
    expect_error("max_job = 2;\n", "1: unknown key \"max_job\" (did you mean \"max_jobs\"?)",
                 "misspelt max_jobs");
}

/* admission.* (numbers with or without a decimal point) and
 * telemetry.nvml_library (with its environment variable). */
static void test_admission_keys(void)
{
    const char *empty = write_file("empty-adm.conf", "");
    struct dcv_conf *c = load_ok(empty, 1, "admission defaults");
    const struct dcv_settings *s;
    if (c) {
        s = dcv_conf_settings(c);
        TAP_OK(s->adm_max_mem_pressure == 60.0 && s->adm_min_mem_avail == 268435456 &&
                   s->adm_max_cpu_pressure == 0 && s->adm_max_io_pressure == 0 &&
                   s->adm_max_load_per_core == 0 && s->adm_max_temp_c == 95.0 &&
                   s->adm_max_gpu_temp_c == 90.0 && s->adm_min_disk_free == 0,
               "admission defaults");
        TAP_IS_STR(s->nvml_library, "libnvidia-ml.so.1", "nvml_library default");
        dcv_conf_free(&c);
    }
    c = load_ok(write_file("adm.conf",
                           "admission = { max_mem_pressure = 40; max_cpu_pressure = 75.5;\n"
                           "  max_io_pressure = 30.0; max_load_per_core = 1.25; max_temp_c = 85;\n"
                           "  max_gpu_temp_c = 80.5; min_mem_avail = 1073741824;\n"
                           "  min_disk_free = 10000000000L; };\n"
                           "telemetry = { nvml_library = \"\"; };\n"),
                1, "admission keys");
    if (c) {
        s = dcv_conf_settings(c);
        TAP_OK(s->adm_max_mem_pressure == 40 && s->adm_max_cpu_pressure == 75.5 &&
                   s->adm_max_io_pressure == 30 && s->adm_max_load_per_core == 1.25 &&
                   s->adm_max_temp_c == 85 && s->adm_max_gpu_temp_c == 80.5 &&
                   s->adm_min_mem_avail == 1073741824 && s->adm_min_disk_free == 10000000000LL,
               "admission keys read, integers and decimals alike");
        TAP_IS_STR(s->nvml_library, "", "nvml_library \"\" turns NVML off");
        dcv_conf_free(&c);
    }
    setenv("DISTCONV_NVML_LIBRARY", "/opt/nvidia/libnvidia-ml.so.1", 1);
    c = load_ok(empty, 1, "DISTCONV_NVML_LIBRARY");
    if (c) {
        TAP_IS_STR(dcv_conf_settings(c)->nvml_library, "/opt/nvidia/libnvidia-ml.so.1",
                   "DISTCONV_NVML_LIBRARY sets the library");
        dcv_conf_free(&c);
    }
    unsetenv("DISTCONV_NVML_LIBRARY");
    expect_error("admission = { max_temp_c = 250.0; };\n",
                 "1: admission.max_temp_c: expected a number from 0 to 200; got 250",
                 "temperature limit out of range");
    expect_error("admission = { max_mem_pressure = \"high\"; };\n",
                 "1: admission.max_mem_pressure: expected a number", "pressure limit not a number");
    expect_error("admission = { min_mem_avail = 1.5; };\n",
                 "1: admission.min_mem_avail: expected an integer", "bytes must be an integer");
}

/* storage.* durations (issue 11 A8): the syntax, its limits, the file's
 * integer form, the environment, the defaults and their --check-config text. */
static void test_storage_keys(void)
{
    static const struct { const char *text; int64_t secs; } good[] = {
        { "forever", 0 }, { "0", 0 },     { "0s", 0 },         { "90", 90 },
        { "30s", 30 },    { "15m", 900 }, { "12h", 43200 },    { "7d", 604800 },
        { "36500d", (int64_t)36500 * 86400 },
    };
    static const char *const bad[] = { "", "7x", "d", "-1d", " 7d", "7d ", "7dd", "1.5h",
                                       "36501d", "99999999999999999999", "Forever", "7 d" };
    struct dcv_conf *c;
    char why[256], text[32];
    int64_t v;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        v = -1;
        TAP_OK(dcv_duration_parse(good[i].text, &v, why, sizeof why) == 0 && v == good[i].secs,
               "duration \"%s\" is %lld s", good[i].text, (long long)good[i].secs);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TAP_OK(dcv_duration_parse(bad[i], &v, why, sizeof why) == -EINVAL &&
                   strstr(why, "expected a duration"),
               "duration \"%s\" is refused", bad[i]);
    dcv_duration_format(604800, text, sizeof text);
    TAP_IS_STR(text, "7d", "604800 s formats as 7d");
    dcv_duration_format(5400, text, sizeof text);
    TAP_IS_STR(text, "90m", "5400 s formats as 90m");
    dcv_duration_format(0, text, sizeof text);
    TAP_IS_STR(text, "forever", "0 formats as forever");

    c = load_ok(write_file("empty-storage.conf", ""), 1, "storage defaults");
    if (c) {
        const struct dcv_settings *s = dcv_conf_settings(c);
        TAP_OK(s->keep_inputs_s == 86400 && s->keep_outputs_s == 7 * 86400 &&
                   s->keep_outputs_until_downloaded == 1,
               "storage defaults: inputs 1d, outputs 7d, kept until downloaded");
        dcv_conf_free(&c);
    }
    c = load_ok(write_file("storage.conf", "storage = { keep_inputs = \"12h\"; keep_outputs = 3600;\n"
                                           "  keep_outputs_until_downloaded = false; };\n"),
                1, "storage keys");
    if (c) {
        const struct dcv_settings *s = dcv_conf_settings(c);
        TAP_OK(s->keep_inputs_s == 43200 && s->keep_outputs_s == 3600 &&
                   !s->keep_outputs_until_downloaded,
               "storage keys: a duration string, an integer of seconds, a boolean");
        dcv_conf_free(&c);
    }
    setenv("DISTCONV_KEEP_OUTPUTS", "forever", 1);
    c = load_ok(write_file("empty-storage.conf", ""), 1, "DISTCONV_KEEP_OUTPUTS");
    if (c) {
        TAP_OK(dcv_conf_settings(c)->keep_outputs_s == 0, "DISTCONV_KEEP_OUTPUTS=forever keeps outputs");
        dcv_conf_free(&c);
    }
    unsetenv("DISTCONV_KEEP_OUTPUTS");
    expect_error("storage = {\n  keep_outputs = \"7x\";\n};\n",
                 "2: storage.keep_outputs: expected a duration such as \"30s\", \"15m\", \"12h\", "
                 "\"7d\" (at most 100 years) or \"forever\"; got \"7x\"",
                 "a bad duration names file:line");
    expect_error("storage = { keep_inputs = -5; };\n",
                 "1: storage.keep_inputs: expected a duration such as \"7d\" or \"forever\", or "
                 "seconds as an integer", "a negative integer duration is refused");
    expect_error("storage = { keep_inputs = true; };\n",
                 "1: storage.keep_inputs: expected a duration such as \"7d\" or \"forever\", or "
                 "seconds as an integer", "a boolean duration is refused");
    expect_env_error("DISTCONV_KEEP_INPUTS", "soon",
                     "DISTCONV_KEEP_INPUTS: expected a duration such as \"30s\", \"15m\", \"12h\", "
                     "\"7d\" (at most 100 years) or \"forever\"; got \"soon\"");
}

/* The security files' defaults live beside the configuration file in use
 * (-c FILE's directory), as docs/security.md says; they followed the
 * built-in default's directory whatever -c named (issue 11 A10). */
static void test_security_beside_conf(void)
{
    char dir[PATH_MAX], want[PATH_MAX + 64];
    const char *f;
    struct dcv_conf *c;

    clear_env();
    snprintf(dir, sizeof dir, "%s/site", tmpdir);
    mkdir(dir, 0700);
    f = write_file("site/distconvd.conf", "role = \"coordinator\";\n");
    c = load_ok(f, 1, "a -c file in its own directory");
    if (!c)
        return;
    const struct dcv_settings *s = dcv_conf_settings(c);
    TAP_IS_STR(s->conf_dir, dir, "conf_dir is the -c file's directory");
    snprintf(want, sizeof want, "%s/workers.d", dir);
    TAP_IS_STR(s->sec_workers_dir, want, "workers.d beside the -c file");
    snprintf(want, sizeof want, "%s/admins.d", dir);
    TAP_IS_STR(s->sec_admins_dir, want, "admins.d beside the -c file");
    snprintf(want, sizeof want, "%s/keys/coordinator.pub", dir);
    TAP_IS_STR(s->sec_coordinator_key, want, "keys/coordinator.pub beside the -c file");
    dcv_conf_free(&c);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/dcv-config-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        tap_bail("mkdtemp failed");
    clear_env();

    test_good_file();
    test_defaults_and_env();
    test_files();
    test_errors();
    test_plugins();
    test_dropins();
    test_shipped_conf();
    test_cluster_keys();
    test_admission_keys();
    test_security_beside_conf();
    test_storage_keys();

    rm_rf(tmpdir);
    return tap_done();
}
