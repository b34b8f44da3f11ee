#!/bin/sh
# distconvd's command line end to end: --check-config, --probe, --transcode,
# exit codes, environment-only configuration, interrupt safety.
. "$DCV_TOP_SRCDIR/tests/lib.sh"

# --- usage and version ---------------------------------------------------
"$DISTCONVD" --version >"$TMP/v" 2>&1
ok $? "--version exits 0"
grep -q "plugin ABI 1\.[0-9]" "$TMP/v"; ok $? "--version names the plugin ABI"
"$DISTCONVD" --no-such-flag >"$TMP/o" 2>&1
[ $? -eq 2 ]; ok $? "unknown option exits 2"
grep -q "unknown option '--no-such-flag'" "$TMP/o"; ok $? "unknown option is named"
"$DISTCONVD" --transcode only-one-arg >"$TMP/o" 2>&1
[ $? -eq 2 ]; ok $? "--transcode with one argument exits 2"
"$DISTCONVD" --transcode a b --crf banana >"$TMP/o" 2>&1
[ $? -eq 2 ] && grep -q -- "--crf: expected" "$TMP/o"; ok $? "bad encode option exits 2 with the expectation"

# --- configuration ---------------------------------------------------------
: >"$TMP/empty.conf"
DISTCONV_ROLE=worker DISTCONV_NAME=box1 DISTCONV_STATE_DIR="$TMP/state" \
    "$DISTCONVD" -c "$TMP/empty.conf" --check-config --json >"$TMP/o" 2>&1
ok $? "empty file + environment is a complete configuration"
grep -q '"role":"worker"' "$TMP/o" && grep -q '"name":"box1"' "$TMP/o"
ok $? "environment values are applied"
printf 'role = "standalone";\nlog = {\n  level = "loud";\n};\n' >"$TMP/bad.conf"
"$DISTCONVD" -c "$TMP/bad.conf" --check-config >"$TMP/o" 2>&1
[ $? -eq 1 ]; ok $? "invalid value exits 1"
grep -q "$TMP/bad.conf:3: .*level.*expected" "$TMP/o"; ok $? "error names file, line 3 and the expectation"
"$DISTCONVD" -c "$TMP/bad.conf" --check-config --json >"$TMP/o" 2>/dev/null
grep -q '"valid":false' "$TMP/o" && grep -q 'bad.conf:3' "$TMP/o"; ok $? "--json reports the error as JSON"
"$DISTCONVD" -c "$TMP/does-not-exist.conf" --check-config >"$TMP/o" 2>&1
[ $? -eq 1 ] && grep -q "does-not-exist.conf" "$TMP/o"; ok $? "a missing -c file is an error naming it"
DISTCONV_LOG_LEVEL=loud "$DISTCONVD" -c "$TMP/empty.conf" --check-config >"$TMP/o" 2>&1
[ $? -eq 1 ] && grep -q "DISTCONV_LOG_LEVEL" "$TMP/o"; ok $? "a bad environment value names the variable"
"$DISTCONVD" -c "$DCV_TOP_SRCDIR/etc/distconvd.conf" --check-config >"$TMP/o" 2>&1
ok $? "the shipped etc/distconvd.conf validates"
# --check-config reads the key files the role will use (issue 11 A9: it
# said OK and the start failed on a missing key)
DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/cstate" DISTCONV_BIND="tcp://127.0.0.1:0" \
    DISTCONV_SECURITY_SECRET_KEY="$TMP/keys/none.key" \
    "$DISTCONVD" -c "$TMP/empty.conf" --check-config >"$TMP/o" 2>&1
[ $? -eq 1 ] && grep -q "coordinator's keys: .*$TMP/keys/none.key" "$TMP/o"
ok $? "--check-config fails on the coordinator's missing secret key, naming it"
mkdir -p "$TMP/keys" "$TMP/wd" "$TMP/ad"
"$DCV_TOP_BUILDDIR/cli/distconvctl" -q keygen --name coordinator --dir "$TMP/keys" >/dev/null
"$DCV_TOP_BUILDDIR/cli/distconvctl" -q keygen --name box1 --dir "$TMP/keys" >/dev/null
DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/cstate" DISTCONV_BIND="tcp://127.0.0.1:0" \
    DISTCONV_SECURITY_SECRET_KEY="$TMP/keys/coordinator.key" DISTCONV_SECURITY_WORKERS_DIR="$TMP/wd" \
    DISTCONV_SECURITY_ADMINS_DIR="$TMP/ad" \
    "$DISTCONVD" -c "$TMP/empty.conf" --check-config >"$TMP/o" 2>&1
ok $? "... and passes once the key is there"
DISTCONV_ROLE=worker DISTCONV_NAME=box1 DISTCONV_STATE_DIR="$TMP/state" \
    DISTCONV_COORDINATOR="tcp://127.0.0.1:7400" DISTCONV_SECURITY_SECRET_KEY="$TMP/keys/box1.key" \
    DISTCONV_SECURITY_COORDINATOR_KEY="$TMP/keys/nothere.pub" \
    "$DISTCONVD" -c "$TMP/empty.conf" --check-config --json >"$TMP/o" 2>&1
[ $? -eq 1 ] && grep -q '"valid":false' "$TMP/o" && grep -q "coordinator's public key.*nothere.pub" "$TMP/o"
ok $? "a worker's missing coordinator key fails --check-config --json, naming the file"
DISTCONV_ROLE=worker DISTCONV_STATE_DIR="$TMP/wstate" "$DISTCONVD" -c "$TMP/empty.conf" >"$TMP/o" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "no coordinator endpoint" "$TMP/o"
ok $? "role worker without a coordinator: exits 2 naming the setting (got $rc)"
: >"$TMP/notadir"
DISTCONV_STATE_DIR="$TMP/notadir/state" "$DISTCONVD" -c "$TMP/empty.conf" >"$TMP/o" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "state_dir $TMP/notadir/state" "$TMP/o"
ok $? "an unusable state_dir: exits 1 naming it (got $rc)"

# No action: the standalone service (coordinator + local worker) runs until
# SIGTERM, creating its state and work directories, then stops cleanly.
DISTCONV_STATE_DIR="$TMP/sa/state" "$DISTCONVD" -c "$TMP/empty.conf" >"$TMP/sa.log" 2>&1 &
pid=$!
i=0
while ! grep -q "registered with" "$TMP/sa.log" && kill -0 $pid 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
done
grep -q "running as standalone" "$TMP/sa.log" && grep -q "registered with" "$TMP/sa.log"
ok $? "standalone: the local worker registers with the coordinator"
[ $? -eq 0 ] || sed 's/^/# /' "$TMP/sa.log"
[ -d "$TMP/sa/state/work" ] && [ "$(stat -c %a "$TMP/sa/state")" = 750 ]
ok $? "standalone: state_dir and work_dir created (0750)"
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 0 ]; ok $? "SIGTERM stops the service with exit 0 (got $rc)"

# --- probe -------------------------------------------------------------------
"$DISTCONVD" -c "$TMP/empty.conf" --probe >"$TMP/probe.txt" 2>&1
ok $? "--probe exits 0"
grep -q "x264" "$TMP/probe.txt" && grep -q "libx264" "$TMP/probe.txt"; ok $? "--probe lists x264 with libx264"
# A hardware plugin that was built (configure may disable some); on this
# GPU-less machine it must report unavailable with a reason.
HW=""
for h in nvenc vaapi qsv; do [ -e "$DISTCONV_PLUGIN_DIR/enc-$h.so" ] && { HW=$h; break; }; done
"$DISTCONVD" -c "$TMP/empty.conf" --probe --json >"$TMP/probe.json" 2>/dev/null
ok $? "--probe --json exits 0"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p={x["name"]:x for x in d["plugins"] if x.get("name")}; assert p["x264"]["devices"][0]["available"]' "$TMP/probe.json"
ok $? "--probe --json is valid JSON with x264 available"
if [ -n "$HW" ] && ! ls /dev/dri/renderD* /dev/nvidiactl >/dev/null 2>&1; then
    grep -q "$HW" "$TMP/probe.txt" && grep -qi "unavailable" "$TMP/probe.txt"
    ok $? "--probe reports $HW unavailable (no GPU here)"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p={x["name"]:x for x in d["plugins"] if x.get("name")}; dev=p[sys.argv[2]]["devices"][0]; assert not dev["available"] and dev["unavailable_reason"]' "$TMP/probe.json" "$HW"
    ok $? "--probe --json: $HW unavailable with a reason"
else
    skip "no hardware plugin built, or a GPU is present" "--probe reports hardware unavailable"
    skip "no hardware plugin built, or a GPU is present" "--probe --json: hardware unavailable"
fi
# hevc through x265 when it was built, else h264
if [ -e "$DISTCONV_PLUGIN_DIR/enc-x265.so" ]; then CODEC=hevc; VIA=x265; else CODEC=h264; VIA=x264; fi

# --- transcode ---------------------------------------------------------------
gen_clip "$TMP/in.mkv" -f lavfi -i testsrc2=size=160x90:rate=25:duration=2 \
    -f lavfi -i sine=frequency=300:sample_rate=48000:duration=2 -c:v libx264 -preset ultrafast -c:a aac -shortest
"$DISTCONVD" -c "$TMP/empty.conf" --progress none --transcode "$TMP/in.mkv" "$TMP/out.mp4" \
    --codec $CODEC --preset 1 --audio aac >"$TMP/o" 2>&1
ok $? "--transcode to $CODEC mp4 exits 0"
[ "$(probe_field "$TMP/out.mp4" v:0 codec_name)" = $CODEC ]; ok $? "output video is $CODEC"
[ "$(probe_field "$TMP/out.mp4" a:0 codec_name)" = aac ]; ok $? "output audio is aac"
grep -q "via $VIA" "$TMP/o"; ok $? "the summary names the plugin used"
[ ! -e "$TMP/out.mp4.part" ]; ok $? "no .part file left after success"

"$DISTCONVD" -c "$TMP/empty.conf" --progress json --transcode "$TMP/in.mkv" "$TMP/out2.mkv" \
    --preset 1 >"$TMP/prog" 2>/dev/null
ok $? "--progress json transcode exits 0"
tail -n 1 "$TMP/prog" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["frames"] == 50 and d["percent"] > 99, d'
ok $? "--progress json ends with 50 frames at 100%"

head -c 100000 /dev/urandom >"$TMP/garbage.mkv"
"$DISTCONVD" -c "$TMP/empty.conf" --progress none --transcode "$TMP/garbage.mkv" "$TMP/g.mkv" >"$TMP/o" 2>&1
rc=$?
[ $rc -eq 1 ]; ok $? "garbage input exits 1 (got $rc)"
[ $rc -eq 1 ] || sed 's/^/# /' "$TMP/o"
grep -q "garbage.mkv" "$TMP/o"; ok $? "the error names the input"
[ ! -e "$TMP/g.mkv" ] && [ ! -e "$TMP/g.mkv.part" ]; ok $? "nothing written for a failed transcode"

"$DISTCONVD" -c "$TMP/empty.conf" --progress none --transcode "$TMP/in.mkv" "$TMP/o.mkv" --codec vp9 >"$TMP/o" 2>&1
[ $? -eq 1 ] && grep -q "vp9" "$TMP/o"; ok $? "a codec no plugin offers fails naming it"

# Interrupt: a longer clip, SIGINT mid-way -> exit 1, no output, no .part.
gen_clip "$TMP/long.mkv" -f lavfi -i testsrc2=size=640x360:rate=25:duration=30 -c:v libx264 -preset ultrafast
"$DISTCONVD" -c "$TMP/empty.conf" --progress none --transcode "$TMP/long.mkv" "$TMP/int.mkv" \
    --codec $CODEC --preset 7 >"$TMP/o" 2>&1 &
pid=$!
i=0; while [ ! -e "$TMP/int.mkv.part" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 1 ]; ok $? "SIGINT cancels the transcode (exit 1, got $rc)"
[ ! -e "$TMP/int.mkv" ] && [ ! -e "$TMP/int.mkv.part" ]; ok $? "an interrupted transcode leaves no file"

done_testing
