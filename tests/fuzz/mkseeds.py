#!/usr/bin/env python3
"""Write the fuzz seed corpus (tests/fuzz/corpus/<harness>/) from the
messages below: valid ones (ok-*: a harness must accept them) and broken
ones (bad-*: it must refuse them). Binary inputs are written as .hex text.

    python3 tests/fuzz/mkseeds.py        # from the source tree's root

Run it after a protocol change and commit the result; the harness formats
are described in tests/fuzz/fuzz.h and each fuzz_<name>.c.
"""
import json
import os
import shutil
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
JOBID = "0123456789abcdef0123456789abcdef"
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
FENCE = {"job_id": JOBID, "attempt": 2, "session": "s-1"}
DEVICE = {
    "plugin": "x264", "bench_fps": 120.5, "available": True, "hardware": False,
    "hw_type": "none", "device_id": "cpu", "device_name": "x264 (CPU)", "max_sessions": 0,
    "sessions_scope": "unlimited", "sessions_source": "none", "flags": ["ten-bit"],
    "unavailable_reason": "",
    "codecs": [{"codec": "h264", "encoder": "libx264", "profiles": "high", "max_width": 16384,
                "max_height": 16384, "bit_depths": [8, 10], "pix_fmts": ["yuv420p"]}],
}
TELEMETRY = {
    "cpu_pct": 12.5, "load1": 0.7, "ncpu": 8, "mem_total": 1000, "mem_avail": 500,
    "disk_total": 2000, "disk_free": 100, "slots_used": 1, "busy": False, "draining": False,
    "jobs": [{"job_id": JOBID, "attempt": 1, "progress": 5}],
}

# (plane, cmd, name, body) of valid messages
VALID = [
    ("control", 0x01, "HELLO", {
        "worker_id": "w1", "session": "ab12", "proto_min": 1, "proto_max": 1, "host": "boot-1",
        "hostname": "box", "version": "0.1.0", "slots": 2,
        "plugins": [{"name": "enc-x264", "version": "1.0", "abi_minor": 0}],
        "devices": [DEVICE], "running": [{"job_id": JOBID, "attempt": 1, "progress": 50}],
        "paths": ["/srv/media", "/var/lib/distconv"]}),
    ("control", 0x02, "WELCOME", {
        "session": "ab12", "coordinator_epoch": "e1", "proto": 1, "hb_ivl_ms": 2000,
        "liveness": 3, "chunk_max": 1048576, "credit_chunks": 8,
        "data_endpoint": "tcp://127.0.0.1:7401"}),
    ("control", 0x03, "HEARTBEAT", {"telemetry": TELEMETRY}),
    ("control", 0x03, "HEARTBEAT", {}),
    ("control", 0x04, "JOB", dict(FENCE, input={
        "kind": "xfer", "xfer_id": 42, "size": 1000, "sha256": SHA, "mode": "stream",
        "name": "in.mp4"}, profile={"codec": "hevc", "crf": 24, "preset": "fast", "x": True,
                                    "q": 1.5}, deadline_ms=1700000000000)),
    ("control", 0x04, "JOB", dict(FENCE, input={"kind": "path", "path": "/srv/media/a.mkv"},
                                  profile={"codec": "h264"})),
    ("control", 0x05, "ACCEPT", dict(FENCE, plugin="x265", encoder="libx265", device_id="cpu")),
    ("control", 0x06, "REJECT", dict(FENCE, code="busy", message="no session", retryable=True)),
    ("control", 0x07, "PROGRESS", dict(FENCE, phase="encode", pct=33.5, frames=100, fps=60)),
    ("control", 0x08, "DONE", dict(FENCE, output={"xfer_id": 7, "size": 10, "sha256": SHA},
                                   frames=300, elapsed_ms=1234)),
    ("control", 0x09, "FAIL", dict(FENCE, code="encode", message="boom", retryable=False)),
    ("control", 0x0A, "CANCEL", dict(FENCE, reason="operator")),
    ("control", 0x0B, "DRAIN", {"draining": True}),
    ("control", 0x0F, "DISCONNECT", {"reason": "bye"}),
    ("data", 0x20, "OFFER", dict(FENCE, purpose="output", xfer_id=9, size=100, sha256=SHA,
                                 chunk_max=1048576)),
    ("data", 0x20, "OFFER", {"purpose": "upload", "xfer_id": 10, "size": 0, "sha256": SHA,
                             "chunk_max": 4096}),
    ("data", 0x24, "FETCH", dict(FENCE, purpose="input", xfer_id=9, size=100, sha256=SHA,
                                 chunk_max=65536, range=True)),
    ("data", 0x24, "FETCH", {"purpose": "download", "xfer_id": 11}),
    ("data", 0x23, "COMMIT", {"xfer_id": 9, "ok": True, "size": 100, "sha256": SHA}),
    ("data", 0x2F, "ABORT", {"xfer_id": 9, "code": "transfer", "message": "stall"}),
    ("admin", 0x40, "REQUEST", {
        "req_id": "r1", "verb": "submit", "idempotency_key": "k-1/x", "args": {
            "profile": {"codec": "h264"}, "input": {"kind": "upload", "xfer_id": 5, "size": 10,
                                                   "sha256": SHA, "name": "a.mkv"},
            "prio_class": "high", "priority": 5, "max_attempts": 3}}),
    ("admin", 0x40, "REQUEST", {"req_id": "r2", "verb": "submit", "args": {
        "profile": {"codec": "hevc", "crf": 28}, "input": {"kind": "url",
                                                          "source": "https://example.org/a.mkv"}}}),
    ("admin", 0x40, "REQUEST", {"req_id": "r3", "verb": "jobs", "args": {
        "state": "queued", "limit": 10, "offset": 0}}),
    ("admin", 0x40, "REQUEST", {"req_id": "r4", "verb": "status", "args": {"job_id": JOBID}}),
    ("admin", 0x40, "REQUEST", {"req_id": "r5", "verb": "drain", "args": {"worker_id": "w1"}}),
    ("admin", 0x40, "REQUEST", {"req_id": "r6", "verb": "get", "args": {"job_id": JOBID,
                                                                       "what": "input"}}),
    ("admin", 0x40, "REQUEST", {"req_id": "r7", "verb": "info", "args": {}}),
    ("admin", 0x41, "PARTIAL", {"req_id": "r1", "status": 202, "body": {"state": "running"}}),
    ("admin", 0x42, "FINAL", {"req_id": "r1", "status": 404, "error": "no such job",
                              "body": {"a": [1, 2]}}),
    ("admin", 0x42, "FINAL", {"req_id": "r1", "status": 200}),
]

# (name, raw body text) that the decoder must refuse
INVALID = [
    ("HELLO", '{"worker_id":"w 1","session":"s","proto_min":1,"proto_max":1,"host":"h",'
              '"slots":1,"plugins":[],"devices":[],"running":[]}'),
    ("HELLO", '{"worker_id":"w","session":"s","proto_min":2,"proto_max":1,"host":"h",'
              '"slots":1,"plugins":[],"devices":[],"running":[]}'),
    ("JOB", '{"job_id":"%s","attempt":1001,"session":"s","input":{"kind":"path","path":"/a"},'
            '"profile":{}}' % JOBID),
    ("JOB", '{"job_id":"%s","attempt":1,"session":"s","input":{"kind":"path",'
            '"path":"/a/../etc"},"profile":{}}' % JOBID),
    ("COMMIT", '{"xfer_id":9007199254740993,"ok":true,"size":1,"sha256":"%s"}' % SHA),
    ("DISCONNECT", '{"reason":"a\\u0000b"}'),
    ("DISCONNECT", '{"reason":"\xed\xa0\x80"}'),
    ("DISCONNECT", '{"reason":"x"} trailing'),
    ("DRAIN", '[' * 40 + ']' * 40),
    ("REQUEST", '{"req_id":"r","verb":"status","args":{}}'),
    ("REQUEST", '{"req_id":"r","verb":"submit","args":{"profile":{"a":{"b":1}},'
                '"input":{"kind":"path","source":"/x"}}}'),
    ("FINAL", '{"req_id":"r","status":418}'),
]


def body(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def frames(*fs):
    out = b""
    for f in fs:
        out += struct.pack("<H", len(f)) + f
    return out


def write(harness, name, data, hexed=False):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    if hexed:
        text = "# %s\n" % name + "\n".join(data[i:i + 32].hex() for i in range(0, len(data), 32))
        with open(os.path.join(d, name + ".hex"), "w") as f:
            f.write(text + "\n")
    else:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


SIG = {"control": b"DCVW1", "data": b"DCVD1", "admin": b"DCVA1"}


def chunk_hdr(xfer, off, ln, flags, crc, reserved=0):
    return struct.pack("<QQIIII", xfer, off, ln, flags, crc, reserved)


def credit(xfer, off, chunks, reserved=0):
    return struct.pack("<QQII", xfer, off, chunks, reserved)


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    seen = {}
    for plane, cmd, name, obj in VALID:
        n = seen[name] = seen.get(name, 0) + 1
        tag = "%s%d" % (name.lower(), n)
        write("json", "ok-" + tag, name.encode() + b"\n" + body(obj))
        write(plane, "ok-" + tag, frames(SIG[plane], bytes([cmd]), body(obj)), True)
    for i, (name, text) in enumerate(INVALID):
        write("json", "bad-%02d-%s" % (i, name.lower()), name.encode() + b"\n" + text.encode("latin-1"))

    # frame-level breakage
    w = SIG["control"]
    good = body({"reason": "bye"})
    write("control", "bad-signature", frames(b"DCVW2", b"\x0f", good), True)
    write("control", "bad-other-plane", frames(SIG["data"], b"\x0f", good), True)
    write("control", "bad-unknown-cmd", frames(w, b"\x0c", good), True)
    write("control", "bad-cmd-2-bytes", frames(w, b"\x0f\x00", good), True)
    write("control", "bad-4-frames", frames(w, b"\x0f", good, b"x"), True)
    write("control", "bad-empty-body", frames(w, b"\x0f", b""), True)
    write("control", "bad-hello-body", frames(w, b"\x01", b'{"worker_id":1}'), True)
    write("admin", "bad-final-418", frames(SIG["admin"], b"\x42", b'{"req_id":"r","status":418}'),
          True)

    d = SIG["data"]
    payload = b"hello, chunk"
    crc = 0  # harnesses do not check it; the receiver does
    write("data", "ok-chunk", frames(d, b"\x22", chunk_hdr(9, 0, len(payload), 1, crc), payload), True)
    write("data", "ok-chunk-empty-last", frames(d, b"\x22", chunk_hdr(9, 0, 0, 1, 0), b""), True)
    write("data", "ok-credit", frames(d, b"\x21", credit(9, 0, 8)), True)
    write("data", "bad-credit-zero", frames(d, b"\x21", credit(9, 0, 0)), True)
    write("data", "bad-credit-reserved", frames(d, b"\x21", credit(9, 0, 1, 5)), True)
    write("data", "bad-credit-short", frames(d, b"\x21", credit(9, 0, 1)[:20]), True)
    write("data", "bad-chunk-flags", frames(d, b"\x22", chunk_hdr(9, 0, 3, 6, 0), b"abc"), True)
    write("data", "bad-chunk-overflow",
          frames(d, b"\x22", chunk_hdr(9, 2**64 - 2, 16, 1, 0), b"x" * 16), True)
    write("data", "bad-chunk-3-frames", frames(d, b"\x22", chunk_hdr(9, 0, 0, 1, 0)), True)

    # xfer harness: mode byte + record(s)
    X = "xfer"
    write(X, "ok-chunk", b"\x00" + struct.pack("<I", 65536) + chunk_hdr(1, 65536, 100, 1, 0)
          + b"p" * 100, True)
    write(X, "bad-chunk-len", b"\x00" + struct.pack("<I", 4096) + chunk_hdr(1, 0, 8192, 0, 0), True)
    write(X, "ok-credit", b"\x01" + credit(1, 4096, 3), True)
    write(X, "bad-credit-zero", b"\x01" + credit(1, 4096, 0), True)
    # sender: size 10000, chunk_max 4096 (index 4095 -> +1), credits: reset at 0,
    # extend, a reset backwards, one beyond the file
    write(X, "ok-sender", b"\x02" + struct.pack("<QI", 10000, 4095)
          + credit(7, 0, 1) + credit(7, 4096, 1) + credit(7, 0, 3) + credit(7, 8192, 9), True)
    write(X, "sender-misaligned", b"\x02" + struct.pack("<QI", 10000, 4095) + credit(7, 100, 1), True)
    # receiver: size 10000 (even raw: known), chunk_max 4096, window 2; ops:
    # credit, chunk (own id, right crc) at 0, durable all, credit, tick
    rx = b"\x03" + struct.pack("<QIH", 10000 << 1, 4095, 1)
    rx += b"\x02" + bytes([0 | 8 | 16]) + chunk_hdr(0, 0, 4096, 0, 0)
    rx += bytes([1 | 8]) + b"\x02" + bytes([3]) + b"\x40" + bytes([4])
    write(X, "ok-receiver", rx, True)
    rxu = b"\x03" + struct.pack("<QIH", 1, 4095, 7)  # size unknown, window 8
    rxu += b"\x02" + bytes([8 | 16]) + chunk_hdr(0, 0, 10, 1, 0) + bytes([1 | 8])
    write(X, "ok-receiver-unknown-size", rxu, True)

    # config harness: text files
    C = "config"
    write(C, "ok-empty", b"")
    write(C, "ok-coordinator", b'role = "coordinator";\nname = "coord-1";\n'
          b'bind = "tcp://*:7400";\nliveness = { heartbeat_ms = 300; misses = 3; };\n'
          b'queue = { max_attempts = 5; strategy = "round-robin"; };\n'
          b'shared_roots = [ "/srv/media", "/mnt/nas" ];\n')
    write(C, "ok-worker", b'role = "worker";\ncoordinator = "tcp://coord.lan:7400";\n'
          b'max_jobs = 2;\nworker = { disk_quota = 200000; path_map = [ "/srv/media=/mnt/media" ]; };\n'
          b'plugins = { x264 = { enabled = true; threads = 4; }; };\n')
    write(C, "bad-unknown-key", b"no_such_key = 1;\n")
    write(C, "bad-syntax", b'role = "worker"\nname = ;\n')
    write(C, "bad-type", b"max_jobs = \"two\";\n")
    write(C, "bad-range", b"max_jobs = 100000;\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
