#!/bin/sh
# A real cluster on loopback: one coordinator and two workers (separate
# distconvd processes, random free ports, temporary state dirs), driven by
# distconvctl. Shows: jobs spread over both workers with every output
# verified; an input streamed to a worker without the disk for it (MP4 with
# its index at the end); cancel stops the job process; drain; priorities
# change the order; a killed worker's job is requeued and completes on the
# other; a retried submit with the same key makes one job; messages from an
# old attempt (a frozen worker that wakes up) are ignored.
. "$DCV_TOP_SRCDIR/tests/lib.sh"

. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

# --- media -------------------------------------------------------------------
for i in 1 2 3 4; do
    gen_clip "$TMP/media/clip$i.mkv" -f lavfi -i "testsrc=size=320x240:rate=25:duration=2" \
        -f lavfi -i "sine=frequency=$((300 + i * 100)):duration=2" -c:v libx264 -preset ultrafast \
        -c:a aac -shortest
done
# MP4 without faststart: the moov index is at the end of the file.
gen_clip "$TMP/media/tail-index.mp4" -f lavfi -i "testsrc=size=320x240:rate=25:duration=3" \
    -c:v libx264 -preset ultrafast
# A longer job for cancel / kill / freeze (about 10+ s of encoding here).
gen_clip "$TMP/media/long.mkv" -f lavfi -i "testsrc=size=640x480:rate=25:duration=20" \
    -c:v libx264 -preset ultrafast
python3 - "$TMP/media/tail-index.mp4" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
print("# moov at", data.find(b'moov'), "mdat at", data.find(b'mdat'))
EOF

# --- start -------------------------------------------------------------------
start_coordinator
start_worker w1
start_worker w2
wait_until 30 workers_online 2
ok $? "coordinator and two workers up, both online"

# --- spread and verify -------------------------------------------------------
for i in 1 2 3 4; do
    ctl submit "$TMP/media/clip$i.mkv" --codec hevc --preset 1 --audio copy --wait \
        -o "$TMP/out$i.mkv" >"$TMP/submit$i.log" 2>&1 &
    eval "SUB$i=\$!"
done
all_ok=0
for i in 1 2 3 4; do
    eval "wait \$SUB$i" || { all_ok=1; diag "submit $i failed:"; sed 's/^/#   /' "$TMP/submit$i.log"; }
done
ok $all_ok "four submits with --wait -o succeed"
verified=0
for i in 1 2 3 4; do
    c=$(probe_field "$TMP/out$i.mkv" v:0 codec_name)
    a=$(probe_field "$TMP/out$i.mkv" a:0 codec_name)
    d=$(probe_duration "$TMP/out$i.mkv")
    n=$("$FFPROBE" -v error -show_entries stream=index -of csv=p=0 "$TMP/out$i.mkv" | wc -l)
    if [ "$c" = hevc ] && [ "$a" = aac ] && [ "$n" -eq 2 ] &&
        python3 -c "import sys; sys.exit(0 if abs(float('$d') - 2.0) < 0.25 else 1)"; then
        verified=$((verified + 1))
    else
        diag "out$i.mkv: codec=$c audio=$a streams=$n duration=$d"
    fi
done
[ $verified -eq 4 ]; ok $? "every output is HEVC + AAC, two streams, 2 s"
ctl jobs --json >"$TMP/jobs.json" 2>/dev/null
used=$(jget "$TMP/jobs.json" "' '.join(sorted(set(j.get('worker','') for j in d['jobs'] if j['state']=='done')))")
[ "$used" = "w1 w2" ]; ok $? "jobs ran on both workers (got: $used)"

# --- retried submit with the same key -------------------------------------------
id1=$(submit_id "$TMP/media/clip1.mkv" --codec h264 --preset 1 --idempotency-key retry-key-1)
id2=$(submit_id "$TMP/media/clip1.mkv" --codec h264 --preset 1 --idempotency-key retry-key-1)
[ -n "$id1" ] && [ "$id1" = "$id2" ]; ok $? "same idempotency key gives the same job ($id1)"
ctl jobs --json >"$TMP/jobs.json" 2>/dev/null
n=$(jget "$TMP/jobs.json" "sum(1 for j in d['jobs'] if j['job_id']=='$id1')")
[ "$n" = 1 ]; ok $? "and exactly one job exists for it"
wait_until 60 job_state_is "$id1" done
ok $? "that job completes"

# --- streaming to a worker without the disk ------------------------------------------
# Drain both workers, then bring up w3 whose quota cannot hold the input.
ctl drain w1 >/dev/null 2>&1 && ctl drain w2 >/dev/null 2>&1
ok $? "drain w1 and w2"
start_worker w3 "$TMP/lowdisk.conf"
wait_until 30 workers_online 3
ok $? "low-disk worker w3 online"
sid=$(submit_id "$TMP/media/tail-index.mp4" --codec h264 --preset 1 --container mkv)
wait_until 60 job_state_is "$sid" done
ok $? "MP4 with its index at the end transcoded on w3"
[ "$(job_field "$sid" "d.get('worker')")" = w3 ]; ok $? "it ran on w3 (the only undrained worker)"
grep -q "job $sid attempt 1 -> worker w3 (input xfer stream)" "$TMP/coord.log"
ok $? "the input was streamed, not copied (logged)"
ctl get "$sid" -o "$TMP/streamed.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/streamed.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('$d') - 3.0) < 0.3 else 1)"
ok $? "streamed job's output is a 3 s video ($d s)"
kill -TERM "$PID_w3"; wait "$PID_w3" 2>/dev/null
# A clean stop is a departure (info), not a loss (warn): issue 11 A10.
wait_until 10 grep -q "worker w3 (session [0-9a-f]*) disconnected: worker shutting down" "$TMP/coord.log"
ok $? "a worker's clean stop is logged as a disconnect with its reason"
! grep -q "worker w3 (session [0-9a-f]*) lost" "$TMP/coord.log"
ok $? "... and not as a loss"

# --- drain: w1 drained, so work goes to w2 ----------------------------------------------
ctl undrain w2 >/dev/null 2>&1
ok $? "undrain w2"
did=$(submit_id "$TMP/media/clip2.mkv" --codec h264 --preset 1)
wait_until 60 job_state_is "$did" done
[ "$(job_field "$did" "d.get('worker')")" = w2 ]; ok $? "with w1 drained the job ran on w2"
ctl workers --json >"$TMP/w.json" 2>/dev/null
[ "$(jget "$TMP/w.json" "[w['draining'] for w in d['workers'] if w['worker_id']=='w1'][0]")" = True ]
ok $? "w1 is listed as draining"

# --- priorities: queue while nobody takes jobs, then open one slot -----------------------
ctl drain w2 >/dev/null 2>&1
lo=$(submit_id "$TMP/media/clip1.mkv" --codec h264 --preset 1 --priority low)
no=$(submit_id "$TMP/media/clip2.mkv" --codec h264 --preset 1 --priority normal)
hi=$(submit_id "$TMP/media/clip3.mkv" --codec h264 --preset 1 --priority high)
sleep 0.5
[ "$(job_field "$hi" "d['state']")" = queued ]; ok $? "with every worker drained jobs wait queued"
ctl undrain w2 >/dev/null 2>&1
wait_until 90 job_state_is "$lo" done
ok $? "all three prioritised jobs complete"
t_lo=$(job_field "$lo" "d['attempts'][0]['started_ms']")
t_no=$(job_field "$no" "d['attempts'][0]['started_ms']")
t_hi=$(job_field "$hi" "d['attempts'][0]['started_ms']")
[ "$t_hi" -lt "$t_no" ] && [ "$t_no" -lt "$t_lo" ]
ok $? "started in priority order high < normal < low ($t_hi $t_no $t_lo)"
ctl undrain w1 >/dev/null 2>&1

# --- cancel stops the job process -------------------------------------------------------
cid=$(submit_id "$TMP/media/long.mkv" --codec hevc --preset 7)
wait_until 30 job_state_is "$cid" running
ok $? "long job running"
jpids=$(pgrep -f -- "--job" | tr '\n' ' ')
[ -n "$jpids" ]; ok $? "a job process exists ($jpids)"
ctl cancel "$cid" >/dev/null 2>&1
ok $? "cancel accepted"
wait_until 20 job_state_is "$cid" cancelled
ok $? "job is cancelled"
gone() { for p in $jpids; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_until 15 gone
ok $? "the job process is gone"

# --- a killed worker's job is requeued and completes on the other ------------------------
kid=$(submit_id "$TMP/media/long.mkv" --codec h264 --preset 4)
wait_until 30 job_state_is "$kid" running
ok $? "job running before the kill"
victim=$(job_field "$kid" "d.get('worker')")
other=w1; [ "$victim" = w1 ] && other=w2
eval "vpid=\$PID_$victim"
kill -KILL "$vpid"; wait "$vpid" 2>/dev/null
wait_until 120 job_state_is "$kid" done
ok $? "job completes after its worker ($victim) was killed"
[ "$(job_field "$kid" "d['attempt']")" = 2 ] && [ "$(job_field "$kid" "d.get('worker')")" = "$other" ]
ok $? "on attempt 2, on $other"
start_worker "$victim"
wait_until 30 workers_online 2
ok $? "$victim restarted and online again"

# --- stale messages: a frozen worker wakes up after its job moved on --------------------
fid=$(submit_id "$TMP/media/long.mkv" --codec h264 --preset 3)
wait_until 30 job_state_is "$fid" running
frozen=$(job_field "$fid" "d.get('worker')")
eval "fpid=\$PID_$frozen"
kill -STOP "$fpid"
# Attempt 2 dispatched (after its retry back-off) to the other worker
# before the frozen one wakes up and could be given it.
# (A queued attempt 2 has no worker yet: wait until one holds it.)
moved_on() {
    [ "$(job_field "$fid" "d['attempt']")" = 2 ] &&
        [ "$(job_field "$fid" "d['state'] in ('assigned', 'running')")" = True ] &&
        _w=$(job_field "$fid" "d.get('worker') or ''") && [ -n "$_w" ] && [ "$_w" != "$frozen" ]
}
wait_until 30 moved_on
ok $? "frozen worker ($frozen) declared lost, job on attempt 2"
kill -CONT "$fpid"
wait_until 120 job_state_is "$fid" done
ok $? "job completes"
ctl status "$fid" --json >"$TMP/f.json" 2>/dev/null
[ "$(jget "$TMP/f.json" "d['attempt']")" = 2 ] && [ "$(jget "$TMP/f.json" "d.get('worker')")" != "$frozen" ]
ok $? "the result is attempt 2's, not the woken worker's"
n=$(jget "$TMP/f.json" "sum(1 for h in d['history'] if h['event']=='succeed')")
[ "$n" = 1 ]; ok $? "exactly one success recorded in the history"

# --- no stray processes -------------------------------------------------------------------
for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
all_gone() { for p in $PIDS; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_until 20 all_gone
ok $? "coordinator and workers exit on SIGTERM"
for p in $PIDS; do wait "$p" 2>/dev/null; done
pgrep -f -- "--job.*" >/dev/null 2>&1 && pgrep -af -- "--job" | grep -q "$TMP"
[ $? -ne 0 ]; ok $? "no job process left behind"
PIDS=""
[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
