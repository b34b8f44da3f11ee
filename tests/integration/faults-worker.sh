#!/bin/sh
# A worker killed with SIGKILL in the middle of a data-plane transfer
# (issue 4, item 1; the kill in the middle of an encode is in cluster.sh):
#  - while its job process copies the input from the coordinator;
#  - while it uploads the output to the coordinator.
# Each time the job completes on the other worker, the attempt history says
# the first worker was lost, the output verifies (duration), and the
# coordinator keeps no part of the dead attempt's output (item 5). The
# requeued attempt waits out its retry back-off, and the job records until
# when (item 3; the `next_attempt_ms` status shows while it waits).
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

# Transfers go in 4 KiB chunks, one in flight: ~20 MB/s on loopback, so a
# 30 MB file takes more than a second and a poll every 0.1 s catches it.
cat >"$TMP/slow.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
transfer = { stream = "never"; chunk_size = 4096; credit_chunks = 1; };
queue = { retry_backoff_ms = 1500; retry_backoff_max_ms = 3000; };
EOF

# Noise does not compress: big files from a few seconds of video.
gen_clip "$TMP/raw.mkv" -f lavfi \
    -i "nullsrc=s=320x240:r=25:d=10,geq=lum='random(1)*255':cb=128:cr=128" -c:v rawvideo \
    -pix_fmt yuv420p
gen_clip "$TMP/media/noise.mkv" -f lavfi \
    -i "nullsrc=s=320x240:r=25:d=10,geq=lum='random(1)*255':cb=128:cr=128" -c:v libx264 \
    -preset ultrafast -crf 30
RAW_SIZE=$(stat -c %s "$TMP/raw.mkv")
diag "raw input: $RAW_SIZE bytes"

# Workers enrolled before the coordinator starts (with CURVE on): no
# allow-list reload races its start-up.
if command -v enroll >/dev/null 2>&1; then
    mkdir -p "$KEYS" "$TMP/workers.d" "$TMP/admins.d"
    for w in w1 w2; do enroll "$w"; done
fi
start_coordinator "$TMP/slow.conf"
# The workers read $TMP/media directly (no input transfer for --shared jobs).
export DISTCONV_PATH_MAP="$TMP/media=$TMP/media"
start_worker w1 "$TMP/slow.conf"
start_worker w2 "$TMP/slow.conf"
wait_until 30 workers_online 2
ok $? "coordinator and two workers up"

# The worker whose work dir holds a partly copied input, if any (to $TMP/partial).
partial_input() {
    for w in w1 w2; do
        for f in "$TMP/$w"/work/*/input*; do
            [ -f "$f" ] || continue
            s=$(stat -c %s "$f" 2>/dev/null) || continue
            if [ "$s" -gt 0 ] && [ "$s" -lt "$RAW_SIZE" ]; then
                echo "$w $s" >"$TMP/partial"
                return 0
            fi
        done
    done
    return 1
}
pid_of() { eval "echo \$PID_$1"; }
other_of() { if [ "$1" = w1 ]; then echo w2; else echo w1; fi; }
kill_worker() {
    p=$(pid_of "$1")
    kill -KILL "$p"
    wait "$p" 2>/dev/null
}
# waited_backoff JOB MIN MAX: from the coordinator's store (read-only),
# after the fact: attempt 1 went back to the queue at REQUEUED, the job
# stored its next attempt time NOT_BEFORE (what status shows as
# next_attempt_ms while it waits), MIN <= NOT_BEFORE - REQUEUED <= MAX, and
# attempt 2 started at or after NOT_BEFORE. Recorded times, so a slow host
# cannot miss a window. Prints what it found.
waited_backoff() {
    python3 - "$TMP/coord/jobs.db" "$@" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
j, lo, hi = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
req = db.execute("SELECT max(time_ms) FROM history WHERE job_id=? AND attempt=1 AND "
                 "to_state='QUEUED' AND from_state<>'QUEUED'", (j,)).fetchone()[0]
nb = db.execute("SELECT not_before_ms FROM jobs WHERE id=?", (j,)).fetchone()[0]
st = db.execute("SELECT min(started_ms) FROM attempts WHERE job_id=? AND attempt=2", (j,)).fetchone()[0]
if None in (req, nb, st):
    print("not recorded: requeued %s, next attempt %s, attempt 2 started %s" % (req, nb, st))
    sys.exit(1)
print("next attempt stored %d ms after the requeue (%d..%d), attempt 2 started %d ms after it"
      % (nb - req, lo, hi, st - nb))
sys.exit(0 if lo <= nb - req <= hi and st >= nb else 1)
EOF
}
no_file() { [ ! -e "$1" ]; }

# --- 1. killed while copying its input --------------------------------------
id=$(submit_id "$TMP/raw.mkv" --codec h264 --preset 1 --max-attempts 3)
[ -n "$id" ]; ok $? "job submitted (input uploaded: $RAW_SIZE bytes)"
wait_until 60 partial_input && out=$(cat "$TMP/partial") || out=""
victim=${out%% *}
if [ -n "$victim" ]; then
    kill_worker "$victim"
    diag "killed $victim with ${out#* } of $RAW_SIZE input bytes copied"
fi
[ -n "$victim" ]; ok $? "a worker killed in the middle of the input copy (${out:-no partial input seen})"
[ "$(job_field "$id" "d.get('worker')")" = "$victim" ]; ok $? "it was the job's worker"

wait_until 120 job_state_is "$id" done
ok $? "the job completes"
# retry_backoff_ms 1500: the first retry waits a random time in [750, 1500] ms.
why=$(waited_backoff "$id" 750 1500)
ok $? "the requeued job waited out its back-off: $why"
ctl status "$id" --json >"$TMP/s1.json" 2>/dev/null
other=$(other_of "$victim")
[ "$(jget "$TMP/s1.json" "d['attempt']")" = 2 ] && [ "$(jget "$TMP/s1.json" "d.get('worker')")" = "$other" ]
ok $? "on attempt 2, on $other"
why=$(jget "$TMP/s1.json" "[(a['worker'], a['outcome'], a['error']) for a in d['attempts'] if a['attempt']==1]")
case "$why" in *"'$victim', 'worker-lost', 'worker lost'"*) r=0 ;; *) r=1 ;; esac
ok $r "attempt 1's record says why: $why"
gap=$(jget "$TMP/s1.json" "[a['started_ms'] for a in d['attempts'] if a['attempt']==2][0] - [a['ended_ms'] for a in d['attempts'] if a['attempt']==1][0]")
[ "$gap" -ge 750 ]; ok $? "attempt 2 started after the back-off (>= 750 ms after attempt 1 ended: $gap ms)"
ctl get "$id" -o "$TMP/out1.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/out1.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 10.0) < 0.3 else 1)"
ok $? "its output is the whole 10 s ($d s)"

start_worker "$victim" "$TMP/slow.conf"
wait_until 30 workers_online 2
ok $? "$victim restarted"

# --- 2. killed while uploading its output -------------------------------------
# Lossless output of a noisy input: a few tens of MB to upload.
id=$(submit_id "$TMP/media/noise.mkv" --shared --codec h264 --qp 0 --preset 1)
[ -n "$id" ]; ok $? "second job submitted (shared input, lossless output)"
part="$TMP/coord/blobs/jobs/$id/out-1.part"
uploading() { [ -f "$part" ] && [ "$(stat -c %s "$part" 2>/dev/null || echo 0)" -gt 0 ]; }
wait_until 90 uploading
r=$?
victim=$(job_field "$id" "d.get('worker')")
if [ $r -eq 0 ] && [ -n "$victim" ]; then
    kill_worker "$victim"
    diag "killed $victim with $(stat -c %s "$part" 2>/dev/null) output bytes received"
fi
ok $r "a worker killed in the middle of the output upload ($victim)"
st=$(job_field "$id" "d['state']")
[ "$st" != done ]; ok $? "the job had not completed yet ($st)"
wait_until 20 no_file "$part"
ok $? "the dead attempt's output part is removed when the attempt ends"
wait_until 120 job_state_is "$id" done
ok $? "the job completes"
ctl status "$id" --json >"$TMP/s2.json" 2>/dev/null
other=$(other_of "$victim")
[ "$(jget "$TMP/s2.json" "d['attempt']")" = 2 ] && [ "$(jget "$TMP/s2.json" "d.get('worker')")" = "$other" ]
ok $? "on attempt 2, on $other"
why=$(jget "$TMP/s2.json" "[(a['worker'], a['outcome']) for a in d['attempts'] if a['attempt']==1]")
case "$why" in *"'$victim', 'worker-lost'"*) r=0 ;; *) r=1 ;; esac
ok $r "attempt 1's record says the worker was lost: $why"
ctl get "$id" -o "$TMP/out2.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/out2.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 10.0) < 0.3 else 1)"
ok $? "its output is the whole 10 s ($d s, $(stat -c %s "$TMP/out2.mkv" 2>/dev/null) bytes)"
left=$(find "$TMP/coord" -name '*.part*' | wc -l)
[ "$left" -eq 0 ]; ok $? "no part file left in the coordinator's store ($left)"

[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
