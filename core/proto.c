/*
 * Wire protocol codec (see proto.h, docs/protocol.md): frame sets. The JSON
 * bodies are described by field tables (proto_msgs.c) that one engine
 * (proto_fields.c) parses and emits, so every message gets the same
 * hostile-input rules and the same error wording; per-message hooks add the
 * cross-field rules.
 */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- frames -------------------------------------------------------------- */

static const char *const sigs[] = {DCV_PROTO_SIG_CONTROL, DCV_PROTO_SIG_DATA, DCV_PROTO_SIG_ADMIN};

static const char *const control_names[16] = {
    [0x01] = "HELLO",    [0x02] = "WELCOME", [0x03] = "HEARTBEAT", [0x04] = "JOB",
    [0x05] = "ACCEPT",   [0x06] = "REJECT",  [0x07] = "PROGRESS",  [0x08] = "DONE",
    [0x09] = "FAIL",     [0x0A] = "CANCEL",  [0x0B] = "DRAIN",     [0x0F] = "DISCONNECT",
};
static const char *const data_names[16] = {
    [0x0] = "OFFER", [0x1] = "CREDIT", [0x2] = "CHUNK", [0x3] = "COMMIT", [0x4] = "FETCH",
    [0xF] = "ABORT",
};
static const char *const admin_names[3] = {"REQUEST", "PARTIAL", "FINAL"};

const char *dcv_proto_cmd_name(enum dcv_proto_plane plane, int cmd)
{
    switch (plane) {
    case DCV_PLANE_CONTROL:
        return cmd >= 0 && cmd < 16 ? control_names[cmd] : NULL;
    case DCV_PLANE_DATA:
        return cmd >= 0x20 && cmd < 0x30 ? data_names[cmd - 0x20] : NULL;
    case DCV_PLANE_ADMIN:
        return cmd >= 0x40 && cmd < 0x43 ? admin_names[cmd - 0x40] : NULL;
    }
    return NULL;
}

static int plane_ok(enum dcv_proto_plane plane)
{
    return plane == DCV_PLANE_CONTROL || plane == DCV_PLANE_DATA || plane == DCV_PLANE_ADMIN;
}

int dcv_proto_frames(enum dcv_proto_plane plane, int cmd, const void *body, size_t body_len,
                     const void *payload, size_t payload_len, struct dcv_tx_frame out[4],
                     unsigned *n, char *err, size_t errlen)
{
    const char *name;

    if (!plane_ok(plane) || !(name = dcv_proto_cmd_name(plane, cmd))) {
        snprintf(err, errlen, "command 0x%02x does not belong to this plane", (unsigned)cmd & 0xffu);
        return -EINVAL;
    }
    if (!body || body_len == 0) {
        snprintf(err, errlen, "%s: body missing", name);
        return -EINVAL;
    }
    if (cmd == DCV_CMD_CHUNK && payload_len > 0 && !payload) {
        snprintf(err, errlen, "CHUNK: payload missing");
        return -EINVAL;
    }
    /* The command byte must outlive this call: point into a static table. */
    static const uint8_t codes[256] = {
#define C(x) [x] = x
        C(0x01), C(0x02), C(0x03), C(0x04), C(0x05), C(0x06), C(0x07), C(0x08), C(0x09),
        C(0x0A), C(0x0B), C(0x0F), C(0x20), C(0x21), C(0x22), C(0x23), C(0x24), C(0x2F),
        C(0x40), C(0x41), C(0x42),
#undef C
    };
    out[0].data = sigs[plane];
    out[0].len = DCV_PROTO_SIG_LEN;
    out[1].data = &codes[cmd];
    out[1].len = 1;
    out[2].data = body;
    out[2].len = body_len;
    *n = 3;
    if (cmd == DCV_CMD_CHUNK) {
        out[3].data = payload_len ? payload : "";
        out[3].len = payload_len;
        *n = 4;
    }
    return 0;
}

int dcv_proto_parse(enum dcv_proto_plane plane, const struct dcv_tx_frame *frames, unsigned n,
                    struct dcv_proto_msg *out, char *err, size_t errlen)
{
    const char *name;
    int cmd;
    unsigned want;
    size_t max;

    if (!plane_ok(plane)) {
        snprintf(err, errlen, "unknown plane %d", (int)plane);
        return -EINVAL;
    }
    if (n < 1 || frames[0].len != DCV_PROTO_SIG_LEN ||
        memcmp(frames[0].data, sigs[plane], DCV_PROTO_SIG_LEN) != 0) {
        snprintf(err, errlen, "bad signature (expected %s)", sigs[plane]);
        return -EPROTO;
    }
    if (n < 2 || frames[1].len != 1) {
        snprintf(err, errlen, "command frame missing or not 1 byte");
        return -EPROTO;
    }
    cmd = ((const uint8_t *)frames[1].data)[0];
    if (!(name = dcv_proto_cmd_name(plane, cmd))) {
        snprintf(err, errlen, "unknown command 0x%02x on %s", (unsigned)cmd, sigs[plane]);
        return -EPROTO;
    }
    want = cmd == DCV_CMD_CHUNK ? 4 : 3;
    if (n != want) {
        snprintf(err, errlen, "%s: %u frames, expected %u", name, n, want);
        return -EPROTO;
    }
    if (frames[2].len == 0) {
        snprintf(err, errlen, "%s: body missing", name);
        return -EPROTO;
    }
    if (cmd == DCV_CMD_CHUNK && frames[2].len != DCV_XFER_CHUNK_HDR_LEN) {
        snprintf(err, errlen, "CHUNK: header is %zu bytes, expected %d", frames[2].len,
                 DCV_XFER_CHUNK_HDR_LEN);
        return -EPROTO;
    }
    if (cmd == DCV_CMD_CREDIT && frames[2].len != DCV_XFER_CREDIT_LEN) {
        snprintf(err, errlen, "CREDIT: body is %zu bytes, expected %d", frames[2].len,
                 DCV_XFER_CREDIT_LEN);
        return -EPROTO;
    }
    max = (cmd == DCV_CMD_PARTIAL || cmd == DCV_CMD_FINAL) ? DCV_PROTO_MAX_REPLY_BODY
                                                          : DCV_PROTO_MAX_BODY;
    out->plane = plane;
    out->cmd = cmd;
    out->body = frames[2].data;
    out->body_len = frames[2].len;
    out->payload = n == 4 ? frames[3].data : NULL;
    out->payload_len = n == 4 ? frames[3].len : 0;
    /* Too large, but a well-formed frame set: *out stays filled so the
     * receiver can still address an error reply (an admin REQUEST's req_id). */
    if (cmd != DCV_CMD_CHUNK && cmd != DCV_CMD_CREDIT && frames[2].len > max) {
        snprintf(err, errlen, "%s: body of %zu bytes exceeds %zu", name, frames[2].len, max);
        return -EPROTO;
    }
    return 0;
}
