#!/bin/sh
# Faults against real daemons (issue 4, first part): the coordinator is
# killed with SIGKILL while one job runs and another waits; after a restart
# on the same state directory both jobs are still there, the running one is
# re-attached when its worker reconnects (same attempt), both complete, and
# no temporary file is left in the blob store. Inputs are streamed in a
# small window, so the kill interrupts a transfer: the worker's range reads
# get "busy" from the restarted coordinator until the re-attach, then go on.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

gen_clip "$TMP/media/long.mkv" -f lavfi -i "testsrc=size=640x480:rate=25:duration=20" \
    -c:v libx264 -preset ultrafast
gen_clip "$TMP/media/short.mkv" -f lavfi -i "testsrc=size=320x240:rate=25:duration=2" \
    -c:v libx264 -preset ultrafast

# Inputs are streamed to the worker while it encodes, so the kill below
# lands in the middle of a data-plane transfer (a 32 KiB window).
cat >"$TMP/stream.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
transfer = { stream = "always"; chunk_size = 16384; credit_chunks = 2; };
EOF
start_coordinator "$TMP/stream.conf"
start_worker w1
wait_until 30 workers_online 1
ok $? "coordinator and one worker up"

run_id=$(submit_id "$TMP/media/long.mkv" --codec h264 --preset 4)
wait_until 30 job_state_is "$run_id" running
ok $? "first job running"
queued_id=$(submit_id "$TMP/media/short.mkv" --codec h264 --preset 1)
[ "$(job_field "$queued_id" "d['state']")" = queued ]; ok $? "second job queued behind it"

kill -KILL "$COORD_PID"; wait "$COORD_PID" 2>/dev/null
diag "coordinator killed"
start_coordinator "$TMP/stream.conf"
wait_until 30 workers_online 1
ok $? "restarted coordinator sees the worker again"
[ "$(job_field "$queued_id" "d['state']")" != "" ]; ok $? "the queued job survived the crash"

wait_until 120 job_state_is "$run_id" done
ok $? "the running job completes after the restart"
[ "$(job_field "$run_id" "d['attempt']")" = 1 ]; ok $? "re-attached: still attempt 1"
grep -q "input xfer .* adopted after the restart" "$TMP/coord.log"
ok $? "the interrupted input stream was resumed on the restarted coordinator"
wait_until 60 job_state_is "$queued_id" done
ok $? "the queued job completes"
ctl get "$run_id" -o "$TMP/out.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/out.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('$d') - 20.0) < 0.3 else 1)"
ok $? "its output is the whole 20 s ($d s)"
left=$(find "$TMP/coord" -name '*.part' | wc -l)
[ "$left" -eq 0 ]; ok $? "no temporary file left in the coordinator's store ($left)"

[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
