/*
 * What passes between the worker and its job processes (`distconvd --job
 * SPEC`, see jobproc.h): the SPEC, one JSON text on the command line with
 * everything the job needs, and the job's stdout, one JSON object per line.
 *
 * SPEC (every key required unless marked):
 *   {"job_id":"<32 hex>","attempt":1,"session":"<token>",
 *    "input":{"kind":"path","path":"/local/file","name":"a.mkv"(opt),
 *             "coordinator_path":"/srv/file"(opt),"size":N(opt),"mtime":N(opt),
 *             "sha256":"<64 hex>"(opt)}
 *         | {"kind":"xfer","xfer_id":N,"size":N,"sha256":"<64 hex>",
 *            "mode":"copy"|"stream","name":"a.mkv"(opt)},
 *    "data_endpoint":"tcp://coord:7401",
 *    "chunk_max":1048576,"credit_chunks":8,"stall_ms":6000,
 *    "profile":{...flat JOB.profile...},
 *    "work_dir":"/var/lib/distconv/work/<job>-<attempt>",
 *    "deadline_ms":0 (opt: wall-clock Unix ms, 0 = none),
 *    "placement":{"plugin":"nvenc","device_id":"GPU-..","codec":"hevc",
 *                 "encoder":"hevc_nvenc","hw":true,"fallback":false} (opt: JOB.placement:
 *                 encode on exactly this device, see docs/protocol.md)}
 *
 * The path is already the worker's local one (path map applied). The work
 * dir belongs to the job: it writes its input copy and output there and
 * removes the directory when it ends; the worker removes it again after
 * reaping, for a job that crashed.
 *
 * Job lines (stdout): the bodies of the protocol messages the worker will
 * forward (docs/protocol.md §3.5), fence included, with an "event" key
 * added, one per line: zero or more progress lines, at most one accept
 * (before encoding starts), then exactly one final line (done or fail)
 * before exiting:
 *   {"event":"accept",<fence>,"plugin":"x264","encoder":"libx264","device_id":"cpu"}
 *   {"event":"progress",<fence>,"phase":"fetch|encode|verify|upload","pct":42.5,...}
 *   {"event":"done",<fence>,"output":{"xfer_id":N,"size":N,"sha256":".."},...}
 *   {"event":"fail",<fence>,"code":"input","message":"...","retryable":false}
 * So the codec of core/proto.c validates both ends, and the worker checks
 * the fence against the job it spawned. Logs go to stderr (JSON log lines,
 * which the worker re-logs under the job's name).
 *
 * Pure data and JSON: no I/O.
 */
#ifndef DCV_WORKER_JOBSPEC_H
#define DCV_WORKER_JOBSPEC_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct dcv_jobspec {
    struct dcv_proto_fence fence;
    int input_kind;              /* DCV_INPUT_PATH, DCV_INPUT_XFER or DCV_INPUT_URL */
    char path[DCV_PROTO_PATH];   /* PATH: local path; URL: the URL */
    char protocols[256];         /* URL: FFmpeg protocol_whitelist */
    struct dcv_proto_blob blob;  /* XFER; PATH: size (-1 unknown) and sha256 ("" unknown)
                                    as the coordinator recorded them */
    /* PATH, optional: the file as the coordinator recorded it (JOB.input),
     * checked before anything is read (worker/inputcheck.h). */
    char coord_path[DCV_PROTO_PATH]; /* its path on the coordinator, for messages */
    int64_t mtime;                   /* seconds since the epoch; 0 unknown */
    int mode;                    /* XFER: DCV_FETCH_COPY or DCV_FETCH_STREAM */
    char name[DCV_PROTO_HOST * 2]; /* optional original file name */
    char data_endpoint[DCV_PROTO_HOST * 2];
    int64_t chunk_max;           /* 4096..64 MiB, multiple of 4096 */
    int64_t credit_chunks;       /* 1..4096 */
    int64_t stall_ms;            /* 100..6000000 */
    char profile[DCV_PROTO_PROFILE]; /* flat JSON object text */
    char work_dir[PATH_MAX];
    int64_t deadline_ms;         /* 0 = none */
    int has_placement;
    struct dcv_proto_placement placement;
};

/* *out is malloc'd (free()). -EINVAL with the field named in err. */
int dcv_jobspec_to_json(const struct dcv_jobspec *s, char **out, char *err, size_t errlen);
/* Parse and validate (the worker is trusted, but a hand-typed SPEC is not):
 * -EINVAL with "SPEC.field: ..." in err. */
int dcv_jobspec_from_json(const char *text, struct dcv_jobspec *out, char *err, size_t errlen);

/* ---- job lines ------------------------------------------------------------ */

enum dcv_jobline_kind {
    DCV_JOBLINE_ACCEPT = 0,
    DCV_JOBLINE_PROGRESS,
    DCV_JOBLINE_DONE,
    DCV_JOBLINE_FAIL,
};

/* One line; only the member of `kind` is used. */
struct dcv_jobline {
    int kind;
    struct dcv_proto_accept accept;     /* ACCEPT */
    struct dcv_proto_progress progress; /* PROGRESS */
    struct dcv_proto_done done;         /* DONE */
    struct dcv_proto_failure fail;      /* FAIL */
};

/* Render one line (no newline): *out malloc'd. -EINVAL when the proto codec
 * refuses the struct (err says why). */
int dcv_jobline_format(const struct dcv_jobline *l, char **out, char *err, size_t errlen);
/* -EINVAL with the reason in err for anything that is not a valid line. */
int dcv_jobline_parse(const char *line, size_t len, struct dcv_jobline *out, char *err,
                      size_t errlen);

/* Copy src into dst[cap] as a protocol text: control characters become
 * spaces, invalid UTF-8 bytes become '?', a cut never splits a character,
 * and an empty result becomes "-" (texts are 1..1023 bytes). cap >= 2. */
void dcv_text_sanitize(char *dst, size_t cap, const char *src);

/* DCV_PHASE_FETCH -> "fetch" ...; NULL when unknown. */
const char *dcv_phase_name(int phase);

#endif
