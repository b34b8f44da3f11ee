/*
 * distconv plugin ABI, version 1.
 *
 * This is the one public header of distconv: encoder and transport plugins
 * are built against it, in tree or out of tree (pkg-config distconv-plugin).
 * docs/plugin-abi.md is the prose version of this file; keep them in step.
 *
 * Rules that keep the ABI stable (learned from OBS, LV2, SPA, GStreamer, Varnish):
 *   - A plugin exports exactly one symbol, dcv_plugin_query_v1(). The ABI major
 *     is part of its name, so a future v2 host finds nothing in a v1 plugin and
 *     says so instead of misreading it.
 *   - Every struct that crosses the boundary starts with a size (or, for the
 *     header, magic + versions + size). Fields are only ever appended within
 *     a major; a host copies min(struct_size, sizeof) into a zeroed struct, so
 *     fields an older plugin does not know read as zero.
 *   - Host services are passed in (struct dcv_host_api); a plugin never calls
 *     symbols of the daemon, so the daemon exports none.
 *   - No libconfig, json-c or zmq types appear here: their sonames may change
 *     without breaking plugins. FFmpeg types (AVFrame, AVPacket) do appear,
 *     which is why the header records the FFmpeg majors a plugin was built
 *     against and the host refuses a mismatch.
 *   - Functions return 0 (or a documented positive value) on success and a
 *     negative errno on failure:
 *       -EAGAIN   feed more input / drain output first (FFmpeg send/receive)
 *       -ENODATA  end of stream: the encoder is fully drained
 *       -EBUSY    hardware session limit reached: schedule elsewhere, this is
 *                 not the job's fault and must not cost it an attempt
 *       -ENODEV   device missing or lost
 *       -ENOTSUP  parameters this encoder cannot do (codec, bit depth, size)
 *       -EINVAL   parameters that are wrong in themselves
 *       -ENOMEM   allocation failed
 *     The human-readable reason goes to last_error() / the caller's buffer.
 *
 * Threading classes (the host guarantees these; plugins may rely on them):
 *   Discovery   dcv_plugin_query_v1, init, fini, probe: never concurrent with
 *               any other call into the same plugin. Called from one thread.
 *   Session     open, close, reconfigure: serialised per plugin (the host
 *   control     holds a per-plugin lock). A plugin whose device caps carry
 *               DCV_CAP_NOT_THREADSAFE_OPEN is additionally never opened
 *               concurrently with data calls of its other sessions.
 *   Data        send_frame, receive_packet, get_stream_params, last_error:
 *               serialised per session; different sessions may run at the
 *               same time on different threads.
 *   Transport   every op of struct dcv_transport_ops, and init/fini of a
 *               transport plugin: one host I/O thread (see "Transport ops"),
 *               except curve_keypair/curve_public (any thread). The host's
 *               dcv_tx_config.authorize callback is called from a plugin
 *               thread, concurrently with the host (1.1).
 *   Host API functions may be called from any thread at any time between
 *   init() and the return of fini().
 *   Plugins may create threads but must join them in close()/fini(). They
 *   must not install signal handlers, call exit()/abort(), change the locale
 *   or replace FFmpeg's process-wide log callback.
 *
 * Lifetime: the host dlopen()s a plugin with RTLD_NOW|RTLD_LOCAL and never
 * dlclose()s it while a session exists (in practice: not before exit).
 */
#ifndef DISTCONV_PLUGIN_H
#define DISTCONV_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* AVFrame / AVPacket / AVCodecParameters cross the boundary by pointer only;
 * plugins that use them include libavcodec themselves. */
struct AVFrame;
struct AVPacket;
struct AVCodecParameters;
struct AVBufferRef;

#define DCV_PLUGIN_MAGIC 0x44435650u /* "DCVP" */
#define DCV_ABI_MAJOR 1
#define DCV_ABI_MINOR 2 /* 1.1: transport security (mechanism, keys, ZAP authorize, user ids);
                        * 1.2: hardware device string, hw device/frames in params (zero copy) */

#if defined(__GNUC__)
#define DCV_EXPORT __attribute__((visibility("default")))
#define DCV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DCV_EXPORT
#define DCV_PRINTF(f, a)
#endif

/* True when an ops/caps struct of the given size contains the named member:
 * use it for every optional or later-added field. */
#define DCV_HAS_FIELD(ptr, type, field)                                        \
    ((ptr) != NULL &&                                                          \
     (ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------ */
/* Host services                                                             */
/* ------------------------------------------------------------------------ */

enum dcv_log_level {
    DCV_LOG_ERROR = 0,
    DCV_LOG_WARN = 1,
    DCV_LOG_INFO = 2,
    DCV_LOG_DEBUG = 3,
    DCV_LOG_TRACE = 4,
};

/* Opaque: the plugin's own libconfig subtree, `plugins.<name> { ... }` in
 * distconvd.conf. Lookups use libconfig paths relative to it ("max_sessions",
 * "x264.tune"). A plugin without a subtree gets a handle on which every
 * lookup returns -ENOENT. */
struct dcv_config;

struct dcv_host_api {
    uint32_t struct_size; /* sizeof(struct dcv_host_api) of the host */
    uint32_t abi_minor;   /* the host's DCV_ABI_MINOR */
    void *host_ctx;       /* pass back as the first argument of log/vlog */

    /* Log one line (no trailing newline needed), attributed to this plugin. */
    void (*log)(void *host_ctx, int level, const char *fmt, ...) DCV_PRINTF(3, 4);

    /* Config lookups on the plugin's subtree. Return 0, -ENOENT when the key
     * is absent, -EINVAL when it has another type. Strings stay valid until
     * fini() returns. */
    int (*cfg_get_int)(const struct dcv_config *cfg, const char *path, int64_t *out);
    int (*cfg_get_str)(const struct dcv_config *cfg, const char *path, const char **out);
    int (*cfg_get_bool)(const struct dcv_config *cfg, const char *path, int *out);
    int (*cfg_get_double)(const struct dcv_config *cfg, const char *path, double *out);

    /* CLOCK_MONOTONIC in nanoseconds. */
    uint64_t (*now_ns)(void);

    void *reserved[8];
};

/* ------------------------------------------------------------------------ */
/* Plugin header: what dcv_plugin_query_v1() returns                          */
/* ------------------------------------------------------------------------ */

enum dcv_plugin_kind {
    DCV_PLUGIN_ENCODER = 1,
    DCV_PLUGIN_TRANSPORT = 2,
};

struct dcv_plugin_header {
    /* These four must stay first and never change meaning. */
    uint32_t magic;       /* DCV_PLUGIN_MAGIC */
    uint32_t abi_major;   /* DCV_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;   /* DCV_ABI_MINOR the plugin was built with */
    uint32_t struct_size; /* sizeof(struct dcv_plugin_header) at build time */

    uint32_t kind;          /* enum dcv_plugin_kind */
    uint32_t avcodec_major; /* LIBAVCODEC_VERSION_MAJOR, 0 if FFmpeg unused */
    uint32_t avutil_major;  /* LIBAVUTIL_VERSION_MAJOR, 0 if FFmpeg unused */
    uint32_t flags;         /* none defined in 1.0; must be 0 */

    const char *name;        /* unique, [a-z0-9-]+, e.g. "x264" (not a path) */
    const char *version;     /* the plugin's own version, free form */
    const char *license;     /* SPDX identifier, e.g. "GPL-2.0-or-later" */
    const char *description; /* one line for --probe */

    /* Called once after the host accepted the header. On success stores the
     * plugin context in *pctx. A plugin whose hardware is absent still
     * succeeds here and reports the reason from probe(). */
    int (*init)(const struct dcv_host_api *host, const struct dcv_config *cfg,
                void **pctx, char *err, size_t errlen);
    void (*fini)(void *pctx);

    /* const struct dcv_encoder_ops * or const struct dcv_transport_ops * */
    const void *ops;

    void *reserved[4];
};

typedef const struct dcv_plugin_header *(*dcv_plugin_query_fn)(void);
#define DCV_PLUGIN_QUERY_SYMBOL "dcv_plugin_query_v1"

/* Every plugin defines this; it must be pure (no allocation, I/O, threads). */
DCV_EXPORT const struct dcv_plugin_header *dcv_plugin_query_v1(void);

/* ------------------------------------------------------------------------ */
/* Encoder capabilities                                                       */
/* ------------------------------------------------------------------------ */

enum dcv_hw_type {
    DCV_HW_NONE = 0, /* software */
    DCV_HW_CUDA = 1,
    DCV_HW_VAAPI = 2,
    DCV_HW_QSV = 3,
    DCV_HW_VIDEOTOOLBOX = 4,
    DCV_HW_OTHER = 5,
};

/* dcv_device_caps.flags */
#define DCV_CAP_AVAILABLE (1u << 0)           /* usable now; else see unavailable_reason */
#define DCV_CAP_HARDWARE (1u << 1)            /* a fixed-function encoder block */
#define DCV_CAP_TEN_BIT (1u << 2)             /* at least one codec encodes 10-bit */
#define DCV_CAP_DYN_BITRATE (1u << 3)         /* reconfigure() can change bitrate */
#define DCV_CAP_NOT_THREADSAFE_OPEN (1u << 4) /* see threading classes */

enum dcv_session_scope {
    DCV_SCOPE_UNLIMITED = 0,  /* no session limit (software) */
    DCV_SCOPE_PER_DEVICE = 1, /* max_sessions counts per physical device */
    DCV_SCOPE_PER_HOST = 2,   /* counts across every device of the host (GeForce NVENC) */
};

enum dcv_limit_source {
    DCV_LIMIT_NONE = 0,
    DCV_LIMIT_PROBED = 1, /* measured on this device */
    DCV_LIMIT_VENDOR = 2, /* vendor documentation / driver table */
    DCV_LIMIT_CONFIG = 3, /* operator override plugins.<name>.max_sessions */
};

#define DCV_MAX_PIX_FMTS 12
#define DCV_MAX_CODECS 8

struct dcv_codec_caps {
    char codec[16];   /* portable codec name: "h264", "hevc", "av1", "vp9" */
    char encoder[32]; /* libavcodec encoder behind it: "libx264", "h264_nvenc" */
    char profiles[64];/* comma separated, e.g. "baseline,main,high,high10" */
    uint32_t max_width, max_height; /* 0 = unknown */
    uint32_t bit_depths;            /* bit mask: (1u << 8) | (1u << 10) */
    /* Software input formats accepted by send_frame(), as AVPixelFormat
     * values, best first, terminated by -1 (AV_PIX_FMT_NONE) unless full. */
    int32_t pix_fmts[DCV_MAX_PIX_FMTS];
    uint32_t flags; /* reserved, 0 */
};

/* One device of an encoder plugin, filled by probe(). The host zeroes the
 * struct and sets struct_size to its own sizeof before the call; a plugin
 * writes only the fields it knows (it was built against a minor <= the
 * host's, so its view of the struct is a prefix of the host's). */
struct dcv_device_caps {
    uint32_t struct_size;
    uint32_t flags;   /* DCV_CAP_* */
    int32_t hw_type;  /* enum dcv_hw_type */
    /* Physical identity used to count sessions across workers sharing a GPU:
     * "cpu", "/dev/dri/renderD128", "GPU-<uuid>", "pci:0000:01:00.0". */
    char device_id[128];
    char device_name[128]; /* human readable: "Intel UHD 630", "x264 (CPU)" */
    uint32_t max_sessions; /* 0 = unlimited/unknown, see scope */
    uint32_t max_sessions_scope;  /* enum dcv_session_scope */
    uint32_t max_sessions_source; /* enum dcv_limit_source */
    uint32_t n_codecs;
    struct dcv_codec_caps codecs[DCV_MAX_CODECS];
    /* Set whenever DCV_CAP_AVAILABLE is not: what a user can act on,
     * e.g. "no /dev/dri/renderD* device", "h264_nvenc missing from this
     * FFmpeg build", "no permission on /dev/dri/renderD128". */
    char unavailable_reason[256];
    void *reserved[8];

    /* ---- ABI 1.2 (check with DCV_HAS_FIELD) ----
     * The device string FFmpeg's av_hwdevice_ctx_create() takes for this
     * device with the AVHWDeviceType of hw_type: "/dev/dri/renderD128"
     * (VA-API, QSV: its VA-API child), the CUDA ordinal "0", "" for
     * VideoToolbox and software. A host that decodes on this device for
     * zero copy opens it with this string and passes it in
     * dcv_enc_params.hw_device. "" = no zero copy offered. */
    char hw_device[128];
};

/* ------------------------------------------------------------------------ */
/* Portable encode parameters                                                 */
/* ------------------------------------------------------------------------ */

enum dcv_rc_mode {
    DCV_RC_DEFAULT = 0, /* the encoder's own default quality mode */
    DCV_RC_CRF = 1,     /* constant quality: quality = crf / cq value */
    DCV_RC_CQP = 2,     /* constant QP: quality = qp */
    DCV_RC_VBR = 3,     /* average bitrate: bitrate_kbps (+ maxrate/bufsize) */
    DCV_RC_CBR = 4,     /* constant bitrate: bitrate_kbps */
};

/* The speed scale shared by every plugin: 1 = fastest ... 7 = slowest and
 * best compression (the same direction as NVENC p1..p7). 0 = default (4).
 * docs/plugin-abi.md has the per-encoder table. */
#define DCV_PRESET_DEFAULT 4
#define DCV_PRESET_MIN 1
#define DCV_PRESET_MAX 7

/* dcv_enc_params.flags */
#define DCV_ENC_GLOBAL_HEADER (1u << 0) /* container wants extradata (mp4, mkv) */
#define DCV_ENC_LOW_LATENCY (1u << 1)   /* live: no lookahead / B-frame delay */

struct dcv_rational {
    int32_t num, den;
};

struct dcv_enc_params {
    uint32_t struct_size;
    uint32_t device_index; /* which probe() entry to open */
    char codec[16];        /* "h264", "hevc", ... */
    char encoder[32];      /* exact libavcodec encoder or "" for the plugin's choice */

    /* The frames send_frame() will receive. pix_fmt is one of the codec's
     * caps pix_fmts, chosen by the host. */
    int32_t width, height;
    int32_t pix_fmt; /* AVPixelFormat */
    struct dcv_rational time_base;          /* of frame->pts */
    struct dcv_rational framerate;          /* nominal; {0,1} if unknown (VFR) */
    struct dcv_rational sample_aspect_ratio;
    int32_t color_range, color_primaries, color_trc, colorspace, chroma_location;

    /* Rate control. */
    uint32_t rc_mode;   /* enum dcv_rc_mode */
    double quality;     /* crf / cq / qp, on the encoder's own scale */
    uint32_t bitrate_kbps, maxrate_kbps, bufsize_kbits;

    uint32_t preset;    /* 1..7, 0 = DCV_PRESET_DEFAULT */
    uint32_t bit_depth; /* 8 or 10 (matches pix_fmt) */
    int32_t gop;        /* max keyframe interval in frames; 0 = encoder default */
    int32_t max_b_frames; /* -1 = encoder default */
    uint32_t threads;   /* 0 = auto */
    uint32_t flags;     /* DCV_ENC_* */
    char profile[16];   /* "" = encoder default */
    /* Encoder private options, "key=value:key=value", applied last with
     * av_opt_set on the codec context's priv_data. "" = none. */
    char extra_opts[256];

    void *reserved[8];

    /* ---- ABI 1.2 (a plugin reads them only when DCV_HAS_FIELD says the
     * host's struct has them; a 1.1 host's read as NULL / 0) ----
     * Zero copy. Both references are borrowed for the duration of open();
     * a plugin that keeps them takes its own av_buffer_ref().
     *   hw_device  a device the host opened (av_hwdevice_ctx_create with
     *              caps.hw_device of device_index and the AVHWDeviceType of
     *              caps.hw_type) for decoding. The plugin uses it instead of
     *              its own device when it is of the plugin's type. NULL: none.
     *   hw_frames  set only together with hw_device: the frames context of
     *              the decoder's output on that device. pix_fmt is then its
     *              hardware format (AV_PIX_FMT_CUDA, _VAAPI, ...) and
     *              sw_pix_fmt its sw_format, one of the codec's caps
     *              pix_fmts. send_frame() then takes hardware frames of that
     *              device (passed to the encoder without a copy) and, after
     *              a mid-stream change, software frames of sw_pix_fmt (which
     *              the plugin uploads). NULL: software frames of pix_fmt,
     *              uploaded by the plugin where its encoder needs it.
     *   sw_pix_fmt AVPixelFormat of the frames' content when hw_frames is
     *              set; -1 or ignored otherwise. */
    struct AVBufferRef *hw_device;
    struct AVBufferRef *hw_frames;
    int32_t sw_pix_fmt;
};

/* ------------------------------------------------------------------------ */
/* Encoder ops                                                                */
/* ------------------------------------------------------------------------ */

struct dcv_encoder_ops {
    uint32_t struct_size;

    /* Fill *out for device `index`. Returns 1 when an entry was written,
     * 0 when index is past the last device, negative errno on failure.
     * A plugin whose hardware is absent returns one entry without
     * DCV_CAP_AVAILABLE and with unavailable_reason set. May be slow (it may
     * open the device); the host runs it in a child process. */
    int (*probe)(void *pctx, uint32_t index, struct dcv_device_caps *out);

    /* Open an encode session. -EBUSY when the hardware refuses another
     * session. On failure *session is untouched and err holds the reason. */
    int (*open)(void *pctx, const struct dcv_enc_params *p, void **session,
                char *err, size_t errlen);

    /* Codec parameters for the muxer (codec id, size, extradata, ...) and
     * the time base of packets from receive_packet(). Valid after open(). */
    int (*get_stream_params)(void *session, struct AVCodecParameters *par,
                             struct dcv_rational *time_base);

    /* FFmpeg's send/receive model. frame == NULL starts draining. The frame
     * is not owned by the plugin (it references what it needs). */
    int (*send_frame)(void *session, const struct AVFrame *frame);
    /* 0 with a packet, -EAGAIN when more input is needed, -ENODATA when
     * drained. The packet is unreferenced by the caller. */
    int (*receive_packet)(void *session, struct AVPacket *pkt);

    void (*close)(void *session);

    /* Reason for the last failure of this session (never NULL). */
    const char *(*last_error)(void *session);

    /* Optional (NULL): change rate control mid-stream (DCV_CAP_DYN_BITRATE). */
    int (*reconfigure)(void *session, const struct dcv_enc_params *p);

    void *reserved[6];
};

/* ------------------------------------------------------------------------ */
/* Transport ops (transport-zmq)                                              */
/* ------------------------------------------------------------------------ */
/*
 * A message transport with a broker shape: the coordinator binds a ROUTER,
 * workers and the CLI connect DEALERs. Messages are whole multipart
 * messages (up to DCV_TX_MAX_FRAMES frames), delivered whole or not at all.
 *
 * Threading: transports are not thread-safe. Every call on one transport
 * (open through close), and init/fini of the plugin, happens on one host
 * I/O thread; different transports of one plugin instance must also stay on
 * that thread (they share the plugin's context). The host drives them from
 * a poll() loop:
 *
 *   get_fd(tx, &fd) once; then loop:
 *     events(tx, &r, &w);            ALWAYS before sleeping, see below
 *     if (r) { while (recv(...) != -EAGAIN) handle; continue; }
 *     poll(fd, POLLIN, timeout);     POLLIN only, whatever you wait for
 *
 * The fd is edge-triggered and only says "the state may have changed": it
 * is not readable per message and never reports writability itself. Each
 * send/recv/events may consume the edge, so after any of them the host
 * must call events() again before blocking in poll(), or it can sleep with
 * messages pending. events() never blocks.
 *
 * Sends never block and never drop silently: -EAGAIN (high-water mark
 * reached, or a DEALER with no live connection: retry later), -EHOSTUNREACH
 * (a ROUTER peer id that is unknown or gone), -EMSGSIZE (over the limits).
 * Received messages over the limits are discarded whole: recv() returns
 * -EPROTO once per discarded message and counts it in stats().
 */

enum dcv_tx_role {
    DCV_TX_BIND_ROUTER = 1,    /* binds; addresses peers by their routing id */
    DCV_TX_CONNECT_DEALER = 2, /* connects to one ROUTER; no peer id */
};

#define DCV_TX_MAX_FRAMES 16        /* frames per message, after the envelope */
#define DCV_TX_MAX_PEER_ID 255      /* bytes of an opaque peer id */
#define DCV_TX_DEFAULT_MAX_MSG (1u << 20)

enum dcv_tx_mech {
    DCV_TX_MECH_NONE = 0,
    DCV_TX_MECH_CURVE = 1,
    DCV_TX_MECH_PLAIN = 2,
};

#define DCV_TX_KEY_LEN 40     /* a Z85-encoded CURVE key, without the NUL */
#define DCV_TX_MAX_USER_ID 127 /* bytes of an authenticated user id */

/* What the plugin asks the host's authorize() about one connection (ABI
 * 1.1). Strings are NUL-terminated and valid for the call only. */
struct dcv_tx_auth_req {
    uint32_t struct_size;
    const char *domain;    /* the socket's auth_domain */
    const char *mechanism; /* "NULL", "PLAIN" or "CURVE" */
    const char *address;   /* the peer: "127.0.0.1" (tcp), "localhost:UID:GID:PID" (ipc) */
    const char *curve_key; /* CURVE: the client's public key in Z85, else NULL */
    const char *username;  /* PLAIN, else NULL */
    const char *password;  /* PLAIN, else NULL */
    /* ipc: the peer process's credentials (SO_PEERCRED); -1 when unknown. */
    int64_t uid, gid, pid;
};

/* Host -> plugin: read fields only if DCV_HAS_FIELD says they exist. Zero
 * means "the default" for every numeric field. */
struct dcv_tx_config {
    uint32_t struct_size;
    uint32_t role;          /* enum dcv_tx_role */
    /* "tcp://127.0.0.1:7400", "tcp://127.0.0.1:*" (ephemeral port: read it
     * back with endpoint()), "tcp://[::1]:7400", "ipc:///run/x/admin.sock". */
    const char *endpoint;
    /* Largest message accepted, all frames together; 0 = 1 MiB. Applies to
     * both directions; a single frame above it makes the peer's connection
     * drop (libzmq ZMQ_MAXMSGSIZE). */
    uint64_t max_msg_size;
    int32_t sndhwm, rcvhwm; /* queued messages per peer; 0 = 1000 */
    /* ZMTP PING/PONG: closes dead connections (the application is not told;
     * keep application heartbeats). 0 = off / timeout defaults to 3 x ivl. */
    int32_t heartbeat_ivl_ms, heartbeat_timeout_ms;
    /* How long close() and fini() may wait to flush queued messages;
     * 0 = discard at once. Negative (infinite) is refused. */
    int32_t linger_ms;
    void *reserved[8];

    /* ---- ABI 1.1: security (read only when struct_size covers them) ----
     * mechanism: DCV_TX_MECH_NONE (no authentication, no encryption),
     * DCV_TX_MECH_CURVE (CurveZMQ: encrypted, the peer proves a key), or
     * DCV_TX_MECH_PLAIN (user name + password in clear text; token mode).
     * Keys are 40-character Z85 strings, NUL-terminated, borrowed for the
     * duration of open(). */
    uint32_t mechanism;         /* enum dcv_tx_mech */
    const char *curve_secret;   /* CURVE, both roles: this side's secret key */
    const char *curve_public;   /* CURVE DEALER: this side's public key */
    const char *curve_server;   /* CURVE DEALER: the ROUTER's public key */
    const char *plain_user;     /* PLAIN DEALER */
    const char *plain_password; /* PLAIN DEALER */
    /* ROUTER: every connection is authorised by calling authorize() with
     * this domain before its first message is delivered. Required (non-
     * empty, with authorize) for CURVE and PLAIN servers; with NONE it asks
     * authorize about each connection too (an ipc peer's uid/gid). open()
     * fails when the plugin's authentication handler is not running: an
     * unauthenticated CURVE server would admit any key. */
    const char *auth_domain;
    /* Called from a plugin thread (never the I/O thread), possibly while
     * the host's I/O thread runs: the host guards what it reads. Returns
     * 200 (admit; user_id is copied into every message of the connection),
     * 400 (refuse; reason is logged by the plugin), or 500 (internal error,
     * refuse). */
    int (*authorize)(void *auth_ctx, const struct dcv_tx_auth_req *req, char *user_id,
                     size_t user_id_len, char *reason, size_t reason_len);
    void *auth_ctx;
    /* Longest a connection may take to finish its handshake; 0 = 10000. */
    int32_t handshake_ivl_ms;
};

/* One frame to send: borrowed, copied before send() returns. */
struct dcv_tx_frame {
    const void *data;
    size_t len;
};

/* Opaque peer identity (a ROUTER routing id). It changes when a peer
 * reconnects, so it names a connection, not a worker. */
struct dcv_tx_peer {
    uint32_t len; /* 0 on a DEALER */
    uint8_t id[DCV_TX_MAX_PEER_ID];
};

/* What recv() returns. Frames point into plugin memory that stays valid
 * until msg_free(); priv is the plugin's. */
struct dcv_tx_msg {
    uint32_t n;
    struct dcv_tx_frame frames[DCV_TX_MAX_FRAMES];
    size_t total; /* sum of frame lengths */
    void *priv;
    /* ABI 1.1 (a 1.0 plugin leaves them as the host set them: the host
     * zeroes the struct and sets the ids to -1 before recv()): */
    char user_id[DCV_TX_MAX_USER_ID + 1]; /* what authorize() said; "" none */
    int64_t peer_uid, peer_gid;           /* ipc peer's credentials, -1 unknown */
};

/* Counters since open(): out-parameter, the host zeroes it and sets
 * struct_size; the plugin writes the fields it knows. */
struct dcv_tx_stats {
    uint32_t struct_size;
    uint64_t msgs_in, msgs_out;
    uint64_t bytes_in, bytes_out;
    uint64_t dropped_oversize;   /* received messages over max_msg_size */
    uint64_t dropped_frames;     /* received messages over DCV_TX_MAX_FRAMES */
    uint64_t dropped_malformed;  /* ROUTER: missing or oversized envelope */
    uint64_t send_eagain, send_unreachable;
    void *reserved[4];
};

struct dcv_transport_ops {
    uint32_t struct_size;

    /* Create the socket, set its options and bind/connect. On failure *tx is
     * untouched and err says why ("bind tcp://...: Address already in use"). */
    int (*open)(void *pctx, const struct dcv_tx_config *cfg, void **tx, char *err,
                size_t errlen);

    /* Send n (1..DCV_TX_MAX_FRAMES) frames as one message. `to` is the peer
     * on a ROUTER (required) and must be NULL or len 0 on a DEALER. Never
     * blocks. 0, -EAGAIN, -EHOSTUNREACH, -EMSGSIZE, -EINVAL, or another
     * negative errno; the text is in last_error(). */
    int (*send)(void *tx, const struct dcv_tx_peer *to, const struct dcv_tx_frame *frames,
                unsigned n);

    /* One whole message: 0 with *from (ROUTER; len 0 on a DEALER; from may
     * be NULL) and *msg, to be released with msg_free(); -EAGAIN when none
     * is pending; -EPROTO when a message over the limits was discarded (call
     * again). *from is written only on success. */
    int (*recv)(void *tx, struct dcv_tx_peer *from, struct dcv_tx_msg *msg);
    void (*msg_free)(void *tx, struct dcv_tx_msg *msg);

    /* The fd to poll() for POLLIN (see the loop above); owned by the
     * transport, valid until close(). */
    int (*get_fd)(void *tx, int *fd);
    /* Current readiness: a message can be received now / sent now. */
    int (*events)(void *tx, int *readable, int *writable);

    /* The endpoint actually bound or connected, with the real port for
     * "tcp://host:*". 0, or -ENOSPC when len is too small. */
    int (*endpoint)(void *tx, char *buf, size_t len);
    int (*stats)(void *tx, struct dcv_tx_stats *out);
    /* Reason for the last failure of this transport (never NULL). */
    const char *(*last_error)(void *tx);

    /* Closes the socket (pending messages wait at most linger_ms, in the
     * background until fini()). tx may be NULL. */
    void (*close)(void *tx);

    void *reserved[6];

    /* ---- ABI 1.1 (check with DCV_HAS_FIELD) ----
     * CURVE key material without the host linking the crypto library:
     * a fresh key pair, or the public key of a secret one. Keys are Z85,
     * DCV_TX_KEY_LEN characters plus the NUL. Any thread. */
    int (*curve_keypair)(void *pctx, char pub[DCV_TX_KEY_LEN + 1], char sec[DCV_TX_KEY_LEN + 1],
                         char *err, size_t errlen);
    int (*curve_public)(void *pctx, const char *sec, char pub[DCV_TX_KEY_LEN + 1], char *err,
                        size_t errlen);
};

#ifdef __cplusplus
}
#endif
#endif /* DISTCONV_PLUGIN_H */
