#!/bin/sh
# Misconfigured workers get one clear line on the side that can act on it
# (issue 11, item 9). Two workers with the same name and key: the second is
# refused while the first runs (it used to retire the first, whose next
# heartbeat took the name back: a flap every heartbeat), with the reason in
# its own log and one rate-limited line in the coordinator's; once the
# first is gone (a crash: no DISCONNECT) the second is admitted after the
# first's liveness window.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

start_coordinator
start_worker w1
wait_until 30 workers_online 1
ok $? "w1 online"
ctl workers --json >"$TMP/w.json" 2>/dev/null
S1=$(jget "$TMP/w.json" "[w['session'] for w in d['workers'] if w['worker_id']=='w1'][0]")

# The same name and key from another process (its own state dir and log).
mkdir -p "$TMP/w1b"
DISTCONV_ROLE=worker DISTCONV_NAME=w1 DISTCONV_STATE_DIR="$TMP/w1b" DISTCONV_MAX_JOBS=1 \
    DISTCONV_COORDINATOR="tcp://127.0.0.1:$CPORT" DISTCONV_BENCHMARK=0 DISTCONV_NVML_LIBRARY= \
    DISTCONV_SECURITY_SECRET_KEY="$KEYS/w1.key" DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/coord.pub" \
    "$DISTCONVD" -c "$TMP/fast.conf" >>"$TMP/w1b.log" 2>&1 &
PID_B=$!
PIDS="$PIDS $PID_B"

# Two refusals in its log: it retried after its back-off and was refused again.
refused_twice() { [ "$(grep -c "DISCONNECT: worker name 'w1' is in use by another running worker" "$TMP/w1b.log")" -ge 2 ]; }
wait_until 30 refused_twice
ok $? "the second w1 is refused, with the reason in its own log (twice: it retries)"
grep -q "give each worker its own name (name / DISTCONV_NAME) and key" "$TMP/w1b.log"
ok $? "... and the reason says what to do"
[ "$(grep -c "refused: worker name 'w1' is in use" "$TMP/coord.log")" -eq 1 ]
ok $? "the coordinator logs the refusal once (rate-limited), not on every try"
! grep -q "worker w1: new session .* retires" "$TMP/coord.log"
ok $? "the running w1 was never retired (no flapping)"
ctl workers --json >"$TMP/w.json" 2>/dev/null
[ "$(jget "$TMP/w.json" "[w['session'] for w in d['workers'] if w['worker_id']=='w1'][0]")" = "$S1" ]
ok $? "w1 is still the first process's session"

# The first one dies without a word: the second gets the name after its
# liveness window (a restarted worker is the same case).
kill -KILL "$PID_w1"; wait "$PID_w1" 2>/dev/null
b_online() {
    ctl workers --json >"$TMP/w.json" 2>/dev/null &&
        [ "$(jget "$TMP/w.json" "[w['state']+' '+w['session'] for w in d['workers'] if w['worker_id']=='w1'][0]")" != "online $S1" ] &&
        [ "$(jget "$TMP/w.json" "[w['state'] for w in d['workers'] if w['worker_id']=='w1'][0]")" = online ]
}
wait_until 60 b_online
ok $? "once the first w1 is gone the second is admitted under the name"
grep -q "worker w1 (session [0-9a-f]*) lost" "$TMP/coord.log"
ok $? "the first was declared lost before (liveness), not retired while alive"

done_testing
