/*
 * The plugin loader: dlopen()s plugin files, checks the ABI header before
 * trusting anything else in it, and keeps the accepted plugins in a set.
 *
 * Checks, in order, each refusal one log line naming the file and reason:
 * not a regular file / world-writable file; dlopen failure (not an ELF
 * object, missing dependency); no dcv_plugin_query_v1 symbol (not a distconv
 * v1 plugin); query returned NULL; wrong magic; other ABI major; newer ABI
 * minor than the host; struct_size below the v1.0 header (every field up to
 * and including `ops`: the reserved slots are not required); unknown kind;
 * flags other than 0; FFmpeg majors that differ from the running libraries
 * (0 is refused for encoders, accepted for transports that use no FFmpeg);
 * empty or invalid name; a name already loaded; required ops missing (or
 * ops struct_size too small); init or fini missing. Accepted headers and ops
 * are copied min(size, sizeof) into zeroed host structs, so later reads
 * never go past what the plugin provided.
 *
 * Refused plugins are never dlclose()d either: a constructor may have run
 * (see docs/plugin-abi.md "Lifetime"). Nothing is unloaded before exit.
 */
#ifndef DCV_PLUGINHOST_H
#define DCV_PLUGINHOST_H

#include <stddef.h>
#include "distconv/plugin.h"
#include "config.h"

struct dcv_plugin {
    char path[4096];
    struct dcv_plugin_header hdr;      /* size-checked copy */
    struct dcv_encoder_ops enc;        /* valid when hdr.kind == ENCODER */
    struct dcv_transport_ops tx;       /* valid when hdr.kind == TRANSPORT */
    struct dcv_host_api host;          /* this plugin's host services */
    void *ctx;                         /* from init(); NULL until initialised */
    int initialised;
    void *dl;                          /* dlopen handle (never closed) */
};

struct dcv_plugin_set {
    struct dcv_plugin **items;
    size_t n, cap;
};

/* Load and check one file, refusing duplicates of names already in `set`
 * (set may be NULL). Does not call init(). 0 with *out, or negative errno
 * with the reason in err, always "PATH: refused: REASON" (also logged at
 * WARN by the caller's choice: this function does not log). *out is
 * malloc()ed: free() it, or give it to dcv_plugin_set_add (the set owns it
 * then, -EEXIST if the name is taken). */
int dcv_plugin_load(const char *path, const struct dcv_plugin_set *set,
                    struct dcv_plugin **out, char *err, size_t errlen);

/* Load every "*.so" in dir (sorted by name), logging one WARN line per
 * refused file and continuing. Returns the number loaded, or negative errno
 * if dir cannot be read (reason in err). */
int dcv_plugin_set_load_dir(struct dcv_plugin_set *set, const char *dir,
                            char *err, size_t errlen);
int dcv_plugin_set_add(struct dcv_plugin_set *set, struct dcv_plugin *p);

/* The candidate file names in dir, exactly as dcv_plugin_set_load_dir sees
 * them ("*.so", not hidden, sorted bytewise), so probe.c lists the same set.
 * Returns the count with *names (free with dcv_plugin_names_free), or
 * negative errno with the reason in err. */
int dcv_plugin_scan_dir(const char *dir, char ***names, char *err, size_t errlen);
void dcv_plugin_names_free(char **names, int n);
struct dcv_plugin *dcv_plugin_set_find(const struct dcv_plugin_set *set, const char *name);

/* Call init() with host services and the plugin's config subtree (conf may
 * be NULL: empty config). 0 or negative errno with "PATH: init failed:
 * REASON" in err. Calling it again after success does nothing. */
int dcv_plugin_init(struct dcv_plugin *p, struct dcv_conf *conf, char *err, size_t errlen);

/* Calls fini() of initialised plugins and frees the set; the shared objects
 * stay mapped (see above). */
void dcv_plugin_set_clear(struct dcv_plugin_set *set);

#endif
