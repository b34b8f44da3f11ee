#!/bin/sh
# Hostile media against a real standalone distconvd (`distconvctl submit
# --wait`): a zero-byte file, a truncated clip, random bytes, a text file
# named .mkv, headers declaring absurd picture sizes -> FAILED within one
# attempt with a message naming the problem, the worker and the attempt;
# broken (jumping) timestamps -> repaired, and the output verifies. The
# daemon stays up and serves a normal job afterwards; job processes run
# under worker.job_memory_limit (not with AddressSanitizer: see
# docs/operations.md), and a limit too small fails the job, not the daemon.
# Then the library rules end to end: skip-if-target-met and
# keep-original-if-larger, the outcome in status/jobs, and `get` exit 4.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
CTL="$DCV_TOP_BUILDDIR/cli/distconvctl"
: >"$TMP/empty.conf"
T="timeout 120"
NAME=hostileworker
DPID=""

if [ ! -e "${DISTCONV_PLUGIN_DIR:-}/transport-zmq.so" ] || [ ! -x "$CTL" ]; then
    skip "transport-zmq or distconvctl not built" "hostile media"
    done_testing
    exit $?
fi

stop_daemon() {
    [ -n "$DPID" ] || return 0
    kill "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
    DPID=""
}
trap 'stop_daemon; _cleanup' EXIT

# start_daemon MEMORY-LIMIT: a standalone daemon (coordinator + local worker)
start_daemon() {
    mkdir -p "$TMP/state"
    rm -f "$TMP/state/admin.sock"
    DISTCONV_STATE_DIR="$TMP/state" DISTCONV_ROLE=standalone DISTCONV_NAME=$NAME \
        DISTCONV_JOB_MEMORY_LIMIT="$1" \
        "$DISTCONVD" -c "$TMP/empty.conf" >>"$TMP/daemon.log" 2>&1 &
    DPID=$!
    i=0
    while [ $i -lt 200 ] && kill -0 "$DPID" 2>/dev/null; do
        if ctl workers --json >"$TMP/w.json" 2>/dev/null &&
            pyjson "$TMP/w.json" 'any(w["state"] == "online" for w in d["workers"])' 2>/dev/null; then
            return 0
        fi
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

export DISTCONV_STATE_DIR="$TMP/state"
ctl() { $T "$CTL" -c "$TMP/empty.conf" "$@"; }
pyjson() { # pyjson FILE PYTHON-EXPR-ON-d: exits 0 when the assertion holds
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert eval(sys.argv[2]), d' "$1" "$2"
}
show() { sed 's/^/# /' "$@"; }

# 2 GiB: ample for a 160x120 x264 job (it needs about 1), and a bound.
LIMIT=2147483648
# The daemon ignores the limit when built with AddressSanitizer.
ASAN=${DCV_SANITIZERS:-no}
ldd "$DISTCONVD" 2>/dev/null | grep -q libasan && ASAN=yes
if [ "$ASAN" = yes ]; then
    diag "AddressSanitizer build: job processes run without worker.job_memory_limit"
fi
start_daemon $LIMIT
ok $? "standalone distconvd starts with its local worker online"

# --- media -----------------------------------------------------------------------
gen_clip "$TMP/clip.mkv" -f lavfi -i testsrc=size=160x120:rate=25:duration=4 \
    -f lavfi -i sine=duration=4 -c:v libx264 -preset ultrafast -c:a aac
size=$(stat -c %s "$TMP/clip.mkv")
head -c $((size * 30 / 100)) "$TMP/clip.mkv" >"$TMP/truncated.mkv"
: >"$TMP/zero.mkv"
# Fixed pseudo-random bytes: the same probe verdict on every run.
python3 -c "import random,sys; sys.stdout.buffer.write(random.Random(7).randbytes(200000))" >"$TMP/garbage.bin"
echo "This is a text file, not a film." >"$TMP/text.mkv"
# Raw video whose header declares 65535x65535 (FFmpeg refuses it itself)
# and 16000x16000 (FFmpeg would allocate 384 MB per frame: our guard).
{ printf 'YUV4MPEG2 W65535 H65535 F25:1 Ip A1:1 C420jpeg\nFRAME\n'; head -c 4096 /dev/zero; } >"$TMP/huge.y4m"
{ printf 'YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\nFRAME\n'; head -c 4096 /dev/zero; } >"$TMP/big.y4m"
# An IVF header declaring 65535x65535 in front of one tiny VP8 frame.
python3 - "$TMP/huge.ivf" <<'EOF'
import struct, sys
hdr = b"DKIF" + struct.pack("<HH4sHHIIII", 0, 32, b"VP80", 65535, 65535, 25, 1, 1, 0)
frame = b"\x9d" * 16
open(sys.argv[1], "wb").write(hdr + struct.pack("<IQ", len(frame), 0) + frame)
EOF
# MPEG-TS with timestamp jumps: +98 s between two halves, and a second file
# whose timestamps go back by 60 s. Repaired (the jump taken out, as the
# ffmpeg CLI does), so each encodes to about 4 s.
gen_clip "$TMP/a.ts" -f lavfi -i testsrc=size=160x120:rate=25:duration=2 -f lavfi \
    -i sine=duration=2 -c:v libx264 -preset ultrafast -c:a aac
gen_clip "$TMP/b.ts" -f lavfi -i testsrc=size=160x120:rate=25:duration=2 -f lavfi \
    -i sine=duration=2 -c:v libx264 -preset ultrafast -c:a aac -output_ts_offset 100
gen_clip "$TMP/c.ts" -f lavfi -i testsrc=size=160x120:rate=25:duration=2 -f lavfi \
    -i sine=duration=2 -c:v libx264 -preset ultrafast -c:a aac -output_ts_offset 60
cat "$TMP/a.ts" "$TMP/b.ts" >"$TMP/jump.ts"
cat "$TMP/c.ts" "$TMP/a.ts" >"$TMP/back.ts"

# --- a normal job first ------------------------------------------------------------
ctl submit "$TMP/clip.mkv" --preset 1 --wait --json >"$TMP/s.json" 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ] && pyjson "$TMP/s.json" 'd["state"] == "done" and d["outcome"] == "encoded"'
ok $? "a normal clip: done, outcome encoded (rc $rc)"
[ $? -eq 0 ] || { show "$TMP/e"; tail -n 20 "$TMP/daemon.log" | show; }
grep -q "output verified in .* of the .* encode): 100 video frames" "$TMP/daemon.log"
ok $? "the job process verified the output (decoded all 100 frames) and logged the cost"
grep "output verified in" "$TMP/daemon.log" | tail -n 1 | sed 's/.*job: /# /'

# --- hostile inputs: FAILED at once, with the reason ------------------------------------
# hostile FILE TEXT-IN-ERROR DESCRIPTION
hostile() {
    _f=$1; _t=$2; _d=$3
    ctl submit "$TMP/$_f" --max-attempts 3 --wait --json >"$TMP/h.json" 2>"$TMP/e"
    _rc=$?
    if [ $_rc -eq 1 ] && pyjson "$TMP/h.json" 'd["state"] == "failed" and d["attempt"] == 1' \
        2>/dev/null; then
        ok 0 "$_d: failed within one attempt (of 3)"
    else
        ok 1 "$_d: failed within one attempt (of 3)"; diag "exit $_rc"; show "$TMP/h.json" "$TMP/e"
    fi
    python3 - "$TMP/h.json" "$_t" "$NAME" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
err = d.get("error", "")
assert err.startswith("input: "), err
assert sys.argv[2] in err, (sys.argv[2], err)
assert "(worker %s, attempt 1)" % sys.argv[3] in err, err
EOF
    ok $? "$_d: the error says '$_t', names the worker and the attempt"
    [ $? -eq 0 ] || show "$TMP/h.json"
    ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$TMP/h.json" 2>/dev/null)
    ctl status "$ID" --json >"$TMP/st.json" 2>/dev/null &&
        pyjson "$TMP/st.json" 'len(d["attempts"]) == 1 and d["attempts"][0]["worker"] == "'$NAME'" and d["attempts"][0]["error"]'
    ok $? "$_d: the job record has one attempt, with its worker and error"
}
hostile zero.mkv "zero.mkv' is empty (0 bytes)" "a zero-byte file"
hostile truncated.mkv "the file is truncated or damaged" "the first 30% of a clip"
hostile garbage.bin "garbage.bin' is not readable media" "200 KB of random bytes"
hostile text.mkv "text.mkv' is not readable media" "a text file named .mkv"
hostile huge.y4m "Picture size 65535x65535 is invalid" "a y4m header declaring 65535x65535"
hostile big.y4m "declares 16000x16000 pixels, beyond the supported" "a y4m header declaring 16000x16000"
hostile huge.ivf "declares 65535x65535 pixels" "an ivf header declaring 65535x65535"

# --- broken timestamps: repaired, verified --------------------------------------------
for f in jump.ts back.ts; do
    rm -f "$TMP/out.mkv"
    ctl submit "$TMP/$f" --preset 1 --container mkv --wait -o "$TMP/out.mkv" >/dev/null 2>"$TMP/e"
    rc=$?
    d=$(probe_duration "$TMP/out.mkv" 2>/dev/null)
    [ $rc -eq 0 ] && python3 -c 'import sys; assert 3.5 < float(sys.argv[1]) < 4.5' "$d"
    ok $? "$f: timestamp jump repaired, the output verified and lasts 4 s (rc $rc, $d s)"
    [ $rc -eq 0 ] || show "$TMP/e"
done
grep -q "timestamp jump of 97.9[0-9]* s taken out" "$TMP/daemon.log" &&
    grep -q "timestamp jump of -6[0-9.]* s taken out" "$TMP/daemon.log"
ok $? "the log names each jump taken out"

# --- still serving ----------------------------------------------------------------------
kill -0 "$DPID" 2>/dev/null; ok $? "the daemon survived all of it"
ctl submit "$TMP/clip.mkv" --preset 1 --wait >/dev/null 2>"$TMP/e"
ok $? "and serves a normal job afterwards"

# --- library rules --------------------------------------------------------------------
rm -f "$TMP/out.mkv"
ctl submit "$TMP/clip.mkv" --codec h264 --skip-if-target-met --wait -o "$TMP/out.mkv" \
    >"$TMP/id" 2>"$TMP/e"
rc=$?
[ $rc -eq 4 ] && [ ! -e "$TMP/out.mkv" ] && [ ! -e "$TMP/out.mkv.part" ] &&
    grep -q "done, skipped: source is already h264 160x120 8-bit, within the target (no output: keep the original)" "$TMP/e"
ok $? "skip-if-target-met on an h264 source for h264: exit 4, skipped, no file written (rc $rc)"
[ $? -eq 0 ] || show "$TMP/e"
SKIP=$(cat "$TMP/id")
ctl status "$SKIP" --json >"$TMP/st.json" 2>/dev/null &&
    pyjson "$TMP/st.json" 'd["state"] == "done" and d["outcome"] == "skipped" and "already h264" in d["note"] and "output" not in d'
ok $? "status --json: done, outcome skipped, the note, no output object"
ctl status "$SKIP" >"$TMP/o" 2>&1
grep -q "^outcome .*skipped: source is already h264.*(no output: keep the original)" "$TMP/o"
ok $? "status shows the outcome and that there is no output"
ctl get "$SKIP" -o "$TMP/got.mkv" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 4 ] && [ ! -e "$TMP/got.mkv" ] && grep -q "has no output: skipped: .*keep the original file" "$TMP/e"
ok $? "get of a skipped job: exit 4 and why (rc $rc)"
ctl jobs >"$TMP/o" 2>&1
grep -q "^$(echo "$SKIP" | cut -c1-12) .*done (skipped)" "$TMP/o"
ok $? "jobs shows done (skipped)"

ctl submit "$TMP/clip.mkv" --codec hevc --preset 1 --skip-if-target-met --wait --json \
    >"$TMP/s.json" 2>"$TMP/e"
pyjson "$TMP/s.json" 'd["state"] == "done" and d["outcome"] == "encoded"'
ok $? "skip-if-target-met on an h264 source for hevc: encoded"

# A source squeezed to almost nothing, re-encoded losslessly: larger.
gen_clip "$TMP/small.mkv" -f lavfi -i testsrc=size=160x120:rate=25:duration=2 -c:v libx264 \
    -preset ultrafast -crf 51
ctl submit "$TMP/small.mkv" --crf 0 --preset 1 --keep-original-if-larger --wait --json \
    >"$TMP/s.json" 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ] && pyjson "$TMP/s.json" 'd["state"] == "done" and d["outcome"] == "kept-original" and "not smaller than the source" in d["note"]'
ok $? "keep-original-if-larger with a larger output: done, kept-original, the note (rc $rc)"
[ $? -eq 0 ] || show "$TMP/s.json" "$TMP/e"
ctl submit "$TMP/clip.mkv" --preset 1 --keep-original-if-larger --wait --json >"$TMP/s.json" 2>"$TMP/e"
pyjson "$TMP/s.json" 'd["outcome"] == "encoded" and "% of the source" in d["note"]'
ok $? "keep-original-if-larger with a smaller output: encoded, the note gives the ratio"

# --- the memory limit holds a job, not the daemon ----------------------------------------
if [ "$ASAN" = yes ]; then
    skip "AddressSanitizer build ignores worker.job_memory_limit" "a job over its memory limit fails alone"
else
    stop_daemon
    start_daemon 268435456 # 256 MiB: too little for x264's threads
    ok $? "restarted with a 256 MiB job memory limit"
    ctl submit "$TMP/clip.mkv" --max-attempts 1 --wait --json >"$TMP/s.json" 2>"$TMP/e"
    rc=$?
    [ $rc -eq 1 ] && pyjson "$TMP/s.json" 'd["state"] == "failed"'
    ok $? "a job over its memory limit fails (rc $rc): $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error", "?")[:120])' "$TMP/s.json" 2>/dev/null)"
    kill -0 "$DPID" 2>/dev/null; ok $? "the daemon is still up"
fi

stop_daemon
done_testing
