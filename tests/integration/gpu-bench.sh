#!/bin/sh
# The startup benchmark: `distconvd --benchmark [--json]` measures x264 and
# the test-only fakegpu plugin (throttled, so its figure is bounded by its
# fps setting); a worker with DISTCONV_BENCHMARK=1 registers first and
# measures in the background ("benchmarking" in `workers`: fakegpu's
# hold_file keeps the measuring going until the test lets it end, so that
# state is seen without racing it), then announces the figures in its
# heartbeats (the coordinator's `workers --json` shows them), keeps them in
# STATE_DIR/benchmark.json and announces them in HELLO at the next start
# while the fingerprint matches.
. "$DCV_TOP_SRCDIR/tests/lib.sh"

. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"
# ok_or STATUS NAME CMD...: ok, and CMD (diagnostics) when it failed
ok_or() { _st=$1 _nm=$2; shift 2; ok "$_st" "$_nm"; [ "$_st" -eq 0 ] || "$@"; }

if [ ! -e "$DCV_TOP_BUILDDIR/tests/plugins/.libs/fakegpu.so" ] ||
    [ ! -e "$DCV_TOP_BUILDDIR/stage/plugins/enc-x264.so" ]; then
    skip "fakegpu or enc-x264 not built" "benchmark"
    done_testing
    exit $?
fi

FPS=10
plugin_dir_fakegpu "$TMP/plug" enc-x264 transport-zmq
fakegpu_dropin "$TMP/plugins.d" device_id='"GPU-bench-1"' sessions=2 fps=$FPS \
    state_dir="\"$TMP/gpu\""
mkdir -p "$TMP/gpu"
cat >"$TMP/bench.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
worker = { benchmark_ms = 200; };
EOF
export DISTCONV_PLUGIN_DIR="$TMP/plug" DISTCONV_PLUGIN_CONF_DIR="$TMP/plugins.d"

# --- distconvd --benchmark ------------------------------------------------------
"$DISTCONVD" -c "$TMP/bench.conf" --benchmark --json >"$TMP/b.json" 2>"$TMP/b.err"
ok $? "distconvd --benchmark --json exits 0"
# figure PLUGIN FIELD: the field of PLUGIN's first result
figure() { jget "$TMP/b.json" "[r for r in d['results'] if r['plugin']=='$1'][0]$2"; }
x=$(figure x264 "['fps']" 2>/dev/null)
python3 -c "import sys; sys.exit(0 if float('$x') > 0 else 1)" 2>/dev/null
ok $? "x264 h264: a figure (fps $x)"
[ "$(figure x264 "['codec']")/$(figure x264 "['width']")x$(figure x264 "['height']")" = h264/1920x1080 ]
ok $? "measured on a generated 1080p clip"
g=$(figure fakegpu "['fps']" 2>/dev/null)
python3 -c "import sys; f=float('$g'); sys.exit(0 if 0 < f <= $FPS * 1.2 else 1)" 2>/dev/null
ok $? "fakegpu: a figure within its throttle of $FPS fps (fps $g)"
[ "$(figure fakegpu "['hardware']")" = True ] && [ "$(figure fakegpu "['device_id']")" = GPU-bench-1 ] &&
    [ "$(figure fakegpu "['encoder']")" = h264_fakegpu ]
ok $? "the fakegpu figure names its hardware device and encoder"
jget "$TMP/b.json" "d['fingerprint']" | grep -Eq '^[0-9a-f]{16}$'
ok $? "the report carries its fingerprint"
[ "$(jget "$TMP/b.json" "d['benchmark_ms']")" = 200 ]
ok $? "worker.benchmark_ms is the budget"
grep -q '^open GPU-bench-1 ' "$TMP/gpu/events"
ok $? "the benchmark opened a real fakegpu session (events log)"

"$DISTCONVD" -c "$TMP/bench.conf" --benchmark >"$TMP/b.txt" 2>/dev/null
rc=$?
grep -q '^PLUGIN' "$TMP/b.txt" && grep -Eq '^x264 +cpu +h264 +libx264 +[0-9]+\.[0-9]$' "$TMP/b.txt" &&
    grep -Eq '^fakegpu +GPU-bench-1 +h264 +h264_fakegpu +[0-9]+\.[0-9]$' "$TMP/b.txt"
ok_or $(( rc | $? )) "distconvd --benchmark prints the table" sed 's/^/# /' "$TMP/b.txt"

# --- a worker registers, measures in the background, announces its figures ----------
start_coordinator
# The gate: fakegpu's session open waits while this file exists.
cp -r "$TMP/plugins.d" "$TMP/plugins-held.d"
echo "hold_file = \"$TMP/hold\";" >>"$TMP/plugins-held.d/fakegpu.conf"
: >"$TMP/hold"
WORKER_ENV="DISTCONV_BENCHMARK=1 DISTCONV_PLUGIN_CONF_DIR=$TMP/plugins-held.d"
start_worker wb "$TMP/bench.conf"
WORKER_ENV=
wait_until 60 workers_online 1
ok_or $? "a worker without figures comes online while it measures" dump_logs
ctl workers --json >"$TMP/w0.json" 2>/dev/null
ctl workers >"$TMP/w0.txt" 2>/dev/null
[ "$(jget "$TMP/w0.json" "d['workers'][0]['benchmarking']")" = True ] &&
    [ "$(jget "$TMP/w0.json" "[x['bench_fps'] for x in d['workers'][0]['devices'] if x['plugin']=='fakegpu'][0]")" = -1.0 ] &&
    grep -q '^wb  *online,benchmarking ' "$TMP/w0.txt"
ok_or $? "workers: online,benchmarking, no figures yet (unknown speed)" sed 's/^/# /' "$TMP/w0.json" "$TMP/w0.txt"
# The measuring is a niced child of the worker.
bpid=$(pgrep -P "$PID_wb" | head -1)
[ -n "$bpid" ] && [ "$(ps -o ni= -p "$bpid" | tr -d ' ')" -ge 10 ]
ok $? "the benchmark runs in a child process niced by 10 (pid ${bpid:-none})"
rm -f "$TMP/hold"
benchmarked() {
    ctl workers --json >"$TMP/w.json" 2>/dev/null &&
        [ "$(jget "$TMP/w.json" "d['workers'][0]['benchmarking']")" = False ]
}
wait_until 60 benchmarked
ok_or $? "the benchmark ends: benchmarking false" dump_logs
# Recorded order: registered (worker log) before the figures were measured.
reg=$(grep -n 'registered with' "$TMP/wb.log" | head -1 | cut -d: -f1)
done_l=$(grep -n 'startup benchmark done: figures announced' "$TMP/wb.log" | head -1 | cut -d: -f1)
[ -n "$reg" ] && [ -n "$done_l" ] && [ "$reg" -lt "$done_l" ] &&
    grep -q 'worker wb: startup benchmark done' "$TMP/coord.log"
ok_or $? "registered (line $reg) before the benchmark was done (line $done_l); the coordinator logged it" dump_logs
dev() { jget "$TMP/w.json" "[x for x in d['workers'][0]['devices'] if x['plugin']=='$1'][0]$2"; }
python3 -c "import sys; sys.exit(0 if float('$(dev x264 "['bench_fps']" 2>/dev/null)') > 0 else 1)" 2>/dev/null &&
    [ "$(dev x264 "['bench'][0]['codec']" 2>/dev/null)" = h264 ]
ok_or $? "workers --json: x264's figure (bench_fps, bench[] per codec)" sed 's/^/# /' "$TMP/w.json"
python3 -c "import sys; f=float('$(dev fakegpu "['bench_fps']" 2>/dev/null)'); sys.exit(0 if 0 < f <= $FPS * 1.2 else 1)" 2>/dev/null
ok $? "workers --json: fakegpu's figure, within its throttle"
n=$(grep -c 'benchmark: .*fps at 1920x1080' "$TMP/wb.log")
[ "$n" -eq 2 ]
ok $? "one info line per figure in the worker's log ($n)"
[ -f "$TMP/wb/benchmark.json" ] && jget "$TMP/wb/benchmark.json" "len(d['results'])" | grep -qx 2
ok $? "the figures are kept in STATE_DIR/benchmark.json"
created=$(jget "$TMP/wb/benchmark.json" "d['created']")

# A restart with the same plugins reuses them; another budget measures again.
kill -TERM "$PID_wb"
wait "$PID_wb" 2>/dev/null
WORKER_ENV="DISTCONV_BENCHMARK=1"
start_worker wb "$TMP/bench.conf"
WORKER_ENV=
wait_until 30 sh -c "grep -q 'daemon.*running as worker' '$TMP/wb.log' && [ \$(grep -c 'running as worker' '$TMP/wb.log') -ge 2 ]"
grep -q "using the figures in $TMP/wb/benchmark.json" "$TMP/wb.log" &&
    [ "$(grep -c 'fps at 1920x1080 (cached)' "$TMP/wb.log")" -eq 2 ] &&
    [ "$(jget "$TMP/wb/benchmark.json" "d['created']")" = "$created" ]
ok_or $? "restarted with the same plugins: the cached figures, nothing measured" dump_logs
wait_until 30 workers_online 1
ctl workers --json >"$TMP/w.json" 2>/dev/null
python3 -c "import sys; sys.exit(0 if float('$(dev x264 "['bench_fps']" 2>/dev/null)') > 0 else 1)" 2>/dev/null
ok $? "the cached figures are announced too"

kill -TERM "$PID_wb"
wait "$PID_wb" 2>/dev/null
sed 's/benchmark_ms = 200/benchmark_ms = 150/' "$TMP/bench.conf" >"$TMP/bench2.conf"
WORKER_ENV="DISTCONV_BENCHMARK=1"
start_worker wb "$TMP/bench2.conf"
WORKER_ENV=
wait_until 60 sh -c "[ \$(grep -c 'startup benchmark done' '$TMP/wb.log') -ge 2 ]"
grep -q 'made for other plugins, devices or FFmpeg' "$TMP/wb.log" &&
    [ "$(jget "$TMP/wb/benchmark.json" "d['benchmark_ms']")" = 150 ]
ok_or $? "another budget: a stale fingerprint, measured and saved again" dump_logs

# A worker with the benchmark off announces none.
start_worker wn
wait_until 30 workers_online 2
ctl workers --json >"$TMP/w.json" 2>/dev/null
[ "$(jget "$TMP/w.json" "[x for w in d['workers'] if w['worker_id']=='wn' for x in w['devices'] if x['plugin']=='x264'][0]['bench_fps']")" = -1.0 ] &&
    [ ! -e "$TMP/wn/benchmark.json" ]
ok_or $? "DISTCONV_BENCHMARK=0: no figures, nothing measured" sed 's/^/# /' "$TMP/w.json"

done_testing
