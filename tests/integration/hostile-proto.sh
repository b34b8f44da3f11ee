#!/bin/sh
# dcv-valgrind: yes
# A hostile peer against a real coordinator (issue 4, item 7): the raw
# libzmq client tests/fuzz/hostile.c sends malformed frames, wrong
# signatures, oversized and deeply nested bodies, unknown commands,
# out-of-order and replayed messages on the control, data and admin planes
# and checks each answer (DISCONNECT / ABORT / FINAL 4xx, or ignored where
# docs/protocol.md says so). Then a real worker joins and the job the fake
# worker failed and abandoned must complete; the coordinator must still be
# running and exit cleanly (no sanitizer or valgrind report).
. "$DCV_TOP_SRCDIR/tests/lib.sh"

. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

HOSTILE="$DCV_TOP_BUILDDIR/tests/fuzz/hostile"
if [ ! -x "$HOSTILE" ]; then
    skip "tests/fuzz/hostile not built (no transport-zmq)" "hostile peer"
    done_testing
    exit $?
fi

gen_clip "$TMP/media/clip.mkv" -f lavfi -i "testsrc=size=160x120:rate=25:duration=1" \
    -c:v libx264 -preset ultrafast
# The fake worker heartbeats by hand: a roomy liveness window; retries at
# once so attempt 2 comes back to it without a wait.
cat >"$TMP/hostile.conf" <<CONF
liveness = { heartbeat_ms = 1000; misses = 10; };
queue = { retry_backoff_ms = 0; };
CONF

start_coordinator "$TMP/hostile.conf"
wait_until 60 ctl workers --json
ok $? "coordinator up"
# The hostile peer is an enrolled worker (it passes CURVE) that misbehaves.
enroll hostile-w

DCV_HOSTILE_KEY="$KEYS/hostile-w.key" DCV_HOSTILE_SERVER_KEY="$KEYS/coord.pub" timeout 300 "$HOSTILE" "tcp://127.0.0.1:$CPORT" "tcp://127.0.0.1:$DPORT" "$ADMIN" "$TMP/media/clip.mkv" \
    >"$TMP/hostile.out" 2>"$TMP/hostile.err"
rc=$?
JOB=""
while IFS= read -r line; do
    case $line in
    "ok - "*) ok 0 "${line#ok - }" ;;
    "not ok - "*) ok 1 "${line#not ok - }" ;;
    "JOB_ID "*) JOB=${line#JOB_ID } ;;
    "Bail out!"*) ok 1 "hostile client: $line" ;;
    *) echo "$line" ;;
    esac
done <"$TMP/hostile.out"
[ $rc -eq 0 ]; ok $? "hostile client finished with every check passed (exit $rc)"
[ -s "$TMP/hostile.err" ] && sed 's/^/# stderr: /' "$TMP/hostile.err"

kill -0 "$COORD_PID" 2>/dev/null
ok $? "the coordinator is still running"

start_worker w1 "$TMP/hostile.conf"
[ -n "$JOB" ] && wait_until 120 job_state_is "$JOB" done
ok $? "the job the fake worker failed and left completes on a real worker ($JOB)"
a=$(job_field "$JOB" "d['attempt']" 2>/dev/null)
[ -n "$a" ] && [ "$a" -ge 3 ]
ok $? "on a later attempt (attempt $a: the failure and the DISCONNECT each spent one)"
n=$(job_field "$JOB" "sum(1 for h in d['attempts'] if h['worker']=='hostile-w')" 2>/dev/null)
[ "$n" = 2 ]; ok $? "its record keeps both attempts of the fake worker ($n)"

kill -TERM "$COORD_PID"
wait "$COORD_PID"
rc=$?
[ $rc -eq 0 ]; ok $? "the coordinator exits cleanly on SIGTERM (exit $rc)"
! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/coord.log"
ok $? "no sanitizer report in the coordinator's log"
[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
