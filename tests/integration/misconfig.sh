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

# worker_as NAME DIR ENDPOINT COORD_KEY: a worker started by hand (its own
# state dir and log DIR), for the misconfigurations start_worker avoids.
worker_as() {
    mkdir -p "$TMP/$2"
    DISTCONV_ROLE=worker DISTCONV_NAME="$1" DISTCONV_STATE_DIR="$TMP/$2" DISTCONV_MAX_JOBS=1 \
        DISTCONV_COORDINATOR="$3" DISTCONV_BENCHMARK=0 DISTCONV_NVML_LIBRARY= \
        DISTCONV_SECURITY_SECRET_KEY="$KEYS/$1.key" DISTCONV_SECURITY_COORDINATOR_KEY="$4" \
        "$DISTCONVD" -c "$TMP/fast.conf" >>"$TMP/$2.log" 2>&1 &
    LAST_PID=$!
    PIDS="$PIDS $LAST_PID"
}

start_coordinator
start_worker w1
wait_until 30 workers_online 1
ok $? "w1 online"
ctl workers --json >"$TMP/w.json" 2>/dev/null
S1=$(jget "$TMP/w.json" "[w['session'] for w in d['workers'] if w['worker_id']=='w1'][0]")

# The same name and key from another process (its own state dir and log).
worker_as w1 w1b "tcp://127.0.0.1:$CPORT" "$KEYS/coord.pub"

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

# A wrong coordinator port: silence, so after 3 unanswered HELLO rounds the
# worker says what to check (it said nothing at info level).
NOPORT=$(free_port)
enroll wp
worker_as wp wp "tcp://127.0.0.1:$NOPORT" "$KEYS/coord.pub"
wait_until 60 grep -q "no answer from the coordinator at tcp://127.0.0.1:$NOPORT" "$TMP/wp.log"
ok $? "a worker with a wrong coordinator port says so, with what to check"
grep -q "warn.*no answer from the coordinator at tcp://127.0.0.1:$NOPORT.*the address and port" "$TMP/wp.log"
ok $? "... at warn level, naming the address and port to check"

# A wrong coordinator key (another host's public key): the worker hears
# silence and says to check security.coordinator_key; the coordinator logs
# the failed handshakes once a minute, saying what is wrong (it logged an
# unattributed "wrong keys" line several times a second).
enroll wk
worker_as wk wk "tcp://127.0.0.1:$CPORT" "$KEYS/op.pub"
wait_until 60 grep -q "no answer from the coordinator at tcp://127.0.0.1:$CPORT.*security.coordinator_key" "$TMP/wk.log"
ok $? "a worker with the wrong coordinator key is told to check security.coordinator_key"
# The peer's address is read from the accepted connection, which libzmq may
# close before the monitor gets to it: then the line says the peer is gone,
# and the two forms fold separately (at most one line each).
n=$(grep -c "a client has the wrong server key for this endpoint" "$TMP/coord.log")
named=$(grep -c "a handshake from 127.0.0.1 failed: .*a client has the wrong server key" "$TMP/coord.log")
gone=$(grep -c "a handshake from a peer already gone failed: .*a client has the wrong server key" "$TMP/coord.log")
[ "$n" -ge 1 ] && [ "$named" -le 1 ] && [ "$gone" -le 1 ] && [ $((named + gone)) -eq "$n" ]
ok $? "the coordinator says a client has the wrong server key, naming the peer when it can, once per form (not on every retry: $named named, $gone without)"
ctl workers --json >"$TMP/w.json" 2>/dev/null
[ "$(jget "$TMP/w.json" "len([w for w in d['workers'] if w['worker_id']=='wk'])")" = 0 ]
ok $? "... and that worker never registered"

done_testing
