#!/bin/sh
# Security against real daemons (issue 4 items 9-10, docs/security.md): a
# coordinator with CURVE on every tcp endpoint (admin on tcp too) and
# allow-lists; each hostile or mistaken peer is refused and the refusal is
# logged: an unenrolled worker, a worker with the wrong coordinator key, a
# plain-text (NULL mechanism) worker, a worker claiming another's id, a
# submitter asking for an operator verb or another submitter's job. SIGHUP
# enrolls and un-enrolls workers. Then: the ipc admin socket by uid/gid,
# token mode (right and wrong token), and daemons that must refuse to
# start (ZAP handler cannot start, secret key readable by others).
. "$DCV_TOP_SRCDIR/tests/lib.sh"

. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

APORT=$(free_port)
ADMIN="tcp://127.0.0.1:$APORT" # ctl() uses it, with the operator key "op"
gen_clip "$TMP/media/clip.mkv" -f lavfi -i "testsrc=size=160x120:rate=25:duration=1" \
    -c:v libx264 -preset ultrafast

# with KEY CMD...: distconvctl with the key of KEY (over tcp, CURVE)
with() {
    _k=$1; shift
    DISTCONV_ADMIN="$ADMIN" DISTCONV_SECURITY_SECRET_KEY="$KEYS/$_k.key" \
        DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/coord.pub" DISTCONV_CTL_TIMEOUT_MS=2000 \
        DISTCONV_CTL_TRIES=1 "$CTL" "$@"
}
# raw_worker NAME KEY [VAR=VALUE...]: a worker with any key, not enrolled by us
raw_worker() {
    _n=$1 _k=$2; shift 2
    mkdir -p "$TMP/$_n"
    env DISTCONV_ROLE=worker DISTCONV_NAME="$_n" DISTCONV_STATE_DIR="$TMP/$_n" \
        DISTCONV_COORDINATOR="tcp://127.0.0.1:$CPORT" DISTCONV_SECURITY_SECRET_KEY="$KEYS/$_k.key" \
        DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/coord.pub" "$@" \
        "$DISTCONVD" -c "$TMP/fast.conf" >>"$TMP/$_n.log" 2>&1 &
    eval "PID_$_n=\$!"
    PIDS="$PIDS $!"
}
keygen() { "$CTL" -q keygen --name "$1" --dir "$KEYS" >/dev/null; }
logged() { grep -q -- "$2" "$TMP/$1.log"; } # logged LOG TEXT
worker_state() { # worker_state ID -> online/offline/... ("" when unknown)
    ctl workers --json >"$TMP/ws.json" 2>/dev/null &&
        jget "$TMP/ws.json" "next((w['state'] for w in d['workers'] if w['worker_id']=='$1'), '')"
}
is_online() { [ "$(worker_state "$1")" = online ]; }
not_online() { ! is_online "$1"; }
reloads() { grep -c 'allow-lists reloaded' "$TMP/coord.log"; }
hup() { # hup: reload the coordinator's allow-lists, wait until it did
    _r=$(reloads)
    kill -HUP "$COORD_PID"
    wait_until 10 sh -c "[ \$(grep -c 'allow-lists reloaded' '$TMP/coord.log') -gt $_r ]"
}

# --- a CURVE cluster ------------------------------------------------------------
start_coordinator
start_worker w1
wait_until 30 workers_online 1
ok $? "coordinator and enrolled worker w1 up over CURVE"
logged coord "security: curve, [0-9]* enrolled identities"; ok $? "the coordinator logs its allow-list"

# --- refusals -------------------------------------------------------------------
keygen ghost
raw_worker ghost ghost
wait_until 20 logged coord "refused CURVE peer 127.0.0.1 with key .* on 'dcv-control': key not enrolled"
ok $? "unenrolled worker: refused by ZAP and logged with its key"
wait_until 10 logged ghost "refused our credentials"
ok $? "the unenrolled worker logs why it cannot register"

keygen w3
cp "$KEYS/w3.pub" "$TMP/workers.d/"
raw_worker w3 w3 DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/op.pub"
wait_until 20 logged coord "a handshake from .* failed: protocol error .*cryptographic error: a client has the wrong server key"
ok $? "worker with the wrong coordinator key: handshake refused and logged"

raw_worker plain plain DISTCONV_SECURITY_MODE=none
wait_until 20 logged coord "security mechanism mismatch"
ok $? "plain-text (NULL) worker against the CURVE socket: refused and logged"
! logged plain "registered with"; ok $? "the plain-text worker got nothing (never registered)"

keygen mallory
cp "$KEYS/mallory.pub" "$TMP/workers.d/"
hup; ok $? "SIGHUP reloads the allow-lists"
raw_worker impostor mallory DISTCONV_NAME=w1
wait_until 20 logged coord "worker w1 presented the key of mallory: disconnected"
ok $? "a worker claiming another's id is disconnected and logged"
sleep 1 # (not an assertion: let the impostor retry once more)
is_online w1; ok $? "the real w1 stays online"
ctl workers --json >"$TMP/ws.json" && ! grep -q mallory "$TMP/ws.json"
ok $? "the impostor never appears as a worker"
for n in ghost w3 plain impostor; do eval "kill -TERM \$PID_$n"; eval "wait \$PID_$n"; done 2>/dev/null
for n in ghost w3 plain; do ! is_online "$n" || break; done
ok $? "none of the refused workers is online"

# --- roles ------------------------------------------------------------------------
keygen sam
keygen sue
printf '%s\nrole = submitter\n' "$(grep -v '^#' "$KEYS/sam.pub")" >"$TMP/admins.d/sam.pub"
printf '%s\nrole = submitter\n' "$(grep -v '^#' "$KEYS/sue.pub")" >"$TMP/admins.d/sue.pub"
hup
with sam -q info >/dev/null; ok $? "submitter sam reaches the admin endpoint over CURVE"
with sam drain w1 >"$TMP/o" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "permission denied: submitter sam may not drain" "$TMP/o"
ok $? "a submitter's operator verb is refused with a clear error (exit $rc)"
logged coord "admin drain refused: submitter sam"; ok $? "and logged"
with sam workers >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "submitter may not list workers"
sid=$(with sam -q submit "$TMP/media/clip.mkv" --codec h264 --preset 1 2>"$TMP/sam.err")
[ -n "$sid" ]; ok $? "a submitter uploads and submits (job $sid)"
with sam status "$sid" >/dev/null; ok $? "the submitter sees its own job"
with sue status "$sid" >"$TMP/o" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "permission denied: job $sid was not submitted by sue" "$TMP/o"
ok $? "another submitter cannot see it (exit $rc)"
logged coord "submitter sue asked for job $sid of sam"; ok $? "and that is logged"
with sue cancel "$sid" >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "nor cancel it"
with sue jobs --json >"$TMP/j.json" && [ "$(jget "$TMP/j.json" "len(d['jobs'])")" = 0 ]
ok $? "sue's job list is empty"
with sam jobs --json >"$TMP/j.json" && [ "$(jget "$TMP/j.json" "[j['job_id'] for j in d['jobs']]")" = "['$sid']" ]
ok $? "sam's job list has exactly its job"
ctl status "$sid" >/dev/null; ok $? "the operator sees every job"
with w1 info >/dev/null 2>&1; [ $? -eq 3 ]; ok $? "a worker key gets no admin access"
wait_until 20 logged coord "on 'dcv-admin': 'w1' is a worker, not a viewer, submitter or operator"
ok $? "and that refusal is logged"
wait_until 60 job_state_is "$sid" done; ok $? "the submitter's job completes"
with sam get "$sid" -o "$TMP/out.mkv" >/dev/null 2>&1 && [ -s "$TMP/out.mkv" ]
ok $? "the submitter downloads its output"

# --- SIGHUP: enroll one, un-enroll another ------------------------------------------
keygen late
raw_worker late late
wait_until 20 logged coord "refused CURVE peer .* key not enrolled"
cp "$KEYS/late.pub" "$TMP/workers.d/"
start_worker w2 # (its enroll's SIGHUP also enrolls late.pub)
wait_until 30 is_online w2
ok $? "w2 enrolled and online"
rm "$TMP/workers.d/w2.pub"
hup
wait_until 40 is_online late
ok $? "SIGHUP enrolled 'late': it comes online"
wait_until 20 logged coord "worker w2 is no longer enrolled: disconnected"
ok $? "SIGHUP un-enrolled w2: its connection is dropped and logged"
wait_until 20 not_online w2; ok $? "w2 is no longer online"
kill -TERM "$PID_late" "$PID_w2" 2>/dev/null; wait "$PID_late" "$PID_w2" 2>/dev/null

# --- daemons that must not start ----------------------------------------------------
chmod 644 "$KEYS/coord.key"
DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/c2" DISTCONV_BIND="tcp://127.0.0.1:$(free_port)" \
    DISTCONV_ADMIN="ipc://$TMP/c2.sock" DISTCONV_SECURITY_SECRET_KEY="$KEYS/coord.key" \
    DISTCONV_SECURITY_WORKERS_DIR="$TMP/workers.d" "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/o" 2>&1
[ $? -eq 1 ] && grep -q "permissions 0644 are too open" "$TMP/o"
ok $? "a secret key readable by others: the daemon refuses to start"
chmod 600 "$KEYS/coord.key"
DISTCONV_TEST_ZAP_OCCUPY=1 DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/c2" \
    DISTCONV_BIND="tcp://127.0.0.1:$(free_port)" DISTCONV_ADMIN="ipc://$TMP/c2.sock" \
    DISTCONV_SECURITY_SECRET_KEY="$KEYS/coord.key" DISTCONV_SECURITY_WORKERS_DIR="$TMP/workers.d" \
    "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/o" 2>&1
[ $? -eq 1 ] && grep -q "ZAP handler not running" "$TMP/o"
ok $? "the ZAP handler cannot start: the daemon refuses to start"
grep "ZAP handler" "$TMP/o" | sed 's/^/# /'

kill -TERM "$COORD_PID"; wait "$COORD_PID" 2>/dev/null

# --- token mode -----------------------------------------------------------------
TPORT=$(free_port)
printf 'a-shared-token-for-the-test-lan\n' >"$TMP/token"
chmod 600 "$TMP/token"
printf 'not-the-token-of-this-cluster\n' >"$TMP/badtoken"
chmod 600 "$TMP/badtoken"
mkdir -p "$TMP/tc"
DISTCONV_ROLE=coordinator DISTCONV_NAME=tcoord DISTCONV_STATE_DIR="$TMP/tc" \
    DISTCONV_BIND="tcp://127.0.0.1:$TPORT" DISTCONV_DATA_BIND="tcp://127.0.0.1:$(free_port)" \
    DISTCONV_ADMIN="ipc://$TMP/tc/admin.sock" DISTCONV_SECURITY_MODE=token \
    DISTCONV_SECURITY_TOKEN_FILE="$TMP/token" "$DISTCONVD" -c "$TMP/fast.conf" >>"$TMP/tc.log" 2>&1 &
TC_PID=$!
PIDS="$PIDS $TC_PID"
tworker() { # tworker NAME TOKENFILE
    mkdir -p "$TMP/$1"
    DISTCONV_ROLE=worker DISTCONV_NAME="$1" DISTCONV_STATE_DIR="$TMP/$1" \
        DISTCONV_COORDINATOR="tcp://127.0.0.1:$TPORT" DISTCONV_SECURITY_MODE=token \
        DISTCONV_SECURITY_TOKEN_FILE="$2" "$DISTCONVD" -c "$TMP/fast.conf" >>"$TMP/$1.log" 2>&1 &
    PIDS="$PIDS $!"
}
tworker tw1 "$TMP/token"
tworker tw2 "$TMP/badtoken"
tonline() {
    DISTCONV_ADMIN="ipc://$TMP/tc/admin.sock" "$CTL" workers --json >"$TMP/tw.json" 2>/dev/null &&
        [ "$(jget "$TMP/tw.json" "[w['worker_id'] for w in d['workers'] if w['state']=='online']")" = "['tw1']" ]
}
wait_until 30 tonline; ok $? "token mode: the worker with the token is online (and only it)"
logged tc "token mode (PLAIN: the token crosses the network in clear text"
ok $? "token mode logs that it is weaker"
wait_until 20 logged tc "refused PLAIN peer 127.0.0.1 user tw2 on 'dcv-control': wrong token"
ok $? "token mode: a wrong token is refused and logged"

# --- ipc admin: by uid/gid ------------------------------------------------------------
# The socket must be reachable by other users for ZAP to be what decides:
# ipc_submitter_group nogroup (nobody's group), socket dir traversable.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && getent group nogroup >/dev/null &&
    setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --version >/dev/null 2>&1 &&
    setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$DISTCONV_PLUGIN_DIR/transport-zmq.so"; then
    mkdir -p "$TMP/pub"
    chmod 711 "$TMP"
    chmod 755 "$TMP/pub"
    kill -TERM "$TC_PID"; wait "$TC_PID" 2>/dev/null
    DISTCONV_ROLE=coordinator DISTCONV_NAME=ucoord DISTCONV_STATE_DIR="$TMP/uc" \
        DISTCONV_BIND="ipc://$TMP/uc/c.sock" DISTCONV_DATA_BIND="ipc://$TMP/uc/d.sock" \
        DISTCONV_ADMIN="ipc://$TMP/pub/admin.sock" DISTCONV_SECURITY_IPC_SUBMITTER_GROUP=nogroup \
        "$DISTCONVD" -c "$TMP/fast.conf" >>"$TMP/uc.log" 2>&1 &
    PIDS="$PIDS $!"
    uctl() { # uctl UID:GID CMD...
        _u=${1%:*} _g=${1#*:}; shift
        setpriv --reuid="$_u" --regid="$_g" --clear-groups env DISTCONV_ADMIN="ipc://$TMP/pub/admin.sock" \
            DISTCONV_CTL_TIMEOUT_MS=1500 DISTCONV_CTL_TRIES=1 "$CTL" "$@"
    }
    wait_until 20 uctl 0:0 info; ok $? "ipc admin: root is let in"
    uctl 65534:65534 info >/dev/null 2>&1; ok $? "ipc admin: nobody (in ipc_submitter_group) is let in"
    uctl 65534:65534 workers >"$TMP/o" 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q "permission denied: submitter unix:nobody may not workers" "$TMP/o"
    ok $? "as a submitter only (exit $rc)"
    uctl 1:1 info >"$TMP/o" 2>&1; rc=$?
    [ $rc -eq 3 ]; ok $? "ipc admin: uid 1 (not root, not the daemon, not in a group) gets nothing (exit $rc)"
    wait_until 10 logged uc "refused NULL peer localhost:1:1:.* on 'dcv-admin': local user daemon (uid 1)"
    ok $? "and the refusal is logged with the uid"
    chmod 700 "$TMP"
else
    for t in "root let in" "nobody let in" "submitter only" "uid 1 refused" "logged"; do
        skip "needs root, setpriv and a group nogroup" "ipc admin: $t"
    done
fi

done_testing
