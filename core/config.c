/*
 * distconvd configuration: libconfig file(s) + DISTCONV_* environment.
 *
 * Every daemon setting is one row of the key table (config_keys.c): its
 * libconfig path, its environment variable, its type and where it lands in
 * struct dcv_settings. The same table drives reading the file (here), the
 * environment overrides and the unknown-key check, so adding a setting is
 * adding a row. Groups such as `log` exist because some row's path goes
 * through them.
 *
 * Unknown keys are errors (a silently ignored typo is an admin's worst
 * afternoon), except under plugins.<name>, which the plugin owns.
 */
#include "config.h"
#include "config_int.h"
#include "errbuf.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The plugin handle: the subtree from the main file and the one from the
 * drop-in file. Lookups try the main file first, key by key, so an admin can
 * override one value of what a package dropped in without copying the rest. */
struct dcv_config {
    const config_setting_t *main;
    const config_setting_t *dropin;
};

struct plugin_entry {
    char name[64];
    struct dcv_config cfg;
};

struct dropin {
    char name[64];
    char path[PATH_MAX];
    config_t cf; /* settings point back at it: never moved once read */
};

struct dcv_conf {
    config_t cf;
    int have_file;
    char path[PATH_MAX];
    struct dcv_settings s;
    struct dropin **dropins;
    size_t n_dropins;
    struct plugin_entry *plugins;
    size_t n_plugins;
};

/* ---- small helpers ------------------------------------------------------ */

/* The one group whose members are not in the table. */
static const char plugins_group[] = "plugins";

/* Plugin names as plugin.h defines them: [a-z0-9-]+. */
static int valid_plugin_name(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n >= maxlen)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static const char *setting_file(const config_setting_t *st, const char *fallback)
{
    const char *f = config_setting_source_file(st);
    return f && f[0] ? f : fallback;
}

/* Levenshtein distance, for "did you mean" on unknown keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* ---- walking the main file ---------------------------------------------- */

static const struct key_def *find_key(const char *path)
{
    for (size_t i = 0; i < cfg_n_keys; i++)
        if (strcmp(cfg_keys[i].path, path) == 0)
            return &cfg_keys[i];
    return NULL;
}

/* Is `path` a group some table row goes through? */
static int is_group(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < cfg_n_keys; i++)
        if (strncmp(cfg_keys[i].path, path, n) == 0 && cfg_keys[i].path[n] == '.')
            return 1;
    return 0;
}

static void unknown_key(const char *file, const config_setting_t *st, const char *group,
                        char *err, size_t errlen)
{
    const char *name = config_setting_name(st);
    const char *best = NULL;
    size_t best_d = 3, glen = group ? strlen(group) + 1 : 0;
    char shown[256];

    /* Suggest the nearest sibling: "max_job" is almost always "max_jobs". */
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const char *p = cfg_keys[i].path;
        char seg[64];
        size_t sl;
        if (glen && (strncmp(p, group, glen - 1) != 0 || p[glen - 1] != '.'))
            continue;
        p += glen;
        sl = strcspn(p, ".");
        if (sl >= sizeof seg)
            continue;
        memcpy(seg, p, sl);
        seg[sl] = '\0';
        size_t d = edit_distance(name, seg);
        if (d < best_d) {
            best_d = d;
            best = cfg_keys[i].path + glen;
        }
    }
    if (!group && edit_distance(name, plugins_group) < best_d)
        best = plugins_group;
    if (group)
        snprintf(shown, sizeof shown, "%s.%s", group, name);
    else
        snprintf(shown, sizeof shown, "%s", name);
    if (best) {
        size_t bl = strcspn(best, ".");
        dcv_errf(err, errlen, "%s:%u: unknown key \"%s\" (did you mean \"%.*s\"?)",
                setting_file(st, file), config_setting_source_line(st), shown, (int)bl, best);
    } else {
        dcv_errf(err, errlen, "%s:%u: unknown key \"%s\"", setting_file(st, file),
                config_setting_source_line(st), shown);
    }
}

/* `enabled` is the one key under plugins.<name> the host owns. */
static int check_plugin_tree(const char *file, const char *label, const config_setting_t *tree,
                             char *err, size_t errlen)
{
    config_setting_t *en = config_setting_get_member(tree, "enabled");
    if (en && config_setting_type(en) != CONFIG_TYPE_BOOL) {
        dcv_errf(err, errlen, "%s:%u: %s%senabled: expected true or false",
                setting_file(en, file), config_setting_source_line(en), label,
                label[0] ? "." : "");
        return -EINVAL;
    }
    return 0;
}

static int check_plugins_group(const char *file, const config_setting_t *grp, char *err,
                               size_t errlen)
{
    if (!config_setting_is_group(grp)) {
        dcv_errf(err, errlen, "%s:%u: plugins: expected a group { ... }", setting_file(grp, file),
                config_setting_source_line(grp));
        return -EINVAL;
    }
    for (int i = 0; i < config_setting_length(grp); i++) {
        const config_setting_t *p = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(p);
        char label[128];
        int r;
        if (!valid_plugin_name(name, sizeof(((struct plugin_entry *)0)->name))) {
            dcv_errf(err, errlen,
                    "%s:%u: plugins.%s: expected a plugin name (lowercase letters, digits "
                    "and '-')",
                    setting_file(p, file), config_setting_source_line(p), name);
            return -EINVAL;
        }
        if (!config_setting_is_group(p)) {
            dcv_errf(err, errlen, "%s:%u: plugins.%s: expected a group { ... }",
                    setting_file(p, file), config_setting_source_line(p), name);
            return -EINVAL;
        }
        snprintf(label, sizeof label, "plugins.%s", name);
        if ((r = check_plugin_tree(file, label, p, err, errlen)) < 0)
            return r;
    }
    return 0;
}

/* Walk a group of the main file: every member must be a table key, a table
 * group, or (at the top) `plugins`. Values are applied on the way. */
static int walk_group(const char *file, const config_setting_t *grp, const char *prefix,
                      struct dcv_settings *s, char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(grp); i++) {
        const config_setting_t *st = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(st);
        const struct key_def *k;
        char path[256], why[512];
        int r;

        if (!name) /* list/array elements have no name; groups never hold them */
            continue;
        if (prefix)
            snprintf(path, sizeof path, "%s.%s", prefix, name);
        else
            snprintf(path, sizeof path, "%s", name);

        if (!prefix && strcmp(name, plugins_group) == 0) {
            if ((r = check_plugins_group(file, st, err, errlen)) < 0)
                return r;
        } else if ((k = find_key(path)) != NULL) {
            if ((r = cfg_apply_setting(k, st, s, why, sizeof why)) < 0) {
                dcv_errf(err, errlen, "%s:%u: %s: %s", setting_file(st, file),
                        config_setting_source_line(st), path, why);
                return r;
            }
        } else if (is_group(path)) {
            if (!config_setting_is_group(st)) {
                dcv_errf(err, errlen, "%s:%u: %s: expected a group { ... }",
                        setting_file(st, file), config_setting_source_line(st), path);
                return -EINVAL;
            }
            if ((r = walk_group(file, st, path, s, err, errlen)) < 0)
                return r;
        } else {
            unknown_key(file, st, prefix, err, errlen);
            return -EINVAL;
        }
    }
    return 0;
}

/* Open and parse one libconfig file. -ENOENT untouched for the caller to
 * decide; other failures with "FILE..." in err. */
static int read_file(config_t *cf, const char *path, char *err, size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    char dir[PATH_MAX], *slash;

    if (!f) {
        int e = errno;
        dcv_errf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        dcv_errf(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
        return -EISDIR;
    }
    fclose(f);

    /* @include "x.conf" is relative to the including file, not to our cwd. */
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        config_set_include_dir(cf, dir);
    }
    if (config_read_file(cf, path) != CONFIG_TRUE) {
        const char *ef = config_error_file(cf);
        if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
            dcv_errf(err, errlen, "%s: cannot read: %s", ef ? ef : path,
                    config_error_text(cf) ? config_error_text(cf) : "I/O error");
        else
            dcv_errf(err, errlen, "%s:%d: %s", ef ? ef : path, config_error_line(cf),
                    config_error_text(cf) ? config_error_text(cf) : "syntax error");
        return config_error_type(cf) == CONFIG_ERR_FILE_IO ? -EIO : -EINVAL;
    }
    return 0;
}

/* ---- plugins.d ---------------------------------------------------------- */

static int dropin_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

static int load_dropins(struct dcv_conf *c, char *err, size_t errlen)
{
    struct dirent **ents = NULL;
    const char *dir = c->s.plugin_conf_dir;
    int n = scandir(dir, &ents, dropin_filter, alphasort);
    int r = 0;

    if (n < 0) {
        int e = errno;
        if (e == ENOENT)
            return 0; /* no package dropped anything in: normal */
        dcv_errf(err, errlen, "plugin_conf_dir %s: cannot read: %s", dir, strerror(e));
        return -e;
    }
    c->dropins = calloc((size_t)n ? (size_t)n : 1, sizeof *c->dropins);
    if (!c->dropins) {
        dcv_errf(err, errlen, "out of memory");
        r = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *fn = ents[i]->d_name;
        size_t base = strlen(fn) - 5;
        struct dropin *d;
        struct stat st;
        char path[PATH_MAX];

        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, fn) >= sizeof path)
            continue;
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            continue;
        if (base >= sizeof d->name) {
            dcv_log(DCV_LOG_WARN, "config", "%s: ignored: not a plugin name", path);
            continue;
        }
        d = calloc(1, sizeof *d);
        if (!d) {
            dcv_errf(err, errlen, "out of memory");
            r = -ENOMEM;
            goto out;
        }
        memcpy(d->name, fn, base);
        d->name[base] = '\0';
        if (!valid_plugin_name(d->name, sizeof d->name)) {
            /* A stray file must not stop the daemon, but must not vanish silently. */
            dcv_log(DCV_LOG_WARN, "config",
                    "%s: ignored: \"%s\" is not a plugin name (lowercase letters, digits, '-')",
                    path, d->name);
            free(d);
            continue;
        }
        snprintf(d->path, sizeof d->path, "%s", path);
        config_init(&d->cf);
        c->dropins[c->n_dropins++] = d;
        if ((r = read_file(&d->cf, path, err, errlen)) < 0)
            goto out;
        if ((r = check_plugin_tree(path, "", config_root_setting(&d->cf), err, errlen)) < 0)
            goto out;
    }
out:
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return r;
}

static struct plugin_entry *find_plugin(const struct dcv_conf *c, const char *name)
{
    for (size_t i = 0; i < c->n_plugins; i++)
        if (strcmp(c->plugins[i].name, name) == 0)
            return &c->plugins[i];
    return NULL;
}

static int build_plugins(struct dcv_conf *c)
{
    const config_setting_t *grp = c->have_file ? config_lookup(&c->cf, plugins_group) : NULL;
    size_t max = c->n_dropins + (grp ? (size_t)config_setting_length(grp) : 0);

    c->plugins = calloc(max ? max : 1, sizeof *c->plugins);
    if (!c->plugins)
        return -ENOMEM;
    for (int i = 0; grp && i < config_setting_length(grp); i++) {
        const config_setting_t *p = config_setting_get_elem(grp, (unsigned)i);
        struct plugin_entry *e = &c->plugins[c->n_plugins++];
        snprintf(e->name, sizeof e->name, "%s", config_setting_name(p));
        e->cfg.main = p;
    }
    for (size_t i = 0; i < c->n_dropins; i++) {
        struct dropin *d = c->dropins[i];
        struct plugin_entry *e = find_plugin(c, d->name);
        if (!e) {
            e = &c->plugins[c->n_plugins++];
            snprintf(e->name, sizeof e->name, "%s", d->name);
        }
        e->cfg.dropin = config_root_setting(&d->cf);
    }
    return 0;
}

/* ---- public ------------------------------------------------------------- */

int dcv_conf_load(struct dcv_conf **out, const char *path, int explicit_path, char *err,
                  size_t errlen)
{
    struct dcv_conf *c;
    int r;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!path || !path[0])
        path = DCV_DEFAULT_CONFIG;
    c = calloc(1, sizeof *c);
    if (!c) {
        dcv_errf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    config_init(&c->cf);
    cfg_set_defaults(&c->s);
    {
        const char *slash = strrchr(path, '/');
        if (!slash)
            snprintf(c->s.conf_dir, sizeof c->s.conf_dir, ".");
        else if (slash == path)
            snprintf(c->s.conf_dir, sizeof c->s.conf_dir, "/");
        else
            snprintf(c->s.conf_dir, sizeof c->s.conf_dir, "%.*s", (int)(slash - path), path);
    }

    r = read_file(&c->cf, path, err, errlen);
    if (r == -ENOENT && !explicit_path) {
        r = 0; /* defaults + environment is a complete configuration */
        if (err && errlen)
            err[0] = '\0';
    } else if (r == 0) {
        c->have_file = 1;
        snprintf(c->path, sizeof c->path, "%s", path);
        r = walk_group(path, config_root_setting(&c->cf), NULL, &c->s, err, errlen);
    }
    if (r == 0)
        r = cfg_apply_env(&c->s, err, errlen);
    if (r == 0)
        r = cfg_resolve_defaults(&c->s, err, errlen);
    if (r == 0)
        r = load_dropins(c, err, errlen);
    if (r == 0 && (r = build_plugins(c)) < 0)
        dcv_errf(err, errlen, "out of memory");
    if (r < 0) {
        dcv_conf_free(&c);
        return r;
    }
    *out = c;
    return 0;
}

void dcv_conf_free(struct dcv_conf **conf)
{
    struct dcv_conf *c = conf ? *conf : NULL;
    if (!c)
        return;
    for (size_t i = 0; i < c->n_dropins; i++) {
        config_destroy(&c->dropins[i]->cf);
        free(c->dropins[i]);
    }
    free(c->dropins);
    free(c->plugins);
    config_destroy(&c->cf);
    free(c);
    *conf = NULL;
}

const struct dcv_settings *dcv_conf_settings(const struct dcv_conf *conf)
{
    return &conf->s;
}

const char *dcv_conf_path(const struct dcv_conf *conf)
{
    return conf->path;
}

static const struct dcv_config empty_config = { NULL, NULL };

const struct dcv_config *dcv_conf_plugin(struct dcv_conf *conf, const char *name)
{
    struct plugin_entry *e = conf && name ? find_plugin(conf, name) : NULL;
    return e ? &e->cfg : &empty_config;
}

int dcv_conf_plugin_enabled(struct dcv_conf *conf, const char *name)
{
    int on;
    if (dcv_config_get_bool(dcv_conf_plugin(conf, name), "enabled", &on) == 0)
        return on != 0;
    return 1;
}

static const config_setting_t *cfg_find(const struct dcv_config *cfg, const char *path)
{
    const config_setting_t *st = NULL;
    if (!cfg || !path || !path[0])
        return NULL;
    /* libconfig's lookup takes a non-const setting but does not modify it. */
    if (cfg->main)
        st = config_setting_lookup((config_setting_t *)cfg->main, path);
    if (!st && cfg->dropin)
        st = config_setting_lookup((config_setting_t *)cfg->dropin, path);
    return st;
}

int dcv_config_get_int(const struct dcv_config *cfg, const char *path, int64_t *out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    if (config_setting_type(st) != CONFIG_TYPE_INT && config_setting_type(st) != CONFIG_TYPE_INT64)
        return -EINVAL;
    *out = config_setting_get_int64(st);
    return 0;
}

int dcv_config_get_str(const struct dcv_config *cfg, const char *path, const char **out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    if (config_setting_type(st) != CONFIG_TYPE_STRING)
        return -EINVAL;
    *out = config_setting_get_string(st);
    return 0;
}

int dcv_config_get_bool(const struct dcv_config *cfg, const char *path, int *out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    if (config_setting_type(st) != CONFIG_TYPE_BOOL)
        return -EINVAL;
    *out = config_setting_get_bool(st) ? 1 : 0;
    return 0;
}

int dcv_config_get_double(const struct dcv_config *cfg, const char *path, double *out)
{
    const config_setting_t *st = cfg_find(cfg, path);
    if (!st)
        return -ENOENT;
    switch (config_setting_type(st)) {
    case CONFIG_TYPE_FLOAT:
        *out = config_setting_get_float(st);
        return 0;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = (double)config_setting_get_int64(st);
        return 0;
    default:
        return -EINVAL;
    }
}

void dcv_conf_walk(const struct dcv_conf *conf, dcv_conf_walk_fn cb, void *ud)
{
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const struct key_def *k = &cfg_keys[i];
        const char *field = (const char *)&conf->s + k->offset;
        char text[64];
        int64_t v = 0;
        switch (k->type) {
        case KEY_STRING:
        case KEY_PATH:
            cb(k->path, DCV_CONF_TEXT, field, NULL, ud);
            break;
        case KEY_ENUM: {
            int x;
            memcpy(&x, field, sizeof x);
            for (const struct key_choice *c = k->choices; c->name; c++)
                if (c->value == x && !c->alias) {
                    cb(k->path, DCV_CONF_TEXT, c->name, NULL, ud);
                    break;
                }
            break;
        }
        case KEY_INT:
        case KEY_BOOL:
            if (k->size == sizeof(int64_t)) {
                memcpy(&v, field, sizeof v);
            } else {
                int32_t x;
                memcpy(&x, field, sizeof x);
                v = x;
            }
            if (k->type == KEY_BOOL)
                cb(k->path, DCV_CONF_BOOL, v ? "true" : "false", NULL, ud);
            else {
                snprintf(text, sizeof text, "%lld", (long long)v);
                cb(k->path, DCV_CONF_NUMBER, text, NULL, ud);
            }
            break;
        case KEY_DURATION:
            memcpy(&v, field, sizeof v);
            dcv_duration_format(v, text, sizeof text);
            cb(k->path, DCV_CONF_TEXT, text, NULL, ud);
            break;
        case KEY_LIST:
            cb(k->path, DCV_CONF_LIST, NULL, (const struct dcv_strlist *)(const void *)field, ud);
            break;
        case KEY_DOUBLE: {
            double x;
            memcpy(&x, field, sizeof x);
            snprintf(text, sizeof text, "%g", x);
            cb(k->path, DCV_CONF_NUMBER, text, NULL, ud);
            break;
        }
        }
    }
}

