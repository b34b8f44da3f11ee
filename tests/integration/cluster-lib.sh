# Sourced by the tests that run a real cluster (cluster.sh, faults.sh): a
# coordinator and workers as separate distconvd processes on loopback with
# random free ports and temporary state dirs, driven through distconvctl.
# Everything started is stopped and reaped on exit.
CTL="$DCV_TOP_BUILDDIR/cli/distconvctl"
# NVML: workers start with it off (a real GPU of the test machine, hot or
# busy, must not change what a test sees) unless the test asks for one,
# e.g. the test-only fake libnvidia-ml (tests/plugins/fakenvml.c) reading
# its GPUs from a file the test may rewrite at any time:
#   WORKER_ENV="DISTCONV_NVML_LIBRARY=$FAKE_NVML DCV_FAKE_NVML_FILE=$TMP/gpus" \
#       start_worker w1
FAKE_NVML="$DCV_TOP_BUILDDIR/tests/plugins/.libs/libfakenvml.so"
PIDS=""
# stop_daemons: TERM every daemon started here, KILL what is left after 5 s.
stop_daemons() {
    for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
_cluster_cleanup() {
    stop_daemons
    # Job processes die with their worker (PR_SET_PDEATHSIG); make sure.
    pkill -KILL -f -- "--job.*$TMP" 2>/dev/null
    rm -rf "$TMP"
}
trap _cluster_cleanup EXIT

if [ ! -x "$CTL" ]; then
    skip "distconvctl not built" "cluster"
    done_testing
    exit $?
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# jq-lite: jget FILE PYTHON-EXPR-ON-d
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# http_conf [SETTINGS]: the HTTP plane on a free loopback port (HPORT, URL)
# in $TMP/http.conf with fast liveness; SETTINGS go into its http group.
# The suite turns the plane off (tests/local.mk): this file decides.
http_conf() {
    unset DISTCONV_HTTP_BIND
    HPORT=$(free_port)
    URL="http://127.0.0.1:$HPORT"
    cat >"$TMP/http.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
http = { bind = "127.0.0.1:$HPORT"; ${1:-} };
EOF
}
# wait_until SECONDS CMD...: poll until CMD succeeds, for at most SECONDS
# of wall time (a CMD that itself waits, like a ctl call to a dead
# coordinator, must not stretch the bound)
wait_until() {
    _end=$(($(date +%s) + $1)); shift
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        [ "$(date +%s)" -lt "$_end" ] || return 1
        sleep 0.1
    done
}

CPORT=$(free_port)
DPORT=$(free_port)
ADMIN="ipc://$TMP/coord/admin.sock"
mkdir -p "$TMP/coord" "$TMP/media"
# Fast liveness so dead and frozen workers are noticed in about a second.
cat >"$TMP/fast.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
EOF
cat >"$TMP/lowdisk.conf" <<EOF
worker = { disk_quota = 200000; };
EOF

# The cluster runs over CURVE (security.mode's default): keys made with
# `distconvctl keygen`, workers enrolled in workers.d, the CLI (uploads go
# over tcp) enrolled as operator "op" in admins.d.
KEYS="$TMP/keys"
# start_coordinator [CONF]
start_coordinator() {
    if [ ! -f "$KEYS/coord.key" ]; then
        mkdir -p "$KEYS" "$TMP/workers.d" "$TMP/admins.d"
        "$CTL" -q keygen --name coord --dir "$KEYS" >/dev/null &&
            "$CTL" -q keygen --name op --dir "$KEYS" >/dev/null &&
            cp "$KEYS/op.pub" "$TMP/admins.d/"
    fi
    DISTCONV_ROLE=coordinator DISTCONV_NAME=coord DISTCONV_STATE_DIR="$TMP/coord" \
        DISTCONV_BIND="tcp://127.0.0.1:$CPORT" DISTCONV_DATA_BIND="tcp://127.0.0.1:$DPORT" \
        DISTCONV_ADMIN="$ADMIN" DISTCONV_SHARED_ROOTS="$TMP/media" \
        DISTCONV_SECURITY_SECRET_KEY="$KEYS/coord.key" \
        DISTCONV_SECURITY_WORKERS_DIR="$TMP/workers.d" DISTCONV_SECURITY_ADMINS_DIR="$TMP/admins.d" \
        "$DISTCONVD" -c "${1:-$TMP/fast.conf}" >>"$TMP/coord.log" 2>&1 &
    COORD_PID=$!
    PIDS="$PIDS $COORD_PID"
}
# enroll NAME: a key pair for worker NAME in workers.d; a running
# coordinator reloads (SIGHUP) before this returns.
enroll() {
    [ -f "$TMP/workers.d/$1.pub" ] && return 0
    "$CTL" -q keygen --name "$1" --dir "$KEYS" >/dev/null && cp "$KEYS/$1.pub" "$TMP/workers.d/"
    if [ -n "${COORD_PID:-}" ] && kill -0 "$COORD_PID" 2>/dev/null; then
        # distconvd holds SIGHUP from main() on, but a signal that beats
        # the exec would still end it: wait until it answers.
        wait_until 20 ctl info
        _n=$(grep -c "allow-lists reloaded" "$TMP/coord.log")
        kill -HUP "$COORD_PID"
        wait_until 10 sh -c "[ \$(grep -c 'allow-lists reloaded' '$TMP/coord.log') -gt $_n ]"
    fi
}
# start_worker NAME [CONF]; WORKER_ENV="VAR=value ..." (no spaces inside a
# value) adds to or overrides its environment, e.g. DISTCONV_MAX_JOBS=2
start_worker() {
    mkdir -p "$TMP/$1"
    enroll "$1"
    DISTCONV_ROLE=worker DISTCONV_NAME="$1" DISTCONV_STATE_DIR="$TMP/$1" DISTCONV_MAX_JOBS=1 \
        DISTCONV_COORDINATOR="tcp://127.0.0.1:$CPORT" DISTCONV_BENCHMARK="${DISTCONV_BENCHMARK:-0}" \
        DISTCONV_NVML_LIBRARY="${DISTCONV_NVML_LIBRARY-}" \
        DISTCONV_SECURITY_SECRET_KEY="$KEYS/$1.key" DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/coord.pub" \
        env ${WORKER_ENV:-} "$DISTCONVD" -c "${2:-$TMP/fast.conf}" >>"$TMP/$1.log" 2>&1 &
    eval "PID_$1=\$!"
    PIDS="$PIDS $!"
}
ctl() {
    DISTCONV_ADMIN="$ADMIN" DISTCONV_SECURITY_SECRET_KEY="$KEYS/op.key" \
        DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/coord.pub" "$CTL" "$@"
}
online_count() {
    ctl workers --json >"$TMP/w.json" 2>/dev/null || return 1
    jget "$TMP/w.json" "sum(1 for w in d['workers'] if w['state']=='online')"
}
workers_online() { [ "$(online_count)" = "$1" ]; }
job_field() { # job_field ID PY-EXPR
    ctl status "$1" --json >"$TMP/s.json" 2>/dev/null && jget "$TMP/s.json" "$2"
}
job_state_is() { [ "$(job_field "$1" "d['state']")" = "$2" ]; }
submit_id() { # submit FILE ARGS... -> prints the job id
    ctl submit "$@" --json >"$TMP/sub.json" 2>>"$TMP/ctl.err" && jget "$TMP/sub.json" "d['job_id']"
}
dump_logs() {
    for f in "$TMP"/*.log; do diag "== $f"; tail -n 30 "$f" | sed 's/^/#   /'; done
}
# plugin_dir_fakegpu DIR [PLUGIN...]: a plugin directory with the staged
# plugins (all, or the named ones: enc-x264 transport-zmq) and the test-only
# fakegpu plugin (tests/plugins/fakegpu.c). Workers and --benchmark use it
# through DISTCONV_PLUGIN_DIR.
plugin_dir_fakegpu() {
    _pd=$1; shift
    mkdir -p "$_pd"
    [ $# -gt 0 ] || set -- $(cd "$DCV_TOP_BUILDDIR/stage/plugins" && ls *.so | sed 's/\.so$//')
    for _p in "$@"; do ln -sf "$DCV_TOP_BUILDDIR/stage/plugins/$_p.so" "$_pd/$_p.so"; done
    ln -sf "$DCV_TOP_BUILDDIR/tests/plugins/.libs/fakegpu.so" "$_pd/fakegpu.so"
}
# fakegpu_dropin DIR KEY=VALUE...: DIR/fakegpu.conf (a plugins.d drop-in,
# DISTCONV_PLUGIN_CONF_DIR=DIR), one `KEY = VALUE;` per argument; strings
# keep their quotes: device_id='"GPU-a"' state_dir="\"$TMP/gpu\"" fps=10.
fakegpu_dropin() {
    _cd=$1; shift
    mkdir -p "$_cd"
    : >"$_cd/fakegpu.conf"
    for _kv in "$@"; do echo "${_kv%%=*} = ${_kv#*=};" >>"$_cd/fakegpu.conf"; done
}
