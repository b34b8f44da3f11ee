/*
 * JSON form of struct dcv_device_caps: what `distconvd --probe --json`
 * prints per device and what a worker's HELLO carries to the coordinator.
 *
 *   {"available":true,"hardware":false,"hw_type":"none","device_id":"cpu",
 *    "device_name":"x264 (CPU)","max_sessions":0,"sessions_scope":"unlimited",
 *    "sessions_source":"none","flags":["ten-bit"],"unavailable_reason":"",
 *    "codecs":[{"codec":"h264","encoder":"libx264","profiles":"high,...",
 *               "max_width":16384,"max_height":16384,"bit_depths":[8,10],
 *               "pix_fmts":["yuv420p","yuv420p10le"]}]}
 *
 * Pixel formats travel by name, not by AVPixelFormat number, because the
 * numbers differ between FFmpeg majors and two hosts may run different ones.
 */
#ifndef DCV_CAPS_JSON_H
#define DCV_CAPS_JSON_H

#include <stddef.h>
#include "distconv/plugin.h"

struct json_object;

/* Serialise caps (as a plugin filled them: strings are read only up to
 * their array size, control characters become spaces). -EINVAL when the
 * struct cannot be represented (n_codecs > DCV_MAX_CODECS, unknown session
 * scope or limit source), -ENOMEM; reason in err. *out is a new reference. */
int dcv_caps_to_json(const struct dcv_device_caps *caps, struct json_object **out,
                     char *err, size_t errlen);

/*
 * Parse and validate untrusted JSON (a worker's HELLO, a probe child's
 * report) into *out, which is zeroed first and gets struct_size = sizeof.
 * Every field is required and type-checked, strings must fit their arrays
 * and hold no control characters, arrays and numbers are bounded. Unknown
 * keys, unknown flag names and pixel formats this FFmpeg does not know are
 * ignored (a newer peer may send them); an unknown hw_type reads as "other".
 * 0 or -EINVAL with the offending field named in err.
 */
int dcv_caps_from_json(struct json_object *obj, struct dcv_device_caps *out, char *err,
                       size_t errlen);

/* "none", "cuda", ... for enum dcv_hw_type ("other" for unknown values). */
const char *dcv_hw_type_name(int32_t hw_type);

#endif
