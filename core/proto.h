/*
 * The distconv wire protocol codec (docs/protocol.md is the normative spec):
 * frame sets `[signature][command][body...]` and the JSON bodies of every
 * control, data-plane and admin message. I/O-free: no sockets, no clock.
 *
 * Every *_from_json treats its input as hostile (size, depth, UTF-8, NUL,
 * types, required fields, lengths, ranges, enum values, control
 * characters, array bounds) and names the message and field in err, e.g.
 * "JOB.attempt: expected an integer 1..1000". Unknown keys are ignored (a
 * newer peer may send them). Every *_to_json re-validates what it produced
 * with the same rules, so we never send what we would refuse.
 *
 * Optional fields read as their "absent" value when missing (0 / -1 / ""
 * as documented per field) and are omitted when they hold it. Structs are
 * plain fixed-size data (nothing to free) except dcv_proto_reply.
 *
 * Returns 0 or a negative errno: -EPROTO for a bad frame set, -EINVAL for a
 * bad body (or a struct that cannot be sent), -ENOMEM.
 */
#ifndef DCV_PROTO_H
#define DCV_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "distconv/plugin.h"

#define DCV_PROTO_SIG_LEN 5
#define DCV_PROTO_SIG_CONTROL "DCVW1"
#define DCV_PROTO_SIG_DATA "DCVD1"
#define DCV_PROTO_SIG_ADMIN "DCVA1"

#define DCV_PROTO_MAX_BODY (256u * 1024u) /* JSON body bytes (admin replies: 1 MiB) */
#define DCV_PROTO_MAX_REPLY_BODY (1024u * 1024u - 4096u)
#define DCV_PROTO_MAX_DEPTH 16            /* JSON nesting */
#define DCV_PROTO_ID 64                   /* tokens: worker id, session, plugin, req id */
#define DCV_PROTO_HOST 128
#define DCV_PROTO_TEXT 1024               /* messages, reasons */
#define DCV_PROTO_PATH 4096
#define DCV_PROTO_PROFILE 4096            /* flat JSON object, serialised */
#define DCV_PROTO_JOB_ID 33               /* 32 lower-case hex + NUL */
#define DCV_PROTO_SHA 65                  /* 64 lower-case hex + NUL */
#define DCV_PROTO_KEY 129                 /* idempotency key, 1..128 bytes */
#define DCV_PROTO_MAX_PLUGINS 32
#define DCV_PROTO_MAX_DEVICES 16
#define DCV_PROTO_MAX_JOBS 64             /* running / active jobs per worker */
#define DCV_PROTO_MAX_PATHS 16            /* HELLO.paths */
#define DCV_PROTO_MAX_ATTEMPT 1000
#define DCV_PROTO_MAX_CORES 512           /* telemetry.cores entries */
#define DCV_PROTO_MAX_GPUS 16             /* telemetry.gpus entries */
#define DCV_PROTO_MAX_SIZE ((int64_t)1 << 53) /* sizes and xfer ids stay exact in any JSON reader */
/* REJECT/FAIL.log_tail: the last lines the job process logged */
#define DCV_PROTO_LOG_LINES 20            /* lines at most */
#define DCV_PROTO_LOG_LINE 512            /* bytes per line, NUL included */
#define DCV_PROTO_LOG_BYTES 4096          /* bytes of all lines together */

/* The data plane's binary records (docs/protocol.md §7), fixed by the wire
 * format; xfer/chunk.h encodes and decodes them. */
#define DCV_XFER_CHUNK_HDR_LEN 32
#define DCV_XFER_CREDIT_LEN 24
/* Upper bound for any chunk_max: chunks stay far below the message sizes
 * where transports misbehave, and a peer cannot make us expect huge ones. */
#define DCV_XFER_CHUNK_MAX_LIMIT (64u * 1024u * 1024u)

/* Job states as the admin plane spells them ("queued" .. "cancelled"), in
 * the order of the store's enum dcv_job_state (jobstate.c checks it). */
#define DCV_PROTO_STATE_COUNT 7

enum dcv_proto_plane { DCV_PLANE_CONTROL = 0, DCV_PLANE_DATA = 1, DCV_PLANE_ADMIN = 2 };

enum dcv_proto_cmd {
    /* control, DCVW1 */
    DCV_CMD_HELLO = 0x01,
    DCV_CMD_WELCOME = 0x02,
    DCV_CMD_HEARTBEAT = 0x03,
    DCV_CMD_JOB = 0x04,
    DCV_CMD_ACCEPT = 0x05,
    DCV_CMD_REJECT = 0x06,
    DCV_CMD_PROGRESS = 0x07,
    DCV_CMD_DONE = 0x08,
    DCV_CMD_FAIL = 0x09,
    DCV_CMD_CANCEL = 0x0A,
    DCV_CMD_DRAIN = 0x0B,
    DCV_CMD_DISCONNECT = 0x0F,
    /* data, DCVD1 */
    DCV_CMD_OFFER = 0x20,
    DCV_CMD_CREDIT = 0x21,
    DCV_CMD_CHUNK = 0x22,
    DCV_CMD_COMMIT = 0x23,
    DCV_CMD_FETCH = 0x24,
    DCV_CMD_ABORT = 0x2F,
    /* admin, DCVA1 */
    DCV_CMD_REQUEST = 0x40,
    DCV_CMD_PARTIAL = 0x41,
    DCV_CMD_FINAL = 0x42,
};

/* "HELLO", ... ; NULL when the command does not belong to the plane. */
const char *dcv_proto_cmd_name(enum dcv_proto_plane plane, int cmd);

/* ---- frames -------------------------------------------------------------- */

/* A received message, pointing into the caller's frames. */
struct dcv_proto_msg {
    enum dcv_proto_plane plane;
    int cmd;
    const void *body; /* JSON text, or the CHUNK header / CREDIT record */
    size_t body_len;
    const void *payload; /* CHUNK only */
    size_t payload_len;
};

/* Build the frame set of one message into out[4] (borrowing the buffers);
 * *n is set to 3, or 4 for CHUNK (payload may be empty only on a LAST
 * chunk, which the xfer codec judges). -EINVAL for a command foreign to the
 * plane or a missing body. */
int dcv_proto_frames(enum dcv_proto_plane plane, int cmd, const void *body, size_t body_len,
                     const void *payload, size_t payload_len, struct dcv_tx_frame out[4],
                     unsigned *n, char *err, size_t errlen);

/* Check an untrusted frame set: signature of the expected plane, a 1-byte
 * known command, exactly one body frame (two for CHUNK), non-empty, JSON
 * bodies within DCV_PROTO_MAX_BODY (FINAL/PARTIAL: MAX_REPLY_BODY). -EPROTO. */
int dcv_proto_parse(enum dcv_proto_plane plane, const struct dcv_tx_frame *frames, unsigned n,
                    struct dcv_proto_msg *out, char *err, size_t errlen);

/* ---- shared pieces ------------------------------------------------------- */

/* Typed failure codes of REJECT, FAIL and ABORT. */
enum dcv_proto_code {
    DCV_CODE_BUSY = 0,    /* hardware session limit / no slot: requeue, attempt not spent */
    DCV_CODE_NODEV,       /* device missing or lost */
    DCV_CODE_UNSUPPORTED, /* this worker cannot do the profile */
    DCV_CODE_INPUT,       /* input unreadable or not media */
    DCV_CODE_ENCODE,      /* encoder or muxer failed mid-way */
    DCV_CODE_IO,          /* local disk error */
    DCV_CODE_NOSPACE,     /* work dir full */
    DCV_CODE_TRANSFER,    /* data plane aborted or sha256 mismatch */
    DCV_CODE_VERIFY,      /* output failed verification */
    DCV_CODE_TIMEOUT,
    DCV_CODE_CANCELLED,
    DCV_CODE_STALE,       /* fenced: old attempt or session */
    DCV_CODE_PROTOCOL,    /* the peer broke the protocol */
    DCV_CODE_INTERNAL,
    DCV_CODE_COUNT
};
const char *dcv_proto_code_name(int code); /* "busy", ...; NULL when out of range */

/* (job, attempt, session): what fences every job message. */
struct dcv_proto_fence {
    char job_id[DCV_PROTO_JOB_ID];
    int64_t attempt; /* 1..DCV_PROTO_MAX_ATTEMPT */
    char session[DCV_PROTO_ID];
};

/* A job a worker holds, in HELLO.running and HEARTBEAT.jobs. */
struct dcv_proto_jobref {
    char job_id[DCV_PROTO_JOB_ID];
    int64_t attempt;
    double progress; /* 0..100 */
    /* Optional: the JOB's placement (plugin, caps device_id), so a restarted
     * coordinator counts a re-attached job against its GPU's sessions. */
    char plugin[DCV_PROTO_ID];
    char device_id[DCV_PROTO_HOST];
};

/* A file on the data plane. */
struct dcv_proto_blob {
    int64_t xfer_id; /* 1..2^53 */
    int64_t size;    /* 0..2^53 */
    char sha256[DCV_PROTO_SHA];
};

/* ---- control plane ------------------------------------------------------- */

struct dcv_proto_plugin {
    char name[DCV_PROTO_ID];
    char version[DCV_PROTO_ID];
    int64_t abi_minor; /* 0..65535 */
};

/* One startup-benchmark figure: frames per second of a short 1080p encode
 * of `codec` on the device (issue 5, "startup benchmark"). */
struct dcv_proto_bench {
    char codec[16]; /* portable codec name, one of the device's caps codecs */
    double fps;     /* 0..1e6 */
};

struct dcv_proto_device {
    char plugin[DCV_PROTO_ID];  /* family, e.g. "x264", "nvenc" */
    double bench_fps;           /* optional; -1 = unknown (the best of `bench`) */
    size_t n_bench;             /* optional per-codec figures */
    struct dcv_proto_bench bench[DCV_MAX_CODECS];
    struct dcv_device_caps caps; /* via caps_json */
};

/* A device's figures measured after HELLO (HEARTBEAT.bench): the device is
 * named as in HELLO.devices (plugin and caps device_id). */
struct dcv_proto_devbench {
    char plugin[DCV_PROTO_ID];
    char device_id[DCV_PROTO_HOST];
    double bench_fps;           /* -1 = not measured */
    size_t n_bench;
    struct dcv_proto_bench bench[DCV_MAX_CODECS];
};

/* About 35 KiB (16 device caps): allocate it, do not put it on a small stack. */
struct dcv_proto_hello {
    char worker_id[DCV_PROTO_ID];
    char session[DCV_PROTO_ID];
    int64_t proto_min, proto_max; /* 1..255, min <= max */
    char host[DCV_PROTO_HOST];     /* machine identity (boot id) */
    char hostname[DCV_PROTO_HOST]; /* optional, display */
    char version[DCV_PROTO_ID];    /* optional, software version */
    int64_t slots;                 /* 1..1024 */
    /* Optional (0 = slots): separate limits for jobs encoding on the CPU
     * and on a hardware encoder (worker.max_cpu_jobs / max_gpu_jobs); a
     * job needs a free slot of its class and of the total. */
    int64_t max_cpu_jobs, max_gpu_jobs; /* 0..1024 */
    size_t n_plugins;
    struct dcv_proto_plugin plugins[DCV_PROTO_MAX_PLUGINS];
    size_t n_devices;
    struct dcv_proto_device devices[DCV_PROTO_MAX_DEVICES];
    size_t n_running;
    struct dcv_proto_jobref running[DCV_PROTO_MAX_JOBS];
    /* Optional: coordinator-side path prefixes (absolute, no "..") this
     * worker can read directly (its path map; a standalone daemon's own
     * state dir), so JOB.input may be kind path for files under them. */
    size_t n_paths;
    char paths[DCV_PROTO_MAX_PATHS][DCV_PROTO_PATH];
    /* Optional: the startup benchmark is measuring now; the figures follow
     * in HEARTBEAT.bench (devices[].bench_fps meanwhile -1). */
    int benchmarking;
};

struct dcv_proto_welcome {
    char session[DCV_PROTO_ID]; /* echoes HELLO.session */
    char coordinator_epoch[DCV_PROTO_ID];
    int64_t proto;              /* chosen minor, 1..255 */
    int64_t hb_ivl_ms;          /* 100..60000 */
    int64_t liveness;           /* 1..100 */
    int64_t chunk_max;          /* 4096..64 MiB, multiple of 4096 */
    int64_t credit_chunks;      /* 1..4096 */
    char data_endpoint[DCV_PROTO_HOST * 2]; /* where the data ROUTER is */
};

/* Pressure stall information, % of wall time over the last 10 s. */
struct dcv_proto_psi {
    double cpu_some;            /* 0..100 */
    double mem_some, mem_full;  /* 0..100 */
    double io_some, io_full;    /* 0..100 */
};

/* One GPU as NVML reports it (optional fields: -1 = unknown). */
struct dcv_proto_gpu {
    char id[DCV_PROTO_HOST];     /* "GPU-<uuid>": the caps device_id of the NVENC device */
    char name[DCV_PROTO_HOST];   /* "NVIDIA GeForce RTX 4070" */
    char pci[32];                /* optional bus id "0000:01:00.0" */
    double util_pct;             /* SM utilisation 0..100 */
    double enc_pct, dec_pct;     /* encoder / decoder utilisation 0..100 */
    int64_t mem_total, mem_used; /* bytes */
    double temp_c;               /* -1..200 */
    double power_w;              /* 0..10000 */
    /* Encoder sessions open on this GPU by every process of the machine
     * (NVML nvmlDeviceGetEncoderSessions); the coordinator subtracts its own
     * jobs there to find the sessions other software holds. -1 = unknown. */
    int64_t enc_sessions;
};

struct dcv_proto_telemetry {
    double cpu_pct;       /* 0..100, whole machine */
    double load1;         /* 0..1e6 */
    int64_t ncpu;         /* 1..65536 */
    int64_t mem_total, mem_avail;   /* bytes; avail <= total */
    int64_t disk_total, disk_free;  /* bytes of the work dir; free <= total */
    int64_t slots_used;   /* 0..1024 */
    int busy;             /* admission control says no */
    int draining;
    size_t n_jobs;
    struct dcv_proto_jobref jobs[DCV_PROTO_MAX_JOBS];
    /* ---- optional (issue 5); absent = unknown (-1, or has_psi 0) ---- */
    char busy_reason[DCV_PROTO_TEXT]; /* why busy, "" when not */
    double load5, load15;             /* 0..1e6 */
    int64_t swap_total, swap_free;    /* bytes */
    size_t n_cores;                   /* per-core busy %, 0..100 each */
    double cores[DCV_PROTO_MAX_CORES];
    double net_rx_bps, net_tx_bps;    /* bytes/s, all interfaces but lo */
    int has_psi;                      /* /proc/pressure present */
    struct dcv_proto_psi psi;
    double temp_c;                    /* hottest CPU sensor */
    size_t n_gpus;
    struct dcv_proto_gpu gpus[DCV_PROTO_MAX_GPUS];
};

/* Worker -> coordinator carries telemetry; coordinator -> worker is `{}`. */
struct dcv_proto_heartbeat {
    int has_telemetry;
    struct dcv_proto_telemetry telemetry;
    /* Optional, worker -> coordinator: a benchmark begun after HELLO is
     * still measuring (benchmarking), or its figures (bench, one entry per
     * measured device; repeated in every heartbeat of the session). */
    int benchmarking;
    size_t n_bench;
    struct dcv_proto_devbench bench[DCV_PROTO_MAX_DEVICES];
};

enum dcv_proto_input_kind { DCV_INPUT_XFER = 0, DCV_INPUT_PATH = 1, DCV_INPUT_URL = 2 };
enum dcv_proto_fetch_mode { DCV_FETCH_COPY = 0, DCV_FETCH_STREAM = 1 };

struct dcv_proto_input {
    int kind;                 /* enum dcv_proto_input_kind */
    struct dcv_proto_blob blob; /* XFER: required */
    int mode;                 /* XFER: enum dcv_proto_fetch_mode, default copy */
    char path[DCV_PROTO_PATH]; /* PATH: absolute, coordinator's view */
    char url[DCV_PROTO_PATH];  /* URL: what the job process opens itself */
    char protocols[256];       /* URL: FFmpeg protocol_whitelist, "https,tls,tcp" */
    char name[DCV_PROTO_HOST * 2]; /* optional original file name (no '/') */
    /* PATH, optional: the file as the coordinator recorded it at submit
     * (blob.size, this, blob.sha256 when it has one), so the job process
     * can tell a stale or different mount from the file submitted. Seconds
     * since the epoch; 0 = not sent. */
    int64_t mtime;
};

/* Where the coordinator counted the job (issue 5): the job process must
 * encode on exactly this device, or REJECT (busy when the device refused a
 * session). Optional: without it the job process chooses from the profile. */
struct dcv_proto_placement {
    char plugin[DCV_PROTO_ID];       /* "nvenc" */
    char device_id[DCV_PROTO_HOST];  /* caps.device_id, e.g. "GPU-<uuid>" */
    char codec[16];                  /* caps codec, "hevc" */
    char encoder[DCV_PROTO_ID];      /* caps encoder, "hevc_nvenc" */
    int hw;                          /* counts as a GPU job on the worker */
    int fallback;                    /* software because no GPU session was free */
};

struct dcv_proto_job {
    struct dcv_proto_fence fence;
    struct dcv_proto_input input;
    char profile[DCV_PROTO_PROFILE]; /* flat JSON object: option -> scalar */
    int64_t deadline_ms;             /* optional, wall-clock ms; 0 = none */
    int has_placement;
    struct dcv_proto_placement placement;
};

struct dcv_proto_accept {
    struct dcv_proto_fence fence;
    char plugin[DCV_PROTO_ID];
    char encoder[DCV_PROTO_ID];
    char device_id[DCV_PROTO_HOST];
};

/* REJECT and FAIL share a body. */
/* With code busy, what was full: the worker's own capacity (a slot of the
 * job's class, draining, admission) or the device that refused a session. */
enum dcv_proto_busy { DCV_BUSY_NONE = 0, DCV_BUSY_SLOT, DCV_BUSY_DEVICE };

struct dcv_proto_failure {
    struct dcv_proto_fence fence;
    int code; /* enum dcv_proto_code */
    char message[DCV_PROTO_TEXT];
    int retryable;
    int busy; /* enum dcv_proto_busy; optional, none when absent */
    /* Optional: the last lines the job process logged, oldest first
     * (printable UTF-8, 1..DCV_PROTO_LOG_LINE-1 bytes each, at most
     * DCV_PROTO_LOG_BYTES in all), so the coordinator keeps them with the
     * attempt. */
    size_t n_log_tail;
    char log_tail[DCV_PROTO_LOG_LINES][DCV_PROTO_LOG_LINE];
};

enum dcv_proto_phase { DCV_PHASE_FETCH = 0, DCV_PHASE_ENCODE, DCV_PHASE_UPLOAD, DCV_PHASE_VERIFY };

struct dcv_proto_progress {
    struct dcv_proto_fence fence;
    int phase;      /* enum dcv_proto_phase */
    double pct;     /* 0..100 */
    int64_t frames; /* optional, -1 */
    double fps;     /* optional, -1 */
    int64_t frames_total; /* optional, -1: video frames the output will hold */
    double speed;         /* optional, -1: media seconds encoded per wall second */
};

/* What a finished attempt produced: an encoded output, or (library rules,
 * the profile's skip-if-target-met / keep-original-if-larger) nothing,
 * because the source is to be kept as it is. */
enum dcv_proto_outcome {
    DCV_OUTCOME_ENCODED = 0, /* "encoded": output required */
    DCV_OUTCOME_SKIPPED,     /* "skipped": the source already meets the target; no output */
    DCV_OUTCOME_KEPT,        /* "kept-original": the output was not smaller; no output */
    DCV_OUTCOME_COUNT
};
const char *dcv_proto_outcome_name(int outcome); /* NULL when out of range */

struct dcv_proto_done {
    struct dcv_proto_fence fence;
    int has_output;     /* output present: required for "encoded", refused otherwise */
    struct dcv_proto_blob output;
    int64_t frames;     /* optional, -1 */
    int64_t elapsed_ms; /* optional, -1 */
    int outcome;        /* enum dcv_proto_outcome, optional ("encoded") */
    char note[DCV_PROTO_TEXT]; /* optional: the human reason of the outcome */
};

struct dcv_proto_cancel {
    struct dcv_proto_fence fence;
    char reason[DCV_PROTO_TEXT]; /* optional */
};

struct dcv_proto_drain {
    int draining; /* 1 drain, 0 undrain */
};

struct dcv_proto_disconnect {
    char reason[DCV_PROTO_TEXT];
};

/* ---- data plane (JSON bodies; CHUNK/CREDIT are core/xfer/chunk.h) -------- */

enum dcv_proto_purpose {
    DCV_PURPOSE_UPLOAD = 0, /* CLI -> coordinator */
    DCV_PURPOSE_INPUT,      /* coordinator -> worker */
    DCV_PURPOSE_OUTPUT,     /* worker -> coordinator */
    DCV_PURPOSE_DOWNLOAD,   /* coordinator -> CLI */
};

/* OFFER (sender -> receiver) and FETCH (receiver -> sender) share a body.
 * Worker transfers carry the fence; CLI transfers do not (fence.job_id ""). */
struct dcv_proto_xfer_open {
    int purpose;
    struct dcv_proto_blob blob; /* FETCH: size and sha256 optional (0 / "") */
    int64_t chunk_max;          /* OFFER: required; FETCH: optional (0) */
    struct dcv_proto_fence fence;
    int range;                  /* FETCH only, optional: random-access read (streamed
                                   input): credits may point anywhere, no COMMIT */
};

struct dcv_proto_commit {
    int64_t xfer_id;
    int ok;
    int64_t size;
    char sha256[DCV_PROTO_SHA];
};

struct dcv_proto_abort {
    int64_t xfer_id;
    int code;
    char message[DCV_PROTO_TEXT];
};

/* ---- admin plane --------------------------------------------------------- */

enum dcv_proto_verb {
    DCV_VERB_SUBMIT = 0, DCV_VERB_STATUS, DCV_VERB_JOBS, DCV_VERB_CANCEL, DCV_VERB_RETRY,
    DCV_VERB_GET, DCV_VERB_WORKERS, DCV_VERB_WORKER, DCV_VERB_DRAIN, DCV_VERB_UNDRAIN,
    DCV_VERB_INFO, /* -> {data_endpoint, version, coordinator_epoch}: where to upload */
    DCV_VERB_RM,    /* remove an ended job and its blobs (operator) */
    DCV_VERB_PURGE, /* remove the jobs that ended before before_ms (operator) */
    DCV_VERB_TOKEN_CREATE, /* an HTTP API token: name, role -> its secret, once */
    DCV_VERB_TOKEN_LIST,   /* the tokens, without their secrets */
    DCV_VERB_TOKEN_REVOKE, /* name: the token and its sessions end now */
    DCV_VERB_COUNT
};
const char *dcv_proto_verb_name(int verb);

enum dcv_proto_submit_input { DCV_SUBMIT_UPLOAD = 0, DCV_SUBMIT_PATH, DCV_SUBMIT_URL };

/* Union of every verb's arguments; which are required depends on the verb. */
struct dcv_proto_args {
    char job_id[DCV_PROTO_JOB_ID];
    char worker_id[DCV_PROTO_ID];
    int state;      /* jobs: enum dcv_job_state, -1 = all */
    int64_t limit;  /* jobs: 1..10000, 0 = default */
    int64_t offset; /* jobs: 0..2^31 */
    /* submit */
    char profile[DCV_PROTO_PROFILE];
    int has_input;  /* the "input" object was given */
    int input_kind; /* enum dcv_proto_submit_input */
    struct dcv_proto_blob blob;     /* UPLOAD */
    char path[DCV_PROTO_PATH];      /* PATH (absolute) or URL */
    char name[DCV_PROTO_HOST * 2];  /* optional */
    int prio_class;                 /* 0 low, 1 normal (default), 2 high */
    int64_t priority;               /* -1000..1000 */
    int64_t max_attempts;           /* 1..100, 0 = default */
    int what;                       /* get: 0 "output" (default), 1 "input" */
    int64_t before_ms;              /* purge: jobs that ended before this (Unix ms) */
    int dry_run;                    /* purge: only list what would go */
    char token_name[64];            /* token_create, token_revoke: 1..63 of [A-Za-z0-9._-] */
    int role;                       /* token_create: enum dcv_proto_role */
};

/* token_create's role: viewer, submitter, operator (docs/api.md). */
enum dcv_proto_role { DCV_ROLE_VIEWER = 0, DCV_ROLE_SUBMITTER, DCV_ROLE_OPERATOR, DCV_ROLE_COUNT };
const char *dcv_proto_role_name(int role); /* NULL when out of range */

struct dcv_proto_request {
    char req_id[DCV_PROTO_ID];
    int verb;
    char idempotency_key[DCV_PROTO_KEY]; /* optional */
    struct dcv_proto_args args;
};

/* PARTIAL and FINAL. status: 200 202 400 403 404 500. body is a JSON
 * object text, owned (malloc); free with dcv_proto_reply_clear(). */
struct dcv_proto_reply {
    char req_id[DCV_PROTO_ID];
    int status;
    char error[DCV_PROTO_TEXT]; /* required when status >= 400 */
    char *body;                 /* NULL = {} */
};
void dcv_proto_reply_clear(struct dcv_proto_reply *r);

/* ---- the codec functions ------------------------------------------------- */
/* to_json: *out is a malloc'd NUL-terminated JSON text (free()), *len its
 * length. from_json: untrusted bytes (not NUL-terminated) into *out. */
/* One entry by command: msg/out is the command's struct (struct
 * dcv_proto_reply for PARTIAL and FINAL, struct dcv_proto_failure for
 * REJECT and FAIL, struct dcv_proto_xfer_open for OFFER and FETCH), the
 * same as the typed functions below. -EINVAL for a command without a JSON
 * body on the plane (CREDIT, CHUNK, foreign commands). */
int dcv_proto_encode(enum dcv_proto_plane plane, int cmd, const void *msg, char **out, size_t *len,
                     char *err, size_t errlen);
int dcv_proto_decode(enum dcv_proto_plane plane, int cmd, const void *body, size_t len, void *out,
                     char *err, size_t errlen);

#define DCV_PROTO_DECL(x, type)                                                          \
    int dcv_proto_##x##_to_json(const struct type *m, char **out, size_t *len, char *err, \
                                size_t errlen);                                          \
    int dcv_proto_##x##_from_json(const void *body, size_t len, struct type *out,        \
                                  char *err, size_t errlen);

DCV_PROTO_DECL(hello, dcv_proto_hello)
DCV_PROTO_DECL(welcome, dcv_proto_welcome)
DCV_PROTO_DECL(heartbeat, dcv_proto_heartbeat)
DCV_PROTO_DECL(job, dcv_proto_job)
DCV_PROTO_DECL(accept, dcv_proto_accept)
DCV_PROTO_DECL(reject, dcv_proto_failure)
DCV_PROTO_DECL(progress, dcv_proto_progress)
DCV_PROTO_DECL(done, dcv_proto_done)
DCV_PROTO_DECL(fail, dcv_proto_failure)
DCV_PROTO_DECL(cancel, dcv_proto_cancel)
DCV_PROTO_DECL(drain, dcv_proto_drain)
DCV_PROTO_DECL(disconnect, dcv_proto_disconnect)
DCV_PROTO_DECL(offer, dcv_proto_xfer_open)
DCV_PROTO_DECL(fetch, dcv_proto_xfer_open)
DCV_PROTO_DECL(commit, dcv_proto_commit)
DCV_PROTO_DECL(abort, dcv_proto_abort)
DCV_PROTO_DECL(request, dcv_proto_request)
DCV_PROTO_DECL(partial, dcv_proto_reply)
DCV_PROTO_DECL(final, dcv_proto_reply)

#endif
