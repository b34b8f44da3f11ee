#!/bin/sh
# Progress people can trust (issue 12): a running job's frames done / total,
# fps, speed and ETA in status/jobs (JSON and text), and the stall detector
# (queue.stall_after): flagged in the JSON, the CLI and /metrics, logged
# once, cleared when the encode moves again; with queue.stall_action
# "fail" the attempt fails as retryable and the history records it.
# The stall is made with the test-only fakegpu plugin: its `stall_file`
# holds the encode after `stall_at` frames for as long as the file exists,
# so every assertion reads a state that lasts until the test ends it.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"
ok_or() { _st=$1 _nm=$2; shift 2; ok "$_st" "$_nm"; [ "$_st" -eq 0 ] || "$@"; }

if [ ! -e "$DCV_TOP_BUILDDIR/tests/plugins/.libs/fakegpu.so" ] ||
    [ ! -e "$DCV_TOP_BUILDDIR/stage/plugins/enc-x264.so" ]; then
    skip "fakegpu or enc-x264 not built" "progress"
    done_testing
    exit $?
fi

unset DISTCONV_HTTP_BIND
HPORT=$(free_port)
cat >"$TMP/flag.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
queue = { stall_after = 3; };
http = { bind = "127.0.0.1:$HPORT"; };
EOF
cat >"$TMP/fail.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
queue = { stall_after = 3; stall_action = "fail"; retry_backoff_ms = 0; };
http = { bind = "127.0.0.1:$HPORT"; };
EOF

# 250 frames at 25 fps; the fakegpu encodes at most 25 a second and holds
# frame 101 while $TMP/stall exists.
gen_clip "$TMP/media/c.mkv" -f lavfi -i "testsrc=size=64x64:rate=25:duration=10" -pix_fmt yuv420p \
    -c:v libx264 -preset ultrafast
NFRAMES=$("$FFPROBE" -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of default=nw=1:nk=1 "$TMP/media/c.mkv")
[ "$NFRAMES" = 250 ]
ok $? "a 10 s clip at 25 fps: $NFRAMES frames"

plugin_dir_fakegpu "$TMP/plug" enc-x264 transport-zmq
export DISTCONV_PLUGIN_DIR="$TMP/plug"
fakegpu_dropin "$TMP/w1.d" device_id='"GPU-p"' sessions=2 fps=25 stall_at=100 \
    stall_file="\"$TMP/stall\""
WORKER_ENV="DISTCONV_PLUGIN_CONF_DIR=$TMP/w1.d"

start_coordinator "$TMP/flag.conf"
start_worker w1
wait_until 30 workers_online 1
ok_or $? "coordinator (queue.stall_after 3 s) and a worker with a fakegpu online" dump_logs

st() { ctl status "$1" --json >"$TMP/st.json" 2>/dev/null; }
pf() { jget "$TMP/st.json" "d['progress']$1"; }
stalled() { st "$1" && [ "$(pf "['stalled']")" = True ]; }

# --- 1. the figures, frozen by the stall --------------------------------------------
# First a job in each final state and one queued, so the scrape below has
# every state that is not fleeting: done, failed, cancelled, queued, running.
small=$(submit_id "$TMP/media/c.mkv" --codec h264 --encoder x264 --duration 1)
head -c 20000 /dev/urandom >"$TMP/media/noise.mkv"
bad=$(submit_id "$TMP/media/noise.mkv" --codec h264 --max-attempts 1)
wait_until 60 job_state_is "$small" done && wait_until 60 job_state_is "$bad" failed
ok_or $? "a job done, a job failed (not media)" dump_logs
gone=$(submit_id "$TMP/media/c.mkv" --codec av1)
ctl -q cancel "$gone" >/dev/null 2>&1
waits=$(submit_id "$TMP/media/c.mkv" --codec av1)
job_state_is "$gone" cancelled && job_state_is "$waits" queued
ok $? "a job cancelled, one queued (no av1 encoder)"
touch "$TMP/stall"
id=$(submit_id "$TMP/media/c.mkv" --codec h264 --encoder fakegpu)
wait_until 90 stalled "$id"
ok_or $? "the held encode is flagged stalled" dump_logs
python3 - "$TMP/st.json" "$NFRAMES" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); p = d['progress']; n = int(sys.argv[2])
def need(c, what):
    if not c:
        print("# not so: %s: %s" % (what, json.dumps(p))); sys.exit(1)
need(d['state'] == 'running' and p['phase'] == 'encode', "running, encode phase")
need(p['frames_total'] == n, "frames_total is the clip's frame count")
need(0 < p['frames'] <= 100 <= p['frames_total'], "frames done within what was let through")
# the throttle lets at most 25 frames a second through, and 25 frames are 1 s
need(0 < p['fps'] <= 25.5, "fps at most the throttle's")
need(0 < p['speed'] <= 1.05, "speed at most real time")
want = (p['frames_total'] - p['frames']) / p['fps']
need(p['eta_s'] is not None and p['eta_s'] >= 0 and abs(p['eta_s'] - want) <= 1,
     "eta_s = frames left / fps (%.1f)" % want)
need(p['idle_s'] >= 3 and p['last_progress_ms'] > 0, "idle at least stall_after")
EOF
ok_or $? "frames / frames_total / fps / speed / ETA are plausible" sed 's/^/# /' "$TMP/st.json"
frames=$(pf "['frames']")

ctl jobs >"$TMP/jobs.txt" 2>&1
grep -E "^${id%"${id#????????????}"} +running +encode [0-9]+% $frames/$NFRAMES fr [0-9]+ fps [0-9.]+x ETA [0-9]+:[0-9][0-9] stalled " "$TMP/jobs.txt" >/dev/null
ok_or $? "jobs: PROGRESS reads 'encode N% $frames/$NFRAMES fr F fps S.Sx ETA M:SS stalled'" sed 's/^/# /' "$TMP/jobs.txt"
ctl status "$id" >"$TMP/status.txt" 2>&1
grep -E "^progress +encode [0-9]+% $frames/$NFRAMES fr .* ETA [0-9]+:[0-9][0-9] stalled$" "$TMP/status.txt" >/dev/null &&
    grep -E "^stalled +no progress for [0-9]+ s \(last at " "$TMP/status.txt" >/dev/null
ok_or $? "status: the progress line and a stalled line" sed 's/^/# /' "$TMP/status.txt"
ctl jobs --json >"$TMP/jobs.json" 2>&1
[ "$(jget "$TMP/jobs.json" "[j['progress']['stalled'] for j in d['jobs'] if j['job_id']=='$id']")" = "[True]" ]
ok $? "jobs --json carries the progress object too"

curl -s -o "$TMP/m.txt" "http://127.0.0.1:$HPORT/metrics"
grep -qx 'distconv_jobs_stalled 1' "$TMP/m.txt"
ok_or $? "/metrics: distconv_jobs_stalled 1" grep distconv_jobs "$TMP/m.txt"
r=0
for state in done failed cancelled queued running; do
    grep -qx "distconv_jobs{state=\"$state\"} 1" "$TMP/m.txt" || r=1
done
ok_or $r "/metrics: one job in each of done, failed, cancelled, queued, running" grep distconv_jobs "$TMP/m.txt"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$TMP/m.txt" >"$TMP/promtool.out" 2>&1
    ok_or $? "promtool check metrics accepts that scrape" sed 's/^/# /' "$TMP/promtool.out"
else
    skip "promtool is not installed (Debian package prometheus)" "promtool check metrics"
fi

# Logged once, however long it stays stalled: wait till it is twice as old.
idle_at_least() { st "$1" && [ "$(pf "['idle_s']")" -ge "$2" ]; }
wait_until 60 idle_at_least "$id" 7
n=$(grep -c "job $id attempt 1 on w1 stalled: no progress for 3 s" "$TMP/coord.log")
[ "$n" = 1 ]
ok_or $? "one warning in the coordinator's log while it stays stalled ($n)" grep stall "$TMP/coord.log"

# --- 2. it moves again: the flag clears, the job ends on its first attempt ----------
rm -f "$TMP/stall"
wait_until 90 job_state_is "$id" done
ok_or $? "released, the job completes" dump_logs
[ "$(job_field "$id" "d['attempt']")" = 1 ]
ok $? "... on its first attempt (stall_action flag does not fail it)"
grep -q "job $id attempt 1 on w1: progress resumed after a stall of [0-9]* s" "$TMP/coord.log"
ok_or $? "the coordinator logs that progress resumed" grep -E "stall|resumed|$id" "$TMP/coord.log"
curl -s -o "$TMP/m.txt" "http://127.0.0.1:$HPORT/metrics"
grep -qx 'distconv_jobs_stalled 0' "$TMP/m.txt"
ok $? "/metrics: distconv_jobs_stalled back to 0"

# --- 3. stall_action "fail": retried, and the history says why ----------------------
kill -TERM "$COORD_PID"
wait "$COORD_PID" 2>/dev/null
start_coordinator "$TMP/fail.conf"
wait_until 30 workers_online 1
ok_or $? "coordinator restarted with queue.stall_action fail" dump_logs
touch "$TMP/stall"
id=$(submit_id "$TMP/media/c.mkv" --codec h264 --encoder fakegpu --max-attempts 2)
wait_until 120 job_state_is "$id" failed
ok_or $? "a job that stalls on every attempt fails once its attempts are spent" dump_logs
ctl status "$id" --json >"$TMP/st.json" 2>/dev/null
python3 - "$TMP/st.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
h = [(e['from'], e['to'], e['event'], e['attempt'], e['note']) for e in d['history']]
stalls = [e for e in h if e[2] == 'fail_retryable' and e[4].startswith('stalled: no progress for 3 s')]
ok = (len(stalls) == 2 and stalls[0][:2] == ('running', 'queued') and stalls[0][3] == 1 and
      stalls[1][:2] == ('running', 'failed') and stalls[1][3] == 2 and
      any(e[2] == 'assign' and e[3] == 2 for e in h) and
      d['error'].startswith('stalled: no progress for 3 s') and
      [(a['attempt'], a['outcome']) for a in d['attempts'] if a['outcome'] != 'busy'] ==
      [(1, 'retryable'), (2, 'failed')])
if not ok:
    print("# " + json.dumps(h) + " error=" + repr(d.get('error')))
sys.exit(0 if ok else 1)
EOF
ok_or $? "history: attempt 1 stalled -> queued, attempt 2 assigned, stalled -> failed" sed 's/^/# /' "$TMP/st.json"
grep -q "job $id attempt 1 on w1 stalled: no progress for 3 s (queue.stall_after 3 s): failing the attempt" "$TMP/coord.log"
ok_or $? "the coordinator logs the stall and that it fails the attempt" grep stall "$TMP/coord.log"
rm -f "$TMP/stall"

kill -TERM "$COORD_PID"
wait "$COORD_PID"
rc=$?
[ $rc -eq 0 ]; ok $? "the coordinator exits cleanly on SIGTERM (exit $rc)"
! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/coord.log" "$TMP/w1.log"
ok_or $? "no sanitizer report in the coordinator's or the worker's log" \
    grep -E -A5 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/coord.log" "$TMP/w1.log"

done_testing
