/*
 * Capability probing in child processes: `distconvd --probe`, and the
 * worker's registration. Each plugin file is loaded, initialised and probed
 * in its own fork()ed child with a time limit, so a crashing or hanging
 * driver costs that plugin's report, never the daemon.
 */
#ifndef DCV_PROBE_H
#define DCV_PROBE_H

#include <stddef.h>
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

/* Render a report from dcv_probe_all as human-readable text. */
int dcv_probe_format_text(const char *json, char **text_out);

#endif
