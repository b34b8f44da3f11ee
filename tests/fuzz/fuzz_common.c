/*
 * What every protocol harness shares: decode-and-round-trip for each
 * message of docs/protocol.md, the frame-set splitter, the CHUNK/CREDIT
 * codecs. See fuzz.h.
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xfer/chunk.h"

void (*fz_fail_hook)(void);

void fz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz property violated: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (fz_fail_hook)
        fz_fail_hook();
    abort();
}

static void *zalloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p)
        fz_fail("out of memory");
    return p;
}

/* A refusal must say why: the message reaches a log or a client. */
static void need_reason(const char *what, const char *err)
{
    if (!err[0])
        fz_fail("%s: refused without an error message", what);
}

/* Plain structs: decode memsets them first and then writes fields, so two
 * decodes of equal messages are byte-for-byte equal. */
#define SAME_PLAIN(a, b) (memcmp((a), (b), sizeof *(a)) == 0)
/* Replies own a body text. */
#define SAME_REPLY(a, b)                                                                  \
    (strcmp((a)->req_id, (b)->req_id) == 0 && (a)->status == (b)->status &&              \
     strcmp((a)->error, (b)->error) == 0 &&                                              \
     (((a)->body == NULL && (b)->body == NULL) ||                                        \
      ((a)->body && (b)->body && strcmp((a)->body, (b)->body) == 0)))
#define CLEAR_PLAIN(a) ((void)(a))
#define CLEAR_REPLY(a) dcv_proto_reply_clear(a)

/*
 * decode -> encode -> decode -> encode: what we accept we must be able to
 * send (every *_to_json re-validates its output), and the second round must
 * change nothing, or two peers would disagree about one message.
 */
#define RT(x, T, SAME, CLEAR)                                                                 \
    static int rt_##x(const void *body, size_t len)                                           \
    {                                                                                         \
        struct T *a = zalloc(sizeof *a), *b = zalloc(sizeof *b);                              \
        char err[1024] = "", *j1 = NULL, *j2 = NULL;                                          \
        size_t l1 = 0, l2 = 0;                                                                \
        int ok = 0;                                                                           \
        if (dcv_proto_##x##_from_json(body, len, a, err, sizeof err) < 0) {                   \
            need_reason(#x, err);                                                             \
            goto out;                                                                         \
        }                                                                                     \
        ok = 1;                                                                               \
        if (dcv_proto_##x##_to_json(a, &j1, &l1, err, sizeof err) < 0)                        \
            fz_fail(#x ": accepted but cannot be re-encoded: %s", err);                       \
        if (dcv_proto_##x##_from_json(j1, l1, b, err, sizeof err) < 0)                        \
            fz_fail(#x ": its own encoding is refused: %s\n  encoding: %s", err, j1);         \
        if (!SAME(a, b))                                                                      \
            fz_fail(#x ": decode(encode(m)) differs from m\n  encoding: %s", j1);            \
        if (dcv_proto_##x##_to_json(b, &j2, &l2, err, sizeof err) < 0)                        \
            fz_fail(#x ": second encoding failed: %s", err);                                  \
        if (l1 != l2 || memcmp(j1, j2, l1) != 0)                                              \
            fz_fail(#x ": encoding is not stable\n  first:  %s\n  second: %s", j1, j2);       \
    out:                                                                                      \
        CLEAR(a);                                                                             \
        CLEAR(b);                                                                             \
        free(j1);                                                                             \
        free(j2);                                                                             \
        free(a);                                                                              \
        free(b);                                                                              \
        return ok;                                                                            \
    }

RT(hello, dcv_proto_hello, SAME_PLAIN, CLEAR_PLAIN)
RT(welcome, dcv_proto_welcome, SAME_PLAIN, CLEAR_PLAIN)
RT(heartbeat, dcv_proto_heartbeat, SAME_PLAIN, CLEAR_PLAIN)
RT(job, dcv_proto_job, SAME_PLAIN, CLEAR_PLAIN)
RT(accept, dcv_proto_accept, SAME_PLAIN, CLEAR_PLAIN)
RT(reject, dcv_proto_failure, SAME_PLAIN, CLEAR_PLAIN)
RT(progress, dcv_proto_progress, SAME_PLAIN, CLEAR_PLAIN)
RT(done, dcv_proto_done, SAME_PLAIN, CLEAR_PLAIN)
RT(fail, dcv_proto_failure, SAME_PLAIN, CLEAR_PLAIN)
RT(cancel, dcv_proto_cancel, SAME_PLAIN, CLEAR_PLAIN)
RT(drain, dcv_proto_drain, SAME_PLAIN, CLEAR_PLAIN)
RT(disconnect, dcv_proto_disconnect, SAME_PLAIN, CLEAR_PLAIN)
RT(offer, dcv_proto_xfer_open, SAME_PLAIN, CLEAR_PLAIN)
RT(fetch, dcv_proto_xfer_open, SAME_PLAIN, CLEAR_PLAIN)
RT(commit, dcv_proto_commit, SAME_PLAIN, CLEAR_PLAIN)
RT(abort, dcv_proto_abort, SAME_PLAIN, CLEAR_PLAIN)
RT(request, dcv_proto_request, SAME_PLAIN, CLEAR_PLAIN)
RT(partial, dcv_proto_reply, SAME_REPLY, CLEAR_REPLY)
RT(final, dcv_proto_reply, SAME_REPLY, CLEAR_REPLY)

static const struct {
    enum dcv_proto_plane plane;
    int cmd;
    const char *name;
    int (*rt)(const void *body, size_t len);
} msgs[] = {
    {DCV_PLANE_CONTROL, DCV_CMD_HELLO, "HELLO", rt_hello},
    {DCV_PLANE_CONTROL, DCV_CMD_WELCOME, "WELCOME", rt_welcome},
    {DCV_PLANE_CONTROL, DCV_CMD_HEARTBEAT, "HEARTBEAT", rt_heartbeat},
    {DCV_PLANE_CONTROL, DCV_CMD_JOB, "JOB", rt_job},
    {DCV_PLANE_CONTROL, DCV_CMD_ACCEPT, "ACCEPT", rt_accept},
    {DCV_PLANE_CONTROL, DCV_CMD_REJECT, "REJECT", rt_reject},
    {DCV_PLANE_CONTROL, DCV_CMD_PROGRESS, "PROGRESS", rt_progress},
    {DCV_PLANE_CONTROL, DCV_CMD_DONE, "DONE", rt_done},
    {DCV_PLANE_CONTROL, DCV_CMD_FAIL, "FAIL", rt_fail},
    {DCV_PLANE_CONTROL, DCV_CMD_CANCEL, "CANCEL", rt_cancel},
    {DCV_PLANE_CONTROL, DCV_CMD_DRAIN, "DRAIN", rt_drain},
    {DCV_PLANE_CONTROL, DCV_CMD_DISCONNECT, "DISCONNECT", rt_disconnect},
    {DCV_PLANE_DATA, DCV_CMD_OFFER, "OFFER", rt_offer},
    {DCV_PLANE_DATA, DCV_CMD_FETCH, "FETCH", rt_fetch},
    {DCV_PLANE_DATA, DCV_CMD_COMMIT, "COMMIT", rt_commit},
    {DCV_PLANE_DATA, DCV_CMD_ABORT, "ABORT", rt_abort},
    {DCV_PLANE_ADMIN, DCV_CMD_REQUEST, "REQUEST", rt_request},
    {DCV_PLANE_ADMIN, DCV_CMD_PARTIAL, "PARTIAL", rt_partial},
    {DCV_PLANE_ADMIN, DCV_CMD_FINAL, "FINAL", rt_final},
};

int fz_json(const char *name, const void *body, size_t len)
{
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
        if (strcmp(msgs[i].name, name) == 0)
            return msgs[i].rt(body, len);
    return -1;
}

/* The chunk size a data-plane receiver judges headers with: the default. */
#define FZ_CHUNK_MAX (1024u * 1024u)

int fz_body(const struct dcv_proto_msg *m)
{
    if (m->plane == DCV_PLANE_DATA && m->cmd == DCV_CMD_CHUNK)
        return fz_chunk(m->body, m->body_len, FZ_CHUNK_MAX, m->payload, m->payload_len);
    if (m->plane == DCV_PLANE_DATA && m->cmd == DCV_CMD_CREDIT)
        return fz_credit(m->body, m->body_len);
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
        if (msgs[i].plane == m->plane && msgs[i].cmd == m->cmd)
            return msgs[i].rt(m->body, m->body_len);
    /* dcv_proto_parse accepted a command no decoder exists for */
    fz_fail("plane %d command 0x%02x passed the frame check but has no decoder", (int)m->plane,
            m->cmd);
}

int fz_frames(enum dcv_proto_plane plane, const uint8_t *data, size_t len)
{
    struct dcv_tx_frame f[DCV_TX_MAX_FRAMES], f2[4];
    struct dcv_proto_msg m, m2;
    unsigned n = 0, n2 = 0;
    char err[512] = "";

    while (len >= 2 && n < DCV_TX_MAX_FRAMES) {
        size_t fl = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        len -= 2;
        if (fl > len)
            fl = len;
        f[n].data = data;
        f[n].len = fl;
        n++;
        data += fl;
        len -= fl;
    }
    if (dcv_proto_parse(plane, f, n, &m, err, sizeof err) < 0) {
        need_reason("frame set", err);
        return 0;
    }
    if (!dcv_proto_cmd_name(plane, m.cmd))
        fz_fail("parse accepted command 0x%02x foreign to plane %d", m.cmd, (int)plane);
    if (m.body != f[2].data || m.body_len != f[2].len || m.body_len == 0)
        fz_fail("parse: body does not point at frame 2");
    /* What we accept we can send, and the receiver reads the same message. */
    if (dcv_proto_frames(plane, m.cmd, m.body, m.body_len, m.payload, m.payload_len, f2, &n2, err,
                         sizeof err) < 0)
        fz_fail("%s: accepted frame set cannot be rebuilt: %s", dcv_proto_cmd_name(plane, m.cmd),
                err);
    if (n2 != n)
        fz_fail("%s: %u frames rebuilt as %u", dcv_proto_cmd_name(plane, m.cmd), n, n2);
    for (unsigned i = 0; i < n; i++)
        if (f2[i].len != f[i].len || memcmp(f2[i].data, f[i].data, f[i].len) != 0)
            fz_fail("%s: frame %u differs after a rebuild", dcv_proto_cmd_name(plane, m.cmd), i);
    if (dcv_proto_parse(plane, f2, n2, &m2, err, sizeof err) < 0)
        fz_fail("%s: rebuilt frame set refused: %s", dcv_proto_cmd_name(plane, m.cmd), err);
    if (m2.cmd != m.cmd || m2.body_len != m.body_len || m2.payload_len != m.payload_len)
        fz_fail("%s: rebuilt frame set parses differently", dcv_proto_cmd_name(plane, m.cmd));
    /* accepted = what a receiver would act on: frames and body */
    return fz_body(&m);
}

int fz_chunk(const void *hdr, size_t len, uint32_t chunk_max, const void *payload,
             size_t payload_len)
{
    struct dcv_xfer_chunk c;
    uint8_t again[DCV_XFER_CHUNK_HDR_LEN];
    char err[256] = "";

    if (dcv_xfer_chunk_decode(hdr, len, chunk_max, &c, err, sizeof err) < 0) {
        need_reason("CHUNK", err);
        return 0;
    }
    if (c.len > chunk_max || (c.flags & ~DCV_XFER_FLAG_LAST) || c.offset > UINT64_MAX - c.len)
        fz_fail("CHUNK: decoder let through len %u flags %#x offset %llu (chunk_max %u)", c.len,
                c.flags, (unsigned long long)c.offset, chunk_max);
    /* The receiver checks the payload's crc32c: both implementations (SSE4.2
     * and the table) must agree on any bytes. */
    if (payload_len && dcv_crc32c(0, payload, payload_len) !=
                           dcv_crc32c_portable(0, payload, payload_len))
        fz_fail("crc32c: hardware and portable implementations disagree (%zu bytes)",
                payload_len);
    if (dcv_xfer_chunk_encode(&c, again, sizeof again, err, sizeof err) < 0)
        fz_fail("CHUNK: accepted header cannot be re-encoded: %s", err);
    if (memcmp(again, hdr, sizeof again) != 0)
        fz_fail("CHUNK: header re-encodes to different bytes");
    return 1;
}

int fz_credit(const void *body, size_t len)
{
    struct dcv_xfer_credit c;
    uint8_t again[DCV_XFER_CREDIT_LEN];
    char err[256] = "";

    if (dcv_xfer_credit_decode(body, len, &c, err, sizeof err) < 0) {
        need_reason("CREDIT", err);
        return 0;
    }
    if (c.chunks == 0)
        fz_fail("CREDIT: decoder let through chunks = 0");
    if (dcv_xfer_credit_encode(&c, again, sizeof again, err, sizeof err) < 0)
        fz_fail("CREDIT: accepted record cannot be re-encoded: %s", err);
    if (memcmp(again, body, sizeof again) != 0)
        fz_fail("CREDIT: record re-encodes to different bytes");
    return 1;
}
