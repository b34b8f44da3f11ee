#!/bin/sh
# GPU-aware scheduling end to end, on "GPUs" made of the test-only fakegpu
# plugin (tests/plugins/fakegpu.c: libx264 posing as a hardware encoder
# whose sessions are counted across processes, with an events log):
#   1. two workers sharing one GPU never exceed its sessions;
#   2. with the GPU full: fallback encodes at once in software, reject fails
#      at once, queue fails after gpu-wait, queue without a short wait runs
#      once a session frees; fallback with the fakegpu named is refused at
#      submit (the workers probed it as hardware);
#   3. a GPU that has fewer sessions than it reports refuses one (-EBUSY):
#      the job costs no attempt, is held back and completes;
#   4. sessions NVML reports for other software (fake libnvidia-ml) leave
#      fewer for our jobs;
#   5. strategy gpu-aware sends a big job to the faster of two GPUs by the
#      workers' startup benchmark.
. "$DCV_TOP_SRCDIR/tests/lib.sh"

. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"
# ok_or STATUS NAME CMD...: ok, and CMD (diagnostics) when it failed
ok_or() { _st=$1 _nm=$2; shift 2; ok "$_st" "$_nm"; [ "$_st" -eq 0 ] || "$@"; }

FAKENVML=${FAKE_NVML:-$DCV_TOP_BUILDDIR/tests/plugins/.libs/libfakenvml.so}
if [ ! -e "$DCV_TOP_BUILDDIR/tests/plugins/.libs/fakegpu.so" ] ||
    [ ! -e "$DCV_TOP_BUILDDIR/stage/plugins/enc-x264.so" ]; then
    skip "fakegpu or enc-x264 not built" "GPU scheduling"
    done_testing
    exit $?
fi

# --- helpers --------------------------------------------------------------------
# The fakegpu events log of a GPU (its state_dir): the most sessions open
# at once in file order, and how many are open now.
_sessions() {
    python3 -c '
import os, sys
p = sys.argv[1] + "/events"
cur = top = 0
for l in (open(p) if os.path.exists(p) else []):
    w = l.split()
    if w and w[0] == "open":
        cur += 1
        top = max(top, cur)
    elif w and w[0] == "close":
        cur -= 1
print(top if sys.argv[2] == "max" else cur)' "$1" "$2"
}
max_open() { _sessions "$1" max; }
open_now() { _sessions "$1" now; }
n_events() { # n_events DIR WHAT: how many WHAT lines (open, close, busy)
    if [ -f "$1/events" ]; then grep -c "^$2 " "$1/events"; else echo 0; fi
}
status_json() { ctl status "$1" --json >"$TMP/st-$1.json" 2>/dev/null; }
jf() { status_json "$1" && jget "$TMP/st-$1.json" "$2"; }
wait_state() { wait_until "$1" job_state_is "$2" "$3"; }
# gpu_conf NAME KEY=VALUE...: plugins.d of a worker with one fakegpu
gpu_conf() { _n=$1; shift; fakegpu_dropin "$TMP/$_n.d" "$@"; }
start_gpu_worker() { # NAME SLOTS [VAR=value...]
    _n=$1 _s=$2; shift 2
    WORKER_ENV="DISTCONV_MAX_JOBS=$_s DISTCONV_PLUGIN_CONF_DIR=$TMP/$_n.d $*"
    start_worker "$_n"
    WORKER_ENV=
}
online() { # online NAME: that worker is online
    ctl workers --json >"$TMP/wo.json" 2>/dev/null &&
        [ "$(jget "$TMP/wo.json" "[w['state'] for w in d['workers'] if w['worker_id']=='$1'] == ['online']")" = True ]
}
stop_worker() { eval "_p=\$PID_$1"; kill -TERM "$_p" 2>/dev/null; wait "$_p" 2>/dev/null; }
submit() { submit_id "$@" --codec h264; }

_t0=$(date +%s)
at() { diag "$* (at $(($(date +%s) - _t0)) s)"; }

# --- media and cluster ------------------------------------------------------------
gen_clip "$TMP/media/s.mkv" -f lavfi -i "testsrc=size=64x64:rate=25:duration=1.2" -pix_fmt yuv420p \
    -c:v libx264 -preset ultrafast
gen_clip "$TMP/media/l.mkv" -f lavfi -i "testsrc=size=64x64:rate=25:duration=4" -pix_fmt yuv420p \
    -c:v libx264 -preset ultrafast
# Big by its header (duration x width x height is 32000 s x 64 x 64, more
# than a minute of 1080p) and cheap to encode: 32 frames.
gen_clip "$TMP/media/big.mkv" -f lavfi -i "testsrc=size=64x64:rate=1/1000:duration=32000" \
    -pix_fmt yuv420p -c:v libx264 -preset ultrafast

plugin_dir_fakegpu "$TMP/plug" enc-x264 transport-zmq
export DISTCONV_PLUGIN_DIR="$TMP/plug"
mkdir -p "$TMP/gpuS" "$TMP/gpuL" "$TMP/gpuN" "$TMP/gpuF" "$TMP/gpuW"

start_coordinator
# Two workers on one host sharing GPU-shared: same device id, same slot locks.
for w in wa wb; do
    gpu_conf $w device_id='"GPU-shared"' sessions=2 fps=20 state_dir="\"$TMP/gpuS\""
    start_gpu_worker $w 3
done
wait_until 30 workers_online 2
ok_or $? "coordinator and two workers sharing one fakegpu online" dump_logs

# --- 1. two workers, one GPU, 2 sessions ----------------------------------------
at "1. two workers"
ids=""
for i in 1 2 3 4; do
    ids="$ids $(submit "$TMP/media/s.mkv" --encoder fakegpu --gpu-policy queue)"
done
all=0
for id in $ids; do wait_state 40 "$id" done || { all=1; diag "job $id: $(jf "$id" "d['state']")"; }; done
ok_or $all "four GPU jobs on two workers sharing a 2-session GPU all complete" dump_logs
m=$(max_open "$TMP/gpuS")
[ "$m" = 2 ]
ok $? "never more than its 2 sessions open at once, and both used (max $m)"
[ "$(n_events "$TMP/gpuS" busy)" = 0 ]
ok $? "no session was ever refused: the coordinator counted the shared GPU once"
att=0
workers=""
for id in $ids; do
    [ "$(jf "$id" "d['attempt']")" = 1 ] || att=1
    [ "$(jget "$TMP/st-$id.json" "d['encoder']['encoder']")" = h264_fakegpu ] || att=1
    workers="$workers $(jget "$TMP/st-$id.json" "d['worker']")"
done
ok $att "each on the fakegpu, first attempt"
echo "$workers" | grep -q wa && echo "$workers" | grep -q wb
ok $? "both workers took jobs ($workers)"

# --- 2. policies with the GPU full ----------------------------------------------
at "2. policies"
# Fallback with an encoder that runs on hardware only has nothing to fall
# back to: refused at submit as --encoder hw is. Only the workers' probed
# DCV_CAP_HARDWARE tells the coordinator fakegpu is one (distconvctl's
# own check knows the shipped names only, so it lets these through).
for e in fakegpu h264_fakegpu; do
    ctl submit "$TMP/media/s.mkv" --codec h264 --encoder $e --gpu-policy fallback --json \
        >"$TMP/o" 2>"$TMP/e"
    rc=$?
    # accepted (the failure): cancelled, so it holds no session below
    [ $rc -ne 0 ] || ctl cancel "$(jget "$TMP/o" "d['job_id']")" >/dev/null 2>&1
    [ $rc -ne 0 ] && grep -qF "fallback needs a job that may run in software: use --encoder auto (--encoder $e runs on hardware only)" "$TMP/e"
    ok_or $? "--encoder $e --gpu-policy fallback: refused at submit, the workers probed it as hardware (rc $rc)" diag "$(cat "$TMP/e")"
done
# Two long jobs (100 frames at 20 fps: 5 s) hold both sessions; the
# verdicts on the others are compared with the moment the first of them
# let go (its close in the events log, the same wall clock as the job
# history's times).
: >"$TMP/gpuS/events"
f1=$(submit "$TMP/media/l.mkv" --encoder fakegpu --gpu-policy queue)
f2=$(submit "$TMP/media/l.mkv" --encoder fakegpu --gpu-policy queue)
two_open() { [ "$(n_events "$TMP/gpuS" open)" -ge 2 ]; }
wait_until 20 two_open
ok $? "two long jobs hold both sessions"
qt=$(submit "$TMP/media/s.mkv" --encoder auto --gpu-policy queue --gpu-wait 1)
qw=$(submit "$TMP/media/s.mkv" --encoder auto --gpu-policy queue)
rj=$(submit "$TMP/media/s.mkv" --encoder auto --gpu-policy reject)
fb=$(submit "$TMP/media/s.mkv" --encoder auto --gpu-policy fallback)
ended() { s=$(job_field "$1" "d['state']"); [ "$s" = done ] || [ "$s" = failed ]; }
for id in $qt $qw $rj $fb $f1 $f2; do wait_until 40 ended "$id"; done
# first_close: wall ms the first session was released
first_close=$(awk '$1 == "close" { print $5; exit }' "$TMP/gpuS/events")
# when ID EXPR-ON-h: time_ms of its first history entry h matching EXPR
when() { jf "$1" "min([h['time_ms'] for h in d['history'] if $2] or [0])"; }
before_close() { [ "$1" -gt 0 ] && [ "$1" -lt "${first_close:-0}" ]; }

[ "$(jf "$rj" "d['state']")" = failed ] && before_close "$(when "$rj" "h['to']=='failed'")"
ok $? "reject: failed while both sessions were held"
e=$(jf "$rj" "d.get('error','')")
echo "$e" | grep -q "GPU-shared.*2/2" && [ "$(jf "$rj" "d['attempt']")" = 1 ]
ok $? "reject: at once, no retry, the message names the full GPU and its count ($e)"

[ "$(jf "$fb" "d['state']")" = done ] && before_close "$(when "$fb" "h['to']=='assigned'")"
ok $? "fallback: placed while both sessions were held, and completes"
[ "$(jf "$fb" "d['encoder']['plugin']")" = x264 ] &&
    jget "$TMP/st-$fb.json" "'\n'.join(h['note'] for h in d['history'])" | grep -i fallback >/dev/null
fb_diag() { diag "$(jget "$TMP/st-$fb.json" "[d.get('encoder'), [h['note'] for h in d['history']]]")"; }
ok_or $? "fallback: encoded by x264, the history says fallback" fb_diag

t_fail=$(when "$qt" "h['to']=='failed'")
[ "$(jf "$qt" "d['state']")" = failed ] && before_close "$t_fail" &&
    [ $((t_fail - $(jf "$qt" "d['created_ms']"))) -ge 1000 ]
ok $? "queue with gpu-wait 1: failed after waiting 1 s, while the GPU stayed full"
e=$(jf "$qt" "d.get('error','')")
echo "$e" | grep -q "no GPU encoder session became free within 1 s"
ok $? "queue: the timeout says so ($e)"

t_as=$(when "$qw" "h['to']=='assigned'")
[ "$(jf "$qw" "d['state']")" = done ] && [ "$t_as" -ge "${first_close:-0}" ]
ok $? "queue without a short wait: placed once a session was free, and completes"
[ "$(jf "$qw" "d['encoder']['encoder']")" = h264_fakegpu ] && [ "$(jf "$qw" "d['attempt']")" = 1 ]
ok $? "queue: on the GPU, first attempt"
[ "$(jf "$f1" "d['state']")" = done ] && [ "$(jf "$f2" "d['state']")" = done ]
ok $? "the long jobs complete"
m=$(max_open "$TMP/gpuS")
[ "$m" = 2 ] && [ "$(n_events "$TMP/gpuS" busy)" = 0 ]
ok $? "still never more than 2 sessions, none refused (max $m)"
stop_worker wa
stop_worker wb

# --- 3. -EBUSY costs no attempt ---------------------------------------------------
at "3. -EBUSY"
# Reports 2 sessions, has 1 (a consumer card's per-machine cap).
gpu_conf wl device_id='"GPU-liar"' sessions=2 real_sessions=1 fps=20 state_dir="\"$TMP/gpuL\""
start_gpu_worker wl 2
wait_until 30 online wl
ok $? "worker with a GPU that has fewer sessions than it reports online"
b1=$(submit "$TMP/media/s.mkv" --encoder fakegpu --gpu-policy queue)
b2=$(submit "$TMP/media/s.mkv" --encoder fakegpu --gpu-policy queue)
wait_state 40 "$b1" done && wait_state 40 "$b2" done
ok_or $? "both jobs complete" dump_logs
[ "$(n_events "$TMP/gpuL" busy)" -ge 1 ]
ok $? "the GPU refused a session ($(n_events "$TMP/gpuL" busy) busy events)"
[ "$(n_events "$TMP/gpuL" busy)" = 1 ]
ok $? "once only: the lowered limit held until a session was free"
r=0
for id in $b1 $b2; do
    status_json "$id"
    [ "$(jget "$TMP/st-$id.json" "d['attempt']")" = 1 ] || r=1
    [ "$(jget "$TMP/st-$id.json" "sorted(set(h['attempt'] for h in d['history']))")" = "[1]" ] || r=1
done
ok $r "-EBUSY cost no attempt: both jobs finished on attempt 1, every history entry attempt 1"
jget "$TMP/st-$b1.json" "[h['event'] for h in d['history']]" >"$TMP/h1"
jget "$TMP/st-$b2.json" "[h['event'] for h in d['history']]" >>"$TMP/h1"
grep -q requeue_busy "$TMP/h1"
ok_or $? "the refused one went back to the queue as busy (history)" sed 's/^/# /' "$TMP/h1"
grep -q "GPU-liar refused a session with 1 in use: limit 1" "$TMP/coord.log"
ok $? "the coordinator logged the lowered limit"
stop_worker wl

# --- 4. sessions held by other software (NVML) ------------------------------------
at "4. sessions held"
if [ -e "$FAKENVML" ]; then
    echo "uuid=GPU-nv name=Fake_NV util=5 enc=10 sessions=1" >"$TMP/nvml.txt"
    gpu_conf wn device_id='"GPU-nv"' sessions=1 fps=20 state_dir="\"$TMP/gpuN\""
    start_gpu_worker wn 2 DISTCONV_NVML_LIBRARY="$FAKENVML" DCV_FAKE_NVML_FILE="$TMP/nvml.txt"
    nvml_seen() { ctl workers --json 2>/dev/null | grep -q '"enc_sessions": *1[,}]'; }
    wait_until 30 nvml_seen
    ok_or $? "the worker reports NVML's encoder sessions of GPU-nv" dump_logs
    nf=$(submit "$TMP/media/s.mkv" --encoder auto --gpu-policy fallback)
    wait_state 20 "$nf" done
    [ "$(jf "$nf" "d['encoder']['plugin']")" = x264 ] && [ "$(n_events "$TMP/gpuN" open)" = 0 ]
    ok $? "1 of its 1 session used by other software: an auto job falls back to software"
    nq=$(submit "$TMP/media/s.mkv" --encoder fakegpu --gpu-policy queue)
    sleep 2
    [ "$(jf "$nq" "d['state']")" = queued ] && [ "$(n_events "$TMP/gpuN" open)" = 0 ]
    ok $? "a GPU job waits while other software holds the session"
    echo "uuid=GPU-nv name=Fake_NV util=5 enc=10 sessions=0" >"$TMP/nvml.txt"
    nq_diag() {
        diag "job $(jf "$nq" "d['state']"), NVML sessions reported now: $(ctl workers --json 2>/dev/null |
            python3 -c 'import json,sys; print([g.get("enc_sessions") for w in json.load(sys.stdin)["workers"] for g in w["telemetry"].get("gpus", [])])')"
    }
    wait_state 15 "$nq" done
    ok_or $? "other software let go: the job runs on the GPU" nq_diag
    [ "$(jf "$nq" "d.get('encoder', {}).get('encoder')")" = h264_fakegpu ]
    ok_or $? "... on the fakegpu" diag "$(jf "$nq" "[d.get('encoder'), [(h['event'], h['note']) for h in d['history']]]")"
    stop_worker wn
else
    skip "fake libnvidia-ml not built" "NVML external sessions"
fi

# --- 5. gpu-aware: the big job to the faster GPU ----------------------------------
at "5. gpu-aware"
# The slower one's worker sorts first by name, so without the benchmark
# figures the tie-breaks would pick it.
kill -TERM "$COORD_PID"
wait "$COORD_PID" 2>/dev/null
cat >"$TMP/aware.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
queue = { strategy = "gpu-aware"; };
EOF
start_coordinator "$TMP/aware.conf"
cat >"$TMP/bench.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
worker = { benchmark_ms = 200; };
EOF
gpu_conf wa_slow device_id='"GPU-slow"' sessions=2 fps=4 state_dir="\"$TMP/gpuW\""
gpu_conf wz_fast device_id='"GPU-fast"' sessions=2 fps=0 state_dir="\"$TMP/gpuF\""
for w in wa_slow wz_fast; do
    WORKER_ENV="DISTCONV_MAX_JOBS=2 DISTCONV_PLUGIN_CONF_DIR=$TMP/$w.d DISTCONV_BENCHMARK=1"
    start_worker $w "$TMP/bench.conf"
    WORKER_ENV=
done
wait_until 60 workers_online 2
ok_or $? "two workers with a slow and a fast GPU online under gpu-aware" dump_logs
# They register first and measure in the background: wait for the figures.
measured() {
    ctl workers --json >"$TMP/wo.json" 2>/dev/null &&
        [ "$(jget "$TMP/wo.json" "sum(1 for w in d['workers'] if not w['benchmarking'])")" = 2 ]
}
wait_until 60 measured
fps_of() { jget "$TMP/wo.json" "[x['bench_fps'] for w in d['workers'] if w['worker_id']=='$1' for x in w['devices'] if x['plugin']=='fakegpu'][0]"; }
slow=$(fps_of wa_slow)
fast=$(fps_of wz_fast)
python3 -c "import sys; sys.exit(0 if 0 < $slow < $fast else 1)" 2>/dev/null
ok $? "their benchmark figures differ (slow $slow, fast $fast fps)"
bj=$(submit "$TMP/media/big.mkv" --encoder fakegpu --gpu-policy queue)
wait_state 40 "$bj" done
ok_or $? "the big job completes" dump_logs
[ "$(jf "$bj" "d['worker']")" = wz_fast ] && [ "$(jf "$bj" "d['encoder']['device_id']")" = GPU-fast ]
ok $? "gpu-aware sent it to the faster GPU ($(jf "$bj" "d.get('worker')"))"
stop_worker wa_slow
stop_worker wz_fast

# --- 6. a coordinator restart keeps counting a running GPU job -------------------
at "6. restart"
# One real session. A job holds it while the coordinator restarts; the
# worker re-attaches it (HELLO.running names its device) and a second GPU
# job must wait for it instead of being refused by the GPU.
mkdir -p "$TMP/gpuR"
gpu_conf wr device_id='"GPU-re"' sessions=1 fps=20 state_dir="\"$TMP/gpuR\""
start_gpu_worker wr 2
wait_until 30 online wr
ok $? "worker with a 1-session GPU online"
r1=$(submit "$TMP/media/l.mkv" --encoder fakegpu --gpu-policy queue)
one_open() { [ "$(open_now "$TMP/gpuR")" = 1 ]; }
wait_until 20 one_open
ok $? "a long job holds the session"
kill -TERM "$COORD_PID"
wait "$COORD_PID" 2>/dev/null
start_coordinator "$TMP/aware.conf"
wait_until 30 online wr
ok_or $? "coordinator restarted, the worker is back" dump_logs
r2=$(submit "$TMP/media/s.mkv" --encoder fakegpu --gpu-policy queue)
wait_state 40 "$r1" done && wait_state 40 "$r2" done
ok_or $? "both jobs complete" dump_logs
[ "$(max_open "$TMP/gpuR")" = 1 ] && [ "$(n_events "$TMP/gpuR" busy)" = 0 ] &&
    [ "$(jf "$r2" "d['attempt']")" = 1 ]
ok $? "the re-attached job's session was counted: the second waited, never refused ($(n_events "$TMP/gpuR" busy) busy)"
stop_worker wr

done_testing
