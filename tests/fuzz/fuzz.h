/*
 * Protocol fuzz harnesses (docs/testing.md). Each harness is one
 * fuzz_<name>.c defining fz_one(); it is linked two ways:
 *   - with libFuzzer (configure --enable-fuzzers, clang): fuzz_libfuzzer.c
 *     turns it into tests/fuzz/fuzz-<name>, run for hours by scripts/fuzz;
 *   - with driver.c in every build: tests/fuzz/test_fuzz_<name>, a TAP test
 *     that runs the seed corpus and a fixed number of deterministic
 *     mutations of it, so plain, ASan and valgrind CI exercise the same code
 *     without clang.
 *
 * A harness checks properties, not just "no crash": a refusal always comes
 * with an error message, and whatever a decoder accepts re-encodes, decodes
 * again to the same struct and encodes to the same bytes (round trip). A
 * broken property calls fz_fail(), which aborts: libFuzzer and the driver
 * both report the input.
 */
#ifndef DCV_FUZZ_H
#define DCV_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* The harness: 1 when the input was accepted (decoded), 0 when refused. */
int fz_one(const uint8_t *data, size_t len);

/* A property does not hold: print, run the driver's hook, abort(). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Set by the driver: prints the input that broke a property. */
extern void (*fz_fail_hook)(void);

/* Decode a JSON body as the message `name` ("HELLO", "REQUEST", ...) and
 * round-trip it. 1 accepted, 0 refused, -1 unknown name. */
int fz_json(const char *name, const void *body, size_t len);

/* Decode the body of a command of plane (what a receiver does after
 * dcv_proto_parse): JSON round trip, or the CHUNK/CREDIT binary codec. */
int fz_body(const struct dcv_proto_msg *m);

/* Split data into frames (each: 2-byte little-endian length, then the
 * bytes; a length past the end takes the rest; at most 16 frames), check
 * them with dcv_proto_parse() for plane, round-trip the frame set through
 * dcv_proto_frames(), then decode the body with fz_body(). */
int fz_frames(enum dcv_proto_plane plane, const uint8_t *data, size_t len);

/* The binary data-plane records: CHUNK header (32 bytes, then payload) or
 * CREDIT (24 bytes); decode, and re-encode to the same bytes. */
int fz_chunk(const void *hdr, size_t len, uint32_t chunk_max, const void *payload,
             size_t payload_len);
int fz_credit(const void *body, size_t len);

#endif
