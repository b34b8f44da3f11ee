/*
 * The data plane's binary side (core/xfer): the CHUNK header and CREDIT
 * codecs, and the credit windows driven by a hostile peer. The first byte
 * picks what the rest means:
 *   0  CHUNK: chunk_max u32, 32-byte header, payload
 *   1  CREDIT: the 24-byte record
 *   2  sender: size u64, chunk_max u32, then CREDIT records from a
 *      receiver; after each, the chunks the sender would send must be
 *      aligned, inside the file and never run past the grant
 *   3  receiver: size u64, chunk_max u32, window u16, then operations
 *      (chunk header / durable report / credit / stall tick / restart);
 *      what is granted + in flight + being written never exceeds the
 *      window (memory bounded by the window, docs/protocol.md 7.2)
 * All integers little-endian.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "xfer/chunk.h"
#include "xfer/window.h"

struct cur {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct cur *c, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes && c->n; i++, c->p++, c->n--)
        v |= (uint64_t)c->p[0] << (8 * i);
    return v;
}

/* The protocol bounds sizes to 2^53 (JSON), so no caller passes more. */
static uint64_t proto_size(uint64_t v)
{
    return v % (((uint64_t)1 << 53) + 1);
}

static uint32_t small_chunk_max(uint64_t v)
{
    /* 1..64 KiB keeps files of many chunks cheap to walk through */
    return (uint32_t)(v % 65536u) + 1;
}

static int sender(struct cur *in)
{
    uint64_t size = proto_size(take(in, 8));
    uint32_t cm = small_chunk_max(take(in, 4));
    struct dcv_xfer_tx *tx = NULL;
    char err[256] = "";
    int accepted = 0;

    if (dcv_xfer_tx_new(7, size, cm, &tx, err, sizeof err) < 0)
        fz_fail("sender: new(size %llu, chunk_max %u) refused: %s", (unsigned long long)size, cm,
                err);
    while (in->n >= DCV_XFER_CREDIT_LEN && dcv_xfer_tx_state(tx) == DCV_XFER_RUNNING) {
        struct dcv_xfer_credit cr;
        struct dcv_xfer_chunk ch;
        struct dcv_xfer_tx_info info;
        if (dcv_xfer_credit_decode(in->p, DCV_XFER_CREDIT_LEN, &cr, err, sizeof err) < 0) {
            in->p++, in->n--; /* not a record: slide */
            continue;
        }
        in->p += DCV_XFER_CREDIT_LEN;
        in->n -= DCV_XFER_CREDIT_LEN;
        cr.xfer_id = cr.xfer_id & 1 ? 7 : cr.xfer_id; /* mostly ours */
        err[0] = '\0';
        if (dcv_xfer_tx_credit(tx, &cr, err, sizeof err) < 0) {
            if (!err[0])
                fz_fail("sender: credit refused without a reason");
            continue;
        }
        accepted = 1;
        /* bounded walk: a grant may cover 2^32 chunks */
        for (int i = 0; i < 256 && dcv_xfer_tx_next(tx, &ch); i++) {
            dcv_xfer_tx_info(tx, &info);
            if (ch.offset % cm || ch.len > cm || ch.offset + ch.len > size ||
                (ch.len < cm && !(ch.flags & DCV_XFER_FLAG_LAST)) ||
                (ch.flags & DCV_XFER_FLAG_LAST && ch.offset + ch.len != size))
                fz_fail("sender: bad chunk offset %llu len %u flags %u (size %llu, chunk_max %u)",
                        (unsigned long long)ch.offset, ch.len, ch.flags,
                        (unsigned long long)size, cm);
            if (ch.offset + ch.len > info.granted_end && !(size == 0 && ch.offset == 0))
                fz_fail("sender: chunk [%llu, +%u) past the grant end %llu",
                        (unsigned long long)ch.offset, ch.len,
                        (unsigned long long)info.granted_end);
        }
    }
    dcv_xfer_tx_free(&tx);
    return accepted;
}

static int receiver(struct cur *in)
{
    static const uint8_t zeros[65536];
    struct dcv_xfer_rx_params p = {0};
    struct dcv_xfer_rx *rx = NULL;
    struct dcv_xfer_rx_info info;
    uint64_t now = 1000, raw = take(in, 8);
    char err[256] = "";
    int accepted = 0;

    p.xfer_id = 9;
    p.size = raw & 1 ? DCV_XFER_SIZE_UNKNOWN : proto_size(raw >> 1);
    p.chunk_max = small_chunk_max(take(in, 4));
    p.window = (uint32_t)(take(in, 2) % DCV_XFER_WINDOW_LIMIT) + 1;
    p.stall_ms = 100;
    p.max_retries = 3;
    if (dcv_xfer_rx_new(&p, now, &rx, err, sizeof err) < 0)
        fz_fail("receiver: new refused: %s", err);
    while (in->n && dcv_xfer_rx_state(rx) == DCV_XFER_RUNNING) {
        unsigned op = (unsigned)take(in, 1);
        struct dcv_xfer_credit cr;
        struct dcv_xfer_write w;
        dcv_xfer_rx_info(rx, &info);
        switch ((op & 7) % 5) { /* bits 3 and 4 are flags of the operation */
        case 0: { /* a chunk header; bit 3: force our xfer_id, bit 4: right crc */
            uint8_t hdr[DCV_XFER_CHUNK_HDR_LEN] = {0};
            struct dcv_xfer_chunk c;
            size_t n = in->n < sizeof hdr ? in->n : sizeof hdr;
            memcpy(hdr, in->p, n);
            in->p += n, in->n -= n;
            if (dcv_xfer_chunk_decode(hdr, sizeof hdr, p.chunk_max, &c, err, sizeof err) < 0)
                break;
            if (op & 8)
                c.xfer_id = p.xfer_id;
            if (c.len > sizeof zeros)
                break; /* decode bounds len by chunk_max <= 64 KiB */
            if (op & 16)
                c.crc32c = dcv_crc32c(0, zeros, c.len);
            err[0] = '\0';
            int r = dcv_xfer_rx_chunk(rx, &c, zeros, c.len, now, &w, err, sizeof err);
            if (r < 0 && !err[0])
                fz_fail("receiver: chunk refused without a reason");
            if (r == 1) {
                accepted = 1;
                if (w.offset != info.next_offset || w.len != c.len ||
                    (p.size != DCV_XFER_SIZE_UNKNOWN && w.offset + w.len > p.size))
                    fz_fail("receiver: accepted write [%llu, +%u) but expected offset %llu",
                            (unsigned long long)w.offset, w.len,
                            (unsigned long long)info.next_offset);
            }
            break;
        }
        case 1: /* durable: bit 3 all that was accepted, else a hostile offset */
            (void)dcv_xfer_rx_durable(rx, op & 8 ? info.next_offset : take(in, 8), err,
                                      sizeof err);
            break;
        case 2:
            if (dcv_xfer_rx_next_credit(rx, now, &cr) == 1) {
                uint8_t buf[DCV_XFER_CREDIT_LEN];
                if (cr.chunks == 0 || cr.chunks > p.window || cr.offset % p.chunk_max)
                    fz_fail("receiver: bad credit offset %llu chunks %u (window %u)",
                            (unsigned long long)cr.offset, cr.chunks, p.window);
                if (dcv_xfer_credit_encode(&cr, buf, sizeof buf, err, sizeof err) < 0 ||
                    fz_credit(buf, sizeof buf) != 1)
                    fz_fail("receiver: its own credit does not survive the wire");
            }
            break;
        case 3:
            now += take(in, 1) * 10u;
            (void)dcv_xfer_rx_tick(rx, now, err, sizeof err);
            break;
        default:
            dcv_xfer_rx_restart(rx, now);
            break;
        }
        dcv_xfer_rx_info(rx, &info);
        if ((uint64_t)info.outstanding + info.pending > p.window)
            fz_fail("receiver: %u chunks outstanding + %u pending exceed the window of %u",
                    info.outstanding, info.pending, p.window);
    }
    dcv_xfer_rx_free(&rx);
    return accepted;
}

int fz_one(const uint8_t *data, size_t len)
{
    struct cur in = {data, len};

    if (!len)
        return 0;
    in.p++, in.n--;
    switch (data[0] % 4) {
    case 0: {
        uint32_t cm = (uint32_t)take(&in, 4);
        size_t n = in.n < DCV_XFER_CHUNK_HDR_LEN ? in.n : DCV_XFER_CHUNK_HDR_LEN;
        if (cm == 0 || cm > DCV_XFER_CHUNK_MAX_LIMIT)
            cm = 1024u * 1024u;
        return fz_chunk(in.p, n, cm, in.p + n, in.n - n);
    }
    case 1:
        return fz_credit(in.p, in.n);
    case 2:
        return sender(&in);
    default:
        return receiver(&in);
    }
}
