/*
 * Data plane without a network: the CHUNK/CREDIT codec against hostile
 * bytes, the checksums against published vectors, the receiver and sender
 * state machines step by step, and a simulation that drives both through
 * an in-memory channel that drops, duplicates, reorders and corrupts
 * chunks and crashes the receiver half way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "xfer/chunk.h"
#include "xfer/window.h"

#define ERRLEN 512

/* ---- helpers --------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* splitmix64: deterministic, so a failing seed reproduces */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned rng_pct(void)
{
    return (unsigned)(rng_next() % 100);
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t saved = rng_state;
    rng_state = seed;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng_next();
        for (size_t k = 0; k < 8 && i + k < n; k++)
            p[i + k] = (uint8_t)(v >> (8 * k));
    }
    rng_state = saved;
}

static void sha_of(const void *data, size_t len, uint8_t out[DCV_SHA256_LEN])
{
    struct dcv_sha256 *s;
    if (dcv_sha256_new(&s) < 0)
        tap_bail("out of memory");
    dcv_sha256_update(s, data, len);
    dcv_sha256_final(s, out);
    dcv_sha256_free(&s);
}

static struct dcv_xfer_chunk mkchunk(uint64_t xfer, uint64_t off, const uint8_t *data,
                                     uint32_t len, int last)
{
    struct dcv_xfer_chunk c = {xfer, off, len, last ? DCV_XFER_FLAG_LAST : 0u, 0};
    c.crc32c = dcv_crc32c(0, data, len);
    return c;
}

/* ---- checksums ------------------------------------------------------------- */

static void test_crc32c(void)
{
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    TAP_IS_INT(dcv_crc32c(0, "123456789", 9), 0xE3069283u, "crc32c(\"123456789\")");
    TAP_IS_INT(dcv_crc32c(0, zeros, 32), 0x8A9136AAu, "crc32c(32 zero bytes)");
    TAP_IS_INT(dcv_crc32c(0, ones, 32), 0x62A8AB43u, "crc32c(32 0xff bytes)");
    TAP_IS_INT(dcv_crc32c_portable(0, "123456789", 9), 0xE3069283u,
               "portable crc32c(\"123456789\")");
    TAP_IS_INT(dcv_crc32c(0, "", 0), 0, "crc32c of nothing is 0");
    TAP_IS_INT(dcv_crc32c(dcv_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u,
               "crc32c continues across calls");

    /* the hardware and table paths must agree at every length and alignment */
    uint8_t buf[300];
    fill_random(buf, sizeof buf, 7);
    int bad = 0;
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 7)
            if (dcv_crc32c(0, buf + off, len) != dcv_crc32c_portable(0, buf + off, len))
                bad++;
    TAP_IS_INT(bad, 0, "crc32c hardware and portable paths agree");
}

static void test_sha256(void)
{
    uint8_t d[DCV_SHA256_LEN], d2[DCV_SHA256_LEN];
    char hex[2 * DCV_SHA256_LEN + 1], err[ERRLEN] = "";
    struct dcv_sha256 *s;

    TAP_IS_INT(dcv_sha256_new(&s), 0, "sha256 context");
    dcv_sha256_update(s, "abc", 3);
    dcv_sha256_final(s, d);
    dcv_sha256_hex(d, hex);
    TAP_IS_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
               "sha256(\"abc\")");
    /* final restarts the context */
    dcv_sha256_update(s, "a", 1);
    dcv_sha256_update(s, "", 0);
    dcv_sha256_update(s, "bc", 2);
    dcv_sha256_final(s, d2);
    TAP_OK(memcmp(d, d2, sizeof d) == 0, "sha256 incremental equals one-shot, context reusable");
    dcv_sha256_final(s, d);
    dcv_sha256_hex(d, hex);
    TAP_IS_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
               "sha256 of nothing");
    dcv_sha256_free(&s);
    TAP_OK(s == NULL, "sha256 free clears the pointer");

    TAP_IS_INT(dcv_sha256_parse_hex(
                   "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", d2, err,
                   sizeof err),
               0, "sha256 hex parse (upper case)");
    sha_of("abc", 3, d);
    TAP_OK(memcmp(d, d2, sizeof d) == 0, "sha256 hex round trip");
    TAP_IS_INT(dcv_sha256_parse_hex("abc", d2, err, sizeof err), -EINVAL, "short hex rejected");
    TAP_HAS_STR(err, "expected 64 hex digits", "short hex message");
    TAP_IS_INT(dcv_sha256_parse_hex(
                   "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", d2, err,
                   sizeof err),
               -EINVAL, "non-hex digit rejected");
    TAP_HAS_STR(err, "position 0", "non-hex message names the position");
}

/* ---- codec ----------------------------------------------------------------- */

static void test_chunk_codec(void)
{
    char err[ERRLEN] = "";
    uint8_t b[DCV_XFER_CHUNK_HDR_LEN + 1];
    struct dcv_xfer_chunk c = {0x0102030405060708ull, 0x1112131415161718ull, 0x21222324u,
                               DCV_XFER_FLAG_LAST, 0x31323334u},
                          d;
    static const uint8_t want[32] = {8,    7,    6,    5,    4,    3,    2,    1,
                                     0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
                                     0x24, 0x23, 0x22, 0x21, 1,    0,    0,    0,
                                     0x34, 0x33, 0x32, 0x31, 0,    0,    0,    0};

    TAP_IS_INT(dcv_xfer_chunk_encode(&c, b, sizeof b, err, sizeof err), 0, "chunk encode");
    TAP_OK(memcmp(b, want, 32) == 0, "chunk header is little-endian in the documented layout");
    TAP_IS_INT(dcv_xfer_chunk_decode(b, 32, 0x40000000u, &d, err, sizeof err), -EINVAL,
               "chunk_max above the limit refused");
    c.len = 1000;
    c.offset = 5000;
    dcv_xfer_chunk_encode(&c, b, sizeof b, err, sizeof err);
    memset(&d, 0, sizeof d);
    TAP_IS_INT(dcv_xfer_chunk_decode(b, 32, 1000, &d, err, sizeof err), 0, "chunk decode");
    TAP_OK(d.xfer_id == c.xfer_id && d.offset == c.offset && d.len == c.len &&
               d.flags == c.flags && d.crc32c == c.crc32c,
           "chunk round trip");

    c.flags = 2;
    TAP_IS_INT(dcv_xfer_chunk_encode(&c, b, sizeof b, err, sizeof err), -EINVAL,
               "encode refuses unknown flags");
    TAP_HAS_STR(err, "flags", "encode message names flags");
    c.flags = 0;
    TAP_IS_INT(dcv_xfer_chunk_encode(&c, b, 31, err, sizeof err), -EINVAL,
               "encode refuses a short buffer");

    /* hostile bytes */
    dcv_xfer_chunk_encode(&c, b, sizeof b, err, sizeof err);
    b[32] = 0;
    TAP_IS_INT(dcv_xfer_chunk_decode(b, 31, 1000, &d, err, sizeof err), -EPROTO,
               "31-byte header rejected");
    TAP_HAS_STR(err, "expected 32", "short header message");
    TAP_IS_INT(dcv_xfer_chunk_decode(b, 33, 1000, &d, err, sizeof err), -EPROTO,
               "33-byte header rejected");
    TAP_IS_INT(dcv_xfer_chunk_decode(NULL, 32, 1000, &d, err, sizeof err), -EPROTO,
               "NULL header rejected");
    TAP_IS_INT(dcv_xfer_chunk_decode(b, 32, 0, &d, err, sizeof err), -EINVAL,
               "chunk_max 0 refused");

    uint8_t h[32];
    memcpy(h, b, 32);
    h[31] = 0x80;
    TAP_IS_INT(dcv_xfer_chunk_decode(h, 32, 1000, &d, err, sizeof err), -EPROTO,
               "non-zero reserved rejected");
    TAP_HAS_STR(err, "reserved", "reserved message");
    memcpy(h, b, 32);
    h[20] = 0x03;
    TAP_IS_INT(dcv_xfer_chunk_decode(h, 32, 1000, &d, err, sizeof err), -EPROTO,
               "unknown flag bit 1 rejected");
    TAP_HAS_STR(err, "flags", "flags message");
    memcpy(h, b, 32);
    h[23] = 0x80;
    TAP_IS_INT(dcv_xfer_chunk_decode(h, 32, 1000, &d, err, sizeof err), -EPROTO,
               "unknown flag bit 31 rejected");
    TAP_IS_INT(dcv_xfer_chunk_decode(b, 32, 999, &d, err, sizeof err), -EPROTO,
               "len above chunk_max rejected");
    TAP_HAS_STR(err, "len 1000 exceeds chunk_max 999", "len message");

    c.offset = UINT64_MAX - 5;
    c.len = 10;
    dcv_xfer_chunk_encode(&c, h, sizeof h, err, sizeof err);
    TAP_IS_INT(dcv_xfer_chunk_decode(h, 32, 1000, &d, err, sizeof err), -EPROTO,
               "offset + len overflow rejected");
    TAP_HAS_STR(err, "overflows", "overflow message");
    c.offset = UINT64_MAX - 10;
    dcv_xfer_chunk_encode(&c, h, sizeof h, err, sizeof err);
    TAP_IS_INT(dcv_xfer_chunk_decode(h, 32, 1000, &d, err, sizeof err), 0,
               "offset + len exactly at UINT64_MAX accepted by the codec");
}

static void test_credit_codec(void)
{
    char err[ERRLEN] = "";
    uint8_t b[DCV_XFER_CREDIT_LEN + 1] = {0}, h[DCV_XFER_CREDIT_LEN + 1];
    struct dcv_xfer_credit c = {0x0102030405060708ull, 0x1112131415161718ull, 0x21222324u}, d;
    static const uint8_t want[24] = {8,    7,    6,    5,    4,    3,    2,    1,
                                     0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
                                     0x24, 0x23, 0x22, 0x21, 0,    0,    0,    0};

    TAP_IS_INT(dcv_xfer_credit_encode(&c, b, sizeof b, err, sizeof err), 0, "credit encode");
    TAP_OK(memcmp(b, want, 24) == 0, "credit body is little-endian in the documented layout");
    TAP_IS_INT(dcv_xfer_credit_decode(b, 24, &d, err, sizeof err), 0, "credit decode");
    TAP_OK(d.xfer_id == c.xfer_id && d.offset == c.offset && d.chunks == c.chunks,
           "credit round trip");
    TAP_IS_INT(dcv_xfer_credit_encode(&c, b, 23, err, sizeof err), -EINVAL,
               "credit encode refuses a short buffer");

    TAP_IS_INT(dcv_xfer_credit_decode(b, 23, &d, err, sizeof err), -EPROTO,
               "23-byte credit rejected");
    TAP_HAS_STR(err, "expected 24", "credit length message");
    TAP_IS_INT(dcv_xfer_credit_decode(b, 25, &d, err, sizeof err), -EPROTO,
               "25-byte credit rejected");
    memcpy(h, b, 24);
    h[20] = 1;
    TAP_IS_INT(dcv_xfer_credit_decode(h, 24, &d, err, sizeof err), -EPROTO,
               "credit with non-zero reserved rejected");
    TAP_HAS_STR(err, "reserved", "credit reserved message");
    memcpy(h, b, 24);
    memset(h + 16, 0, 4);
    TAP_IS_INT(dcv_xfer_credit_decode(h, 24, &d, err, sizeof err), -EPROTO,
               "credit of 0 chunks rejected");
    TAP_HAS_STR(err, "chunks", "credit chunks message");
}

/* ---- receiver -------------------------------------------------------------- */

#define CM 16u
static uint8_t small[40]; /* 3 chunks: 16, 16, 8 */
static uint8_t small_sha[DCV_SHA256_LEN];

static struct dcv_xfer_rx *mkrx(uint64_t size, uint64_t durable, uint32_t window,
                                const uint8_t *sha)
{
    struct dcv_xfer_rx_params p = {.xfer_id = 9,
                                   .size = size,
                                   .chunk_max = CM,
                                   .window = window,
                                   .durable_offset = durable,
                                   .sha256 = sha,
                                   .stall_ms = 100,
                                   .max_retries = 2};
    struct dcv_xfer_rx *rx = NULL;
    char err[ERRLEN] = "";
    if (dcv_xfer_rx_new(&p, 0, &rx, err, sizeof err) < 0)
        tap_bail("rx_new: %s", err);
    return rx;
}

static int offer(struct dcv_xfer_rx *rx, uint64_t off, uint32_t len, int last, uint64_t now,
                 struct dcv_xfer_write *w, char *err)
{
    struct dcv_xfer_chunk c = mkchunk(9, off, small + off, len, last);
    return dcv_xfer_rx_chunk(rx, &c, small + off, len, now, w, err, ERRLEN);
}

static void test_rx_basic(void)
{
    char err[ERRLEN] = "";
    struct dcv_xfer_credit cr;
    struct dcv_xfer_write w;
    struct dcv_xfer_rx_info info;
    struct dcv_xfer_rx *rx = mkrx(sizeof small, 0, 2, small_sha);

    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 0, &cr), 1, "rx: initial credit");
    TAP_OK(cr.xfer_id == 9 && cr.offset == 0 && cr.chunks == 2, "rx: initial credit {0, window}");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 0, &cr), 0, "rx: no second credit without progress");

    struct dcv_xfer_chunk c = mkchunk(8, 0, small, CM, 0);
    TAP_IS_INT(dcv_xfer_rx_chunk(rx, &c, small, CM, 1, &w, err, sizeof err), -ESTALE,
               "rx: chunk of another transfer ignored");
    TAP_HAS_STR(err, "xfer 8", "rx: other-transfer message");
    TAP_IS_INT(offer(rx, CM, CM, 0, 1, &w, err), -ERANGE, "rx: out-of-order chunk ignored");
    TAP_HAS_STR(err, "out-of-order", "rx: out-of-order message");

    c = mkchunk(9, 0, small, CM, 0);
    uint8_t flipped[CM];
    memcpy(flipped, small, CM);
    flipped[5] ^= 0x10;
    TAP_IS_INT(dcv_xfer_rx_chunk(rx, &c, flipped, CM, 1, &w, err, sizeof err), -EBADMSG,
               "rx: bit flip caught by crc32c");
    TAP_HAS_STR(err, "crc32c mismatch", "rx: crc message");
    TAP_IS_INT(dcv_xfer_rx_chunk(rx, &c, small, CM - 1, 1, &w, err, sizeof err), -EBADMSG,
               "rx: payload shorter than header len rejected");

    TAP_IS_INT(offer(rx, 0, CM, 0, 2, &w, err), 1, "rx: in-order chunk accepted");
    TAP_OK(w.offset == 0 && w.len == CM && w.data == small, "rx: write points into the payload");
    TAP_IS_INT(offer(rx, 0, CM, 0, 3, &w, err), -ESTALE, "rx: duplicate ignored");
    TAP_HAS_STR(err, "duplicate", "rx: duplicate message");
    TAP_IS_INT(offer(rx, CM, CM, 0, 3, &w, err), 1, "rx: second chunk accepted");
    TAP_IS_INT(offer(rx, 2 * CM, 8, 1, 3, &w, err), -ERANGE, "rx: chunk beyond credit ignored");
    TAP_HAS_STR(err, "beyond the granted credit", "rx: beyond-credit message");
    dcv_xfer_rx_info(rx, &info);
    TAP_OK(info.pending == 2 && info.outstanding == 0,
           "rx: window full of pending writes (pending %u outstanding %u)", info.pending,
           info.outstanding);
    TAP_IS_INT(dcv_xfer_rx_deadline(rx), (long long)UINT64_MAX,
               "rx: no stall timer while only our own writes are pending");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 3, &cr), 0,
               "rx: no credit until something is durable");

    TAP_IS_INT(dcv_xfer_rx_durable(rx, 40, err, sizeof err), -EINVAL,
               "rx: durable beyond accepted refused");
    TAP_IS_INT(dcv_xfer_rx_durable(rx, 10, err, sizeof err), 0, "rx: partial durable report");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 4, &cr), 0, "rx: a partly durable chunk frees nothing");
    TAP_IS_INT(dcv_xfer_rx_durable(rx, 8, err, sizeof err), -EINVAL,
               "rx: durable going backwards refused");
    TAP_IS_INT(dcv_xfer_rx_durable(rx, 16, err, sizeof err), 0, "rx: first chunk durable");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 4, &cr), 1, "rx: credit returned after durability");
    TAP_OK(cr.offset == 2 * CM && cr.chunks == 1, "rx: returned credit extends the grant {32, 1}");
    TAP_IS_INT(offer(rx, 2 * CM, 8, 1, 5, &w, err), 1, "rx: LAST chunk accepted");
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_RUNNING, "rx: not committed before durable");
    TAP_IS_INT(dcv_xfer_rx_durable(rx, 40, err, sizeof err), 0, "rx: all durable");
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_COMMITTED, "rx: committed, sha256 matches");
    dcv_xfer_rx_info(rx, &info);
    TAP_OK(info.have_digest && memcmp(info.digest, small_sha, DCV_SHA256_LEN) == 0,
           "rx: digest of the received file");
    TAP_IS_INT(offer(rx, 2 * CM, 8, 1, 6, &w, err), -ESTALE, "rx: chunk after commit ignored");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 6, &cr), 0, "rx: no credit after commit");
    dcv_xfer_rx_free(&rx);
    TAP_OK(rx == NULL, "rx: free clears the pointer");
}

/* One structural violation on a fresh receiver: -EPROTO, ABORTED, reason. */
static void violation(uint64_t size, uint64_t off, uint32_t len, int last, const char *needle,
                      const char *name)
{
    char err[ERRLEN] = "";
    struct dcv_xfer_credit cr;
    struct dcv_xfer_write w;
    struct dcv_xfer_rx *rx = mkrx(size, 0, 4, NULL);
    dcv_xfer_rx_next_credit(rx, 0, &cr);
    if (off >= CM) /* get the receiver to that position first */
        for (uint64_t o = 0; o + CM <= off; o += CM)
            offer(rx, o, CM, 0, 1, &w, err);
    struct dcv_xfer_chunk c = mkchunk(9, off, small, len, last);
    int r = dcv_xfer_rx_chunk(rx, &c, small, len, 1, &w, err, sizeof err);
    if (!tap_ok(r == -EPROTO && dcv_xfer_rx_state(rx) == DCV_XFER_ABORTED &&
                    strstr(dcv_xfer_rx_reason(rx), needle) && strstr(err, needle),
                "rx: %s aborts the transfer", name))
        tap_diag("  r=%d state=%s err='%s'", r, dcv_xfer_state_name(dcv_xfer_rx_state(rx)), err);
    dcv_xfer_rx_free(&rx);
}

static void test_rx_violations(void)
{
    violation(40, 3, CM, 0, "not a multiple", "misaligned offset");
    violation(40, 0, 10, 0, "without LAST", "short chunk without LAST");
    violation(40, 32, CM, 1, "beyond the size", "chunk beyond the declared size");
    violation(40, 16, CM, 1, "but the size is 40", "LAST before the declared size");
    violation(32, 16, CM, 0, "without the LAST flag", "chunk reaching the size without LAST");
    violation(DCV_XFER_SIZE_UNKNOWN, 0, CM + 1, 0, "exceeds chunk_max", "oversized chunk");

    /* after LAST with an unknown size, nothing more may come */
    char err[ERRLEN] = "";
    struct dcv_xfer_credit cr;
    struct dcv_xfer_write w;
    struct dcv_xfer_rx *rx = mkrx(DCV_XFER_SIZE_UNKNOWN, 0, 4, NULL);
    dcv_xfer_rx_next_credit(rx, 0, &cr);
    offer(rx, 0, CM, 1, 1, &w, err);
    TAP_IS_INT(offer(rx, CM, CM, 0, 1, &w, err), -EPROTO, "rx: chunk after LAST aborts");
    dcv_xfer_rx_free(&rx);

    struct dcv_xfer_rx_params p = {.xfer_id = 1, .size = 10, .chunk_max = CM, .window = 2,
                                   .stall_ms = 10, .durable_offset = 11};
    TAP_IS_INT(dcv_xfer_rx_new(&p, 0, &rx, err, sizeof err), -EINVAL,
               "rx: durable offset beyond the size refused");
    p.durable_offset = 0;
    p.window = 0;
    TAP_IS_INT(dcv_xfer_rx_new(&p, 0, &rx, err, sizeof err), -EINVAL, "rx: window 0 refused");
    TAP_HAS_STR(err, "window", "rx: window message");
    p.window = 2;
    p.chunk_max = 0;
    TAP_IS_INT(dcv_xfer_rx_new(&p, 0, &rx, err, sizeof err), -EINVAL, "rx: chunk_max 0 refused");
    p.chunk_max = CM;
    p.stall_ms = 0;
    TAP_IS_INT(dcv_xfer_rx_new(&p, 0, &rx, err, sizeof err), -EINVAL, "rx: stall_ms 0 refused");
}

static void test_rx_stall(void)
{
    char err[ERRLEN] = "";
    struct dcv_xfer_credit cr;
    struct dcv_xfer_write w;
    struct dcv_xfer_rx_info info;
    struct dcv_xfer_rx *rx = mkrx(sizeof small, 0, 2, small_sha);

    dcv_xfer_rx_next_credit(rx, 0, &cr);
    TAP_IS_INT(dcv_xfer_rx_deadline(rx), 100, "stall: deadline = last credit + stall_ms");
    TAP_IS_INT(dcv_xfer_rx_tick(rx, 99, err, sizeof err), 0, "stall: nothing before the deadline");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 99, &cr), 0, "stall: no credit before the deadline");
    dcv_xfer_rx_tick(rx, 100, err, sizeof err);
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 100, &cr), 1, "stall: credit re-issued");
    TAP_OK(cr.offset == 0 && cr.chunks == 2, "stall: re-issued from the start {0, 2}");

    /* progress resets the retry count; the re-issue starts after it */
    TAP_IS_INT(offer(rx, 0, CM, 0, 150, &w, err), 1, "stall: chunk accepted");
    dcv_xfer_rx_durable(rx, 16, err, sizeof err);
    dcv_xfer_rx_next_credit(rx, 150, &cr);
    dcv_xfer_rx_info(rx, &info);
    TAP_IS_INT(info.retries, 0, "stall: progress resets the retries");
    dcv_xfer_rx_tick(rx, 250, err, sizeof err);
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 250, &cr), 1, "stall: second stall re-issues");
    TAP_OK(cr.offset == CM && cr.chunks == 2,
           "stall: re-issue restarts at the next expected offset {16, 2} (got {%" PRIu64 ", %u})",
           cr.offset, cr.chunks);
    dcv_xfer_rx_tick(rx, 350, err, sizeof err);
    dcv_xfer_rx_next_credit(rx, 350, &cr);
    TAP_IS_INT(dcv_xfer_rx_tick(rx, 449, err, sizeof err), 0, "stall: still waiting");
    TAP_IS_INT(dcv_xfer_rx_tick(rx, 450, err, sizeof err), -ETIMEDOUT,
               "stall: aborts after max_retries re-issues");
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_ABORTED, "stall: state aborted");
    TAP_HAS_STR(dcv_xfer_rx_reason(rx), "no chunk for 100 ms at offset 16",
                "stall: reason names the timeout and offset");
    dcv_xfer_rx_free(&rx);
}

static void test_rx_resume(void)
{
    char err[ERRLEN] = "";
    struct dcv_xfer_credit cr;
    struct dcv_xfer_write w;
    struct dcv_xfer_rx_info info;
    struct dcv_xfer_rx *rx = mkrx(sizeof small, 20, 2, small_sha);

    dcv_xfer_rx_info(rx, &info);
    TAP_IS_INT(info.resume_offset, 16, "resume: durable 20 resumes at the chunk boundary 16");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 0, &cr), 0, "resume: no credit before the prefix");
    TAP_IS_INT(offer(rx, CM, CM, 0, 0, &w, err), -EAGAIN, "resume: chunk before the prefix");
    TAP_IS_INT(dcv_xfer_rx_prefix(rx, small, 17, err, sizeof err), -EINVAL,
               "resume: prefix past the resume offset refused");
    TAP_IS_INT(dcv_xfer_rx_prefix(rx, small, 10, err, sizeof err), 0, "resume: prefix part 1");
    TAP_IS_INT(dcv_xfer_rx_prefix(rx, small + 10, 6, err, sizeof err), 0, "resume: prefix part 2");
    TAP_IS_INT(dcv_xfer_rx_next_credit(rx, 0, &cr), 1, "resume: credit after the prefix");
    TAP_OK(cr.offset == 16 && cr.chunks == 2, "resume: credit {16, 2}");
    offer(rx, CM, CM, 0, 1, &w, err);
    offer(rx, 2 * CM, 8, 1, 1, &w, err);
    dcv_xfer_rx_durable(rx, 40, err, sizeof err);
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_COMMITTED, "resume: digest covers prefix + chunks");
    dcv_xfer_rx_free(&rx);

    /* everything was already on disk: only the digest is left */
    rx = mkrx(sizeof small, sizeof small, 2, small_sha);
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_RUNNING, "resume complete: waits for the prefix");
    dcv_xfer_rx_prefix(rx, small, sizeof small, err, sizeof err);
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_COMMITTED,
               "resume complete: commits without any credit");
    dcv_xfer_rx_free(&rx);

    /* unknown size: the chunk that may carry LAST comes again */
    rx = mkrx(DCV_XFER_SIZE_UNKNOWN, 32, 2, NULL);
    dcv_xfer_rx_info(rx, &info);
    TAP_IS_INT(info.resume_offset, 16, "resume unknown size: steps back one chunk");
    dcv_xfer_rx_prefix(rx, small, 16, err, sizeof err);
    dcv_xfer_rx_next_credit(rx, 0, &cr);
    offer(rx, CM, CM, 0, 1, &w, err);
    TAP_IS_INT(offer(rx, 2 * CM, 0, 1, 1, &w, err), 1, "unknown size: empty LAST chunk accepted");
    dcv_xfer_rx_durable(rx, 32, err, sizeof err);
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_WAIT_SHA,
               "unknown size: complete, waiting for the expected digest");
    uint8_t d32[DCV_SHA256_LEN];
    sha_of(small, 32, d32);
    TAP_IS_INT(dcv_xfer_rx_expect(rx, d32, err, sizeof err), 0, "unknown size: digest supplied");
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_COMMITTED, "unknown size: committed");
    dcv_xfer_rx_info(rx, &info);
    TAP_IS_INT(info.size, 32, "unknown size: learnt from LAST");
    TAP_IS_INT(dcv_xfer_rx_expect(rx, d32, err, sizeof err), -EINVAL,
               "expected digest cannot be set twice");
    dcv_xfer_rx_free(&rx);

    /* an empty file */
    uint8_t e[DCV_SHA256_LEN];
    sha_of("", 0, e);
    rx = mkrx(0, 0, 2, e);
    TAP_IS_INT(dcv_xfer_rx_state(rx), DCV_XFER_COMMITTED, "empty file: committed at once");
    dcv_xfer_rx_free(&rx);
}

/* ---- sender ---------------------------------------------------------------- */

static void test_tx(void)
{
    char err[ERRLEN] = "";
    struct dcv_xfer_tx *tx = NULL;
    struct dcv_xfer_chunk c;
    struct dcv_xfer_tx_info info;
    struct dcv_xfer_credit cr = {9, 0, 2};

    TAP_IS_INT(dcv_xfer_tx_new(9, DCV_XFER_SIZE_UNKNOWN, CM, &tx, err, sizeof err), -EINVAL,
               "tx: unknown size refused");
    TAP_IS_INT(dcv_xfer_tx_new(9, 40, 0, &tx, err, sizeof err), -EINVAL, "tx: chunk_max 0 refused");
    TAP_IS_INT(dcv_xfer_tx_new(9, 40, CM, &tx, err, sizeof err), 0, "tx: created");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 0, "tx: nothing to send without credit");
    TAP_IS_INT(dcv_xfer_tx_credit(tx, &cr, err, sizeof err), 0, "tx: credit {0, 2}");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 1, "tx: chunk 0");
    TAP_OK(c.xfer_id == 9 && c.offset == 0 && c.len == CM && c.flags == 0, "tx: chunk 0 fields");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 1, "tx: chunk 1");
    TAP_OK(c.offset == CM && c.len == CM && c.flags == 0, "tx: chunk 1 fields");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 0, "tx: never beyond credit");
    cr = (struct dcv_xfer_credit){9, 2 * CM, 1};
    TAP_IS_INT(dcv_xfer_tx_credit(tx, &cr, err, sizeof err), 0, "tx: extension {32, 1}");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 1, "tx: chunk 2");
    TAP_OK(c.offset == 2 * CM && c.len == 8 && c.flags == DCV_XFER_FLAG_LAST,
           "tx: last chunk is short and marked LAST");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 0, "tx: nothing after LAST");

    cr = (struct dcv_xfer_credit){9, CM, 2};
    TAP_IS_INT(dcv_xfer_tx_credit(tx, &cr, err, sizeof err), 0, "tx: reset credit {16, 2}");
    dcv_xfer_tx_info(tx, &info);
    TAP_OK(info.resets == 1 && info.next_offset == CM, "tx: moved back to 16");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 1, "tx: resends from the reset point");
    TAP_IS_INT(c.offset, CM, "tx: resent chunk offset");
    cr.xfer_id = 8;
    TAP_IS_INT(dcv_xfer_tx_credit(tx, &cr, err, sizeof err), -ESTALE,
               "tx: credit of another transfer ignored");
    TAP_IS_INT(dcv_xfer_tx_commit(tx, 1, err, sizeof err), 0, "tx: COMMIT ok");
    TAP_IS_INT(dcv_xfer_tx_state(tx), DCV_XFER_COMMITTED, "tx: committed");
    TAP_IS_INT(dcv_xfer_tx_commit(tx, 1, err, sizeof err), -ESTALE, "tx: second COMMIT stale");
    TAP_IS_INT(dcv_xfer_tx_next(tx, &c), 0, "tx: nothing after commit");
    dcv_xfer_tx_free(&tx);

    /* a fresh sender resumes wherever the first grant says; lost grants
     * are covered by later ones */
    dcv_xfer_tx_new(9, 40, CM, &tx, err, sizeof err);
    cr = (struct dcv_xfer_credit){9, CM, 1};
    dcv_xfer_tx_credit(tx, &cr, err, sizeof err);
    dcv_xfer_tx_next(tx, &c);
    TAP_IS_INT(c.offset, CM, "tx: first grant sets the resume point");
    dcv_xfer_tx_free(&tx);
    dcv_xfer_tx_new(9, 40, CM, &tx, err, sizeof err);
    cr = (struct dcv_xfer_credit){9, 0, 1};
    dcv_xfer_tx_credit(tx, &cr, err, sizeof err);
    dcv_xfer_tx_next(tx, &c);
    cr = (struct dcv_xfer_credit){9, 2 * CM, 1}; /* {16, 1} was lost */
    dcv_xfer_tx_credit(tx, &cr, err, sizeof err);
    int n = 0;
    uint64_t offs[4] = {0};
    while (n < 4 && dcv_xfer_tx_next(tx, &c) == 1)
        offs[n++] = c.offset;
    TAP_OK(n == 2 && offs[0] == CM && offs[1] == 2 * CM,
           "tx: a lost grant is covered by the next one (sent %d)", n);
    dcv_xfer_tx_free(&tx);

    /* hostile credits end the transfer */
    dcv_xfer_tx_new(9, 40, CM, &tx, err, sizeof err);
    cr = (struct dcv_xfer_credit){9, 8, 1};
    TAP_IS_INT(dcv_xfer_tx_credit(tx, &cr, err, sizeof err), -EPROTO, "tx: misaligned credit");
    TAP_HAS_STR(err, "not a multiple", "tx: misaligned message");
    TAP_IS_INT(dcv_xfer_tx_state(tx), DCV_XFER_ABORTED, "tx: aborted by a hostile credit");
    dcv_xfer_tx_free(&tx);
    dcv_xfer_tx_new(9, 40, CM, &tx, err, sizeof err);
    cr = (struct dcv_xfer_credit){9, 48, 1};
    TAP_IS_INT(dcv_xfer_tx_credit(tx, &cr, err, sizeof err), -EPROTO, "tx: credit beyond the file");
    TAP_HAS_STR(err, "beyond the file", "tx: beyond-file message");
    dcv_xfer_tx_free(&tx);
    dcv_xfer_tx_new(9, 40, CM, &tx, err, sizeof err);
    dcv_xfer_tx_abort(tx, "peer sent ABORT");
    TAP_HAS_STR(dcv_xfer_tx_reason(tx), "peer sent ABORT", "tx: abort keeps the reason");
    dcv_xfer_tx_free(&tx);
}

/* ---- simulation ------------------------------------------------------------ */

struct sim_cfg {
    uint64_t seed;
    size_t size;
    uint32_t cm, window;
    unsigned drop_pct, dup_pct, jitter_ms, credit_drop_pct;
    int crash, corrupt, wrong_sha;
};

struct msg {
    int is_credit;
    int epoch; /* receiver incarnation it belongs to */
    uint64_t due, seq;
    uint8_t hdr[DCV_XFER_CHUNK_HDR_LEN];
    size_t hdrlen;
    uint8_t *payload;
    uint32_t plen;
};

struct channel {
    struct msg *m;
    size_t n, cap;
    uint64_t seq, credit_due;
};

static void ch_push(struct channel *ch, const struct msg *m)
{
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 64;
        struct msg *nm = realloc(ch->m, cap * sizeof(*nm));
        if (!nm)
            tap_bail("out of memory");
        ch->m = nm;
        ch->cap = cap;
    }
    ch->m[ch->n] = *m;
    ch->m[ch->n].seq = ch->seq++;
    ch->n++;
}

/* The earliest message due by `now` (ties in send order), removed. */
static int ch_pop(struct channel *ch, uint64_t now, struct msg *out)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < ch->n; i++)
        if (ch->m[i].due <= now &&
            (best == SIZE_MAX || ch->m[i].due < ch->m[best].due ||
             (ch->m[i].due == ch->m[best].due && ch->m[i].seq < ch->m[best].seq)))
            best = i;
    if (best == SIZE_MAX)
        return 0;
    *out = ch->m[best];
    ch->m[best] = ch->m[--ch->n];
    return 1;
}

static void ch_clear(struct channel *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        free(ch->m[i].payload);
    ch->n = 0;
}

struct sim_result {
    int rx_state, tx_state;
    int bytes_equal, digest_equal;
    int window_violations;
    uint32_t max_in_window; /* pending + outstanding at the receiver */
    int crc_rejected, dup_rejected, gap_rejected;
    int crashed;
    uint64_t crash_durable, resume_offset, first_after_resume;
    int resumed_ok;
    uint64_t chunks_sent, drops, dups, credit_drops, tx_resets, rx_resets;
    uint64_t end_ms;
    char reason[256];
};

static struct dcv_xfer_rx *sim_rx(const struct sim_cfg *cfg, uint64_t durable, const uint8_t *sha,
                                  uint64_t now)
{
    struct dcv_xfer_rx_params p = {.xfer_id = 77,
                                   .size = cfg->size,
                                   .chunk_max = cfg->cm,
                                   .window = cfg->window,
                                   .durable_offset = durable,
                                   .sha256 = sha,
                                   .stall_ms = 40,
                                   .max_retries = 10};
    struct dcv_xfer_rx *rx;
    char err[ERRLEN];
    if (dcv_xfer_rx_new(&p, now, &rx, err, sizeof err) < 0)
        tap_bail("sim rx_new: %s", err);
    return rx;
}

static void run_sim(const struct sim_cfg *cfg, struct sim_result *res)
{
    char err[ERRLEN];
    uint8_t *src = malloc(cfg->size + 1), *dst = malloc(cfg->size + 1);
    uint8_t want[DCV_SHA256_LEN];
    struct channel ch = {0};
    struct dcv_xfer_tx *tx;
    struct dcv_xfer_credit cr;
    struct dcv_xfer_chunk c;
    struct dcv_xfer_write w;
    struct dcv_xfer_rx_info ri;
    struct msg m;

    if (!src || !dst)
        tap_bail("out of memory");
    memset(res, 0, sizeof(*res));
    fill_random(src, cfg->size, cfg->seed * 1000 + 1);
    memset(dst, 0xEE, cfg->size);
    sha_of(src, cfg->size, want);
    if (cfg->wrong_sha)
        want[0] ^= 1;
    rng_state = cfg->seed;

    uint64_t now = 0, written = 0, durable = 0;
    int epoch = 0, await_first = 0, await_credit = 0, corrupt_pending = cfg->corrupt;
    struct dcv_xfer_rx *rx = sim_rx(cfg, 0, want, now);
    if (dcv_xfer_tx_new(77, cfg->size, cfg->cm, &tx, err, sizeof err) < 0)
        tap_bail("sim tx_new: %s", err);

    for (now = 0; now < 600000 && dcv_xfer_rx_state(rx) == DCV_XFER_RUNNING; now++) {
        /* receiver -> sender: credit, FIFO like a stream connection */
        while (dcv_xfer_rx_next_credit(rx, now, &cr) == 1) {
            if (rng_pct() < cfg->credit_drop_pct) {
                res->credit_drops++;
                continue;
            }
            memset(&m, 0, sizeof m);
            m.is_credit = 1;
            m.epoch = epoch;
            m.hdrlen = DCV_XFER_CREDIT_LEN;
            if (dcv_xfer_credit_encode(&cr, m.hdr, sizeof m.hdr, err, sizeof err) < 0)
                tap_bail("credit encode: %s", err);
            m.due = now + 2 > ch.credit_due ? now + 2 : ch.credit_due;
            ch.credit_due = m.due;
            ch_push(&ch, &m);
        }

        /* sender -> receiver: every chunk it may send now */
        while (dcv_xfer_tx_next(tx, &c) == 1) {
            const uint8_t *data = src + c.offset;
            c.crc32c = dcv_crc32c(0, data, c.len);
            res->chunks_sent++;
            dcv_xfer_rx_info(rx, &ri);
            if (c.offset / cfg->cm >= ri.durable_offset / cfg->cm + cfg->window)
                res->window_violations++;
            if (await_first) {
                res->first_after_resume = c.offset;
                await_first = 0;
            }
            int copies = 1;
            if (rng_pct() < cfg->drop_pct) {
                res->drops++;
                copies = 0;
            } else if (rng_pct() < cfg->dup_pct) {
                res->dups++;
                copies = 2;
            }
            for (int k = 0; k < copies; k++) {
                memset(&m, 0, sizeof m);
                m.epoch = epoch;
                m.hdrlen = DCV_XFER_CHUNK_HDR_LEN;
                if (dcv_xfer_chunk_encode(&c, m.hdr, sizeof m.hdr, err, sizeof err) < 0)
                    tap_bail("chunk encode: %s", err);
                m.plen = c.len;
                m.payload = malloc(c.len ? c.len : 1);
                if (!m.payload)
                    tap_bail("out of memory");
                memcpy(m.payload, data, c.len);
                m.due = now + 1 + (cfg->jitter_ms ? rng_next() % (cfg->jitter_ms + 1) : 0);
                ch_push(&ch, &m);
            }
        }

        /* deliveries */
        while (ch_pop(&ch, now, &m)) {
            if (m.is_credit) {
                struct dcv_xfer_credit got;
                if (dcv_xfer_credit_decode(m.hdr, m.hdrlen, &got, err, sizeof err) < 0)
                    tap_bail("credit decode: %s", err);
                if (dcv_xfer_tx_credit(tx, &got, err, sizeof err) < 0)
                    tap_diag("  tx credit: %s", err);
                if (await_credit && m.epoch == epoch) {
                    /* the new receiver's first grant reached the sender */
                    await_credit = 0;
                    await_first = 1;
                    res->resumed_ok = 1;
                }
                continue;
            }
            struct dcv_xfer_chunk got;
            if (dcv_xfer_chunk_decode(m.hdr, m.hdrlen, cfg->cm, &got, err, sizeof err) < 0)
                tap_bail("chunk decode: %s", err);
            dcv_xfer_rx_info(rx, &ri);
            if (corrupt_pending && got.offset == ri.next_offset && got.len > 0) {
                m.payload[got.len / 2] ^= 0x04; /* one bit flipped on the wire */
                corrupt_pending = 0;
            }
            int r = dcv_xfer_rx_chunk(rx, &got, m.payload, m.plen, now, &w, err, sizeof err);
            if (r == 1) {
                memcpy(dst + w.offset, w.data, w.len); /* the page cache */
                written = w.offset + w.len;
            } else if (r == -EBADMSG) {
                res->crc_rejected++;
            } else if (r == -ESTALE) {
                res->dup_rejected++;
            } else if (r == -ERANGE) {
                res->gap_rejected++;
            } else {
                tap_diag("  unexpected rx_chunk %d: %s", r, err);
            }
            free(m.payload);
            /* the receiver keeps no pointer into a payload after it returns */
        }

        /* fsync now and then: durability lags the writes */
        if (written > durable && rng_pct() < 40) {
            durable = written;
            if (dcv_xfer_rx_durable(rx, durable, err, sizeof err) < 0)
                tap_diag("  durable: %s", err);
        }
        dcv_xfer_rx_info(rx, &ri);
        if (ri.pending + ri.outstanding > res->max_in_window)
            res->max_in_window = ri.pending + ri.outstanding;

        /* the receiver dies: unsynced writes and messages in flight are lost */
        if (cfg->crash && !res->crashed && durable >= cfg->size * 2 / 5 && durable < cfg->size) {
            res->crashed = 1;
            res->crash_durable = durable;
            memset(dst + durable, 0xEE, cfg->size - durable);
            ch_clear(&ch);
            ch.credit_due = 0;
            dcv_xfer_rx_free(&rx);
            epoch++;
            rx = sim_rx(cfg, durable, want, now);
            dcv_xfer_rx_info(rx, &ri);
            res->resume_offset = ri.resume_offset;
            for (uint64_t o = 0; o < ri.resume_offset; o += 100000) {
                uint64_t n = ri.resume_offset - o < 100000 ? ri.resume_offset - o : 100000;
                if (dcv_xfer_rx_prefix(rx, dst + o, n, err, sizeof err) < 0)
                    tap_bail("prefix: %s", err);
            }
            written = durable = ri.resume_offset;
            await_credit = 1;
        }

        dcv_xfer_rx_tick(rx, now, err, sizeof err);
    }

    res->end_ms = now;
    res->rx_state = dcv_xfer_rx_state(rx);
    snprintf(res->reason, sizeof res->reason, "%s", dcv_xfer_rx_reason(rx));
    if (res->rx_state == DCV_XFER_COMMITTED || res->rx_state == DCV_XFER_MISMATCH)
        dcv_xfer_tx_commit(tx, res->rx_state == DCV_XFER_COMMITTED, err, sizeof err);
    res->tx_state = dcv_xfer_tx_state(tx);
    res->bytes_equal = memcmp(src, dst, cfg->size) == 0;
    dcv_xfer_rx_info(rx, &ri);
    uint8_t real[DCV_SHA256_LEN];
    sha_of(src, cfg->size, real);
    res->digest_equal = ri.have_digest && memcmp(ri.digest, real, DCV_SHA256_LEN) == 0;
    res->rx_resets = ri.resets;
    struct dcv_xfer_tx_info ti;
    dcv_xfer_tx_info(tx, &ti);
    res->tx_resets = ti.resets;

    ch_clear(&ch);
    free(ch.m);
    dcv_xfer_rx_free(&rx);
    dcv_xfer_tx_free(&tx);
    free(src);
    free(dst);
}

static void test_sim_lossy(uint64_t seed)
{
    struct sim_cfg cfg = {.seed = seed,
                          .size = 3 * 1024 * 1024 + 512 * 1024 + 12345,
                          .cm = 64 * 1024,
                          .window = 4,
                          .drop_pct = 5,
                          .dup_pct = 5,
                          .jitter_ms = 4,
                          .credit_drop_pct = 5,
                          .crash = 1,
                          .corrupt = 1};
    struct sim_result r;
    run_sim(&cfg, &r);
    tap_diag("seed %" PRIu64 ": %" PRIu64 " ms, %" PRIu64 " chunks sent for %zu, drops %" PRIu64
             " dups %" PRIu64 " credit drops %" PRIu64 ", rejected: crc %d dup %d gap %d, "
             "resets rx %" PRIu64 " tx %" PRIu64 ", crash at %" PRIu64 " resumed at %" PRIu64,
             seed, r.end_ms, r.chunks_sent, (cfg.size + cfg.cm - 1) / cfg.cm, r.drops, r.dups,
             r.credit_drops, r.crc_rejected, r.dup_rejected, r.gap_rejected, r.rx_resets,
             r.tx_resets, r.crash_durable, r.resume_offset);
    if (!tap_ok(r.rx_state == DCV_XFER_COMMITTED && r.tx_state == DCV_XFER_COMMITTED,
                "sim %" PRIu64 ": both sides committed", seed))
        tap_diag("  rx %s (%s), tx %s", dcv_xfer_state_name(r.rx_state), r.reason,
                 dcv_xfer_state_name(r.tx_state));
    TAP_OK(r.bytes_equal, "sim %" PRIu64 ": reassembled bytes equal the source", seed);
    TAP_OK(r.digest_equal, "sim %" PRIu64 ": receiver's sha256 equals the source's", seed);
    TAP_OK(r.window_violations == 0,
           "sim %" PRIu64 ": the sender never went beyond durable + window (%d times)", seed,
           r.window_violations);
    TAP_OK(r.max_in_window <= cfg.window,
           "sim %" PRIu64 ": credit outstanding + pending writes <= window (max %u)", seed,
           r.max_in_window);
    TAP_OK(r.crashed && r.resume_offset == r.crash_durable / cfg.cm * cfg.cm &&
               r.resume_offset > 0,
           "sim %" PRIu64 ": receiver restarted from its durable offset", seed);
    TAP_OK(r.resumed_ok && r.first_after_resume == r.resume_offset,
           "sim %" PRIu64 ": sender restarted at the resume offset (%" PRIu64 ")", seed,
           r.first_after_resume);
    TAP_OK(r.crc_rejected >= 1, "sim %" PRIu64 ": flipped bit rejected by crc32c", seed);
    TAP_OK(r.drops > 0 && r.dups > 0 && r.dup_rejected > 0 && r.gap_rejected > 0,
           "sim %" PRIu64 ": the channel really lost, duplicated and reordered", seed);
}

static void test_sim_clean(void)
{
    struct sim_cfg cfg = {.seed = 42, .size = 1024 * 1024, .cm = 64 * 1024, .window = 4};
    struct sim_result r;
    run_sim(&cfg, &r);
    TAP_OK(r.rx_state == DCV_XFER_COMMITTED && r.bytes_equal && r.digest_equal,
           "clean channel: committed, bytes and digest equal");
    TAP_OK(r.chunks_sent == 16 && r.rx_resets == 1 && r.tx_resets == 0,
           "clean channel: no retransmission (%" PRIu64 " chunks, %" PRIu64 " resets)",
           r.chunks_sent, r.rx_resets);
    TAP_IS_INT(r.max_in_window, 4, "clean channel: the whole window is used");

    cfg.wrong_sha = 1;
    run_sim(&cfg, &r);
    TAP_IS_INT(r.rx_state, DCV_XFER_MISMATCH, "wrong expected sha256: receiver reports mismatch");
    TAP_HAS_STR(r.reason, "sha256 mismatch", "mismatch reason");
    TAP_IS_INT(r.tx_state, DCV_XFER_MISMATCH, "wrong expected sha256: sender's COMMIT failed");
    TAP_OK(r.bytes_equal, "mismatch: the bytes themselves arrived intact");

    /* odd sizes: an empty file, a single partial chunk, an exact multiple */
    size_t sizes[] = {0, 1, 65536, 3 * 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct sim_cfg c2 = {.seed = 5 + i, .size = sizes[i], .cm = 64 * 1024, .window = 2,
                             .drop_pct = 10, .jitter_ms = 3};
        run_sim(&c2, &r);
        TAP_OK(r.rx_state == DCV_XFER_COMMITTED && r.tx_state == DCV_XFER_COMMITTED &&
                   r.bytes_equal && r.digest_equal,
               "lossy transfer of %zu bytes committed intact", sizes[i]);
    }
}

int main(void)
{
    fill_random(small, sizeof small, 3);
    sha_of(small, sizeof small, small_sha);

    test_crc32c();
    test_sha256();
    test_chunk_codec();
    test_credit_codec();
    test_rx_basic();
    test_rx_violations();
    test_rx_stall();
    test_rx_resume();
    test_tx();
    test_sim_clean();
    for (uint64_t seed = 1; seed <= 4; seed++)
        test_sim_lossy(seed);
    return tap_done();
}
