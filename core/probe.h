/*
 * Capability probing in child processes: `distconvd --probe`, and the
 * worker's registration. Each plugin file is loaded, initialised and probed
 * in its own fork()ed child with a time limit, so a crashing or hanging
 * driver costs that plugin's report, never the daemon.
 */
#ifndef DCV_PROBE_H
#define DCV_PROBE_H

#include <stddef.h>
#include <sys/types.h>
#include "config.h"

/* Probe every plugin in the configured plugin_dir. Returns 0 and a JSON
 * report (caller frees) of the form documented in docs/operations.md:
 *   {"host_abi":"1.0","plugin_dir":"...","plugins":[{"file":..,"name":..,
 *    "kind":"encoder","version":..,"status":"ok|refused|crashed|timeout|
 *    init-failed|disabled|probe-failed|error","reason":..,"devices":[{...caps...}]}]}
 * (devices in the form of caps_json.h plus "index"; probe-failed: probe()
 * returned an error or unusable caps; error: no probe process could be
 * started) or negative errno with reason in err (plugin_dir unreadable).
 * All children run at once and share one deadline of timeout_ms; every
 * child is reaped before this returns. Uses fork() without exec(): call it
 * before the process starts threads. */
int dcv_probe_all(struct dcv_conf *conf, unsigned timeout_ms, char **json_out,
                  char *err, size_t errlen);

struct dcv_plugin;
struct json_object;

/* Extra work done in each probe child after its report (the startup
 * benchmark, core/worker/encbench.h), for dcv_probe_run(). */
struct dcv_probe_ext {
    /* Child side, after the report of an encoder plugin whose status is
     * "ok": p is initialised, devices is the report's array. Each
     * emit(ectx, value) sends {"KEY": value} to the parent at once, so a
     * later crash loses only what was not sent yet. */
    void (*child)(struct dcv_plugin *p, struct json_object *devices,
                  void (*emit)(void *ectx, struct json_object *value), void *ectx, void *arg);
    /* Parent side: one emitted value, untrusted (the plugin shared the
     * child's memory). Returns what to append to the plugin's report array
     * KEY (a new reference), or NULL to drop it. */
    struct json_object *(*check)(struct json_object *value, void *arg);
    const char *key; /* the array in each plugin's report, always present */
    void *arg;
    /* One child at a time, its time limit timeout_ms restarted by each
     * line it sends: measurements must not share the machine with another
     * plugin's, and take as long as they have devices and codecs. */
    int serial;
};

/* dcv_probe_all() with ext (NULL: exactly dcv_probe_all). */
int dcv_probe_run(struct dcv_conf *conf, unsigned timeout_ms, const struct dcv_probe_ext *ext,
                  char **json_out, char *err, size_t errlen);

/* Render a report from dcv_probe_all as human-readable text. */
int dcv_probe_format_text(const char *json, char **text_out);
/* In a child forked without exec (a probe, the background benchmark):
 * default signal dispositions and an empty mask, its own process group,
 * and killed when the daemon dies (it _exits at once if that happened
 * already). parent: the daemon's pid, taken before fork(). */
void dcv_probe_child_setup(pid_t parent);

#endif
