#!/bin/sh
# distconvctl end to end: usage errors (exit 2), an unreachable coordinator
# (exit 3), then every verb against a real standalone distconvd started here
# (coordinator + local worker in one process, ipc sockets in a temp state
# dir): upload, encode, download, idempotent submit, drain, cancel, retry,
# follow, 404 and 400 replies.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
CTL="$DCV_TOP_BUILDDIR/cli/distconvctl"
: >"$TMP/empty.conf"
# Every call here is bounded: a hang fails the test instead of the suite.
T="timeout 180"

# --- usage -------------------------------------------------------------------
"$CTL" --help >"$TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "EXIT STATUS" "$TMP/o" && grep -q -- "--idempotency-key" "$TMP/o" &&
    grep -q -- "--crf" "$TMP/o"
ok $? "--help exits 0 and documents commands, encode options and exit codes"
"$CTL" --version >"$TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "^distconvctl " "$TMP/o"; ok $? "--version exits 0"
usage() { # usage NAME EXPECTED-TEXT ARGS...: exit 2 and the text on stderr
    _n=$1; _t=$2; shift 2
    "$CTL" -c "$TMP/empty.conf" "$@" >"$TMP/o" 2>"$TMP/e"
    _rc=$?
    if [ $_rc -eq 2 ] && grep -q -- "$_t" "$TMP/e"; then ok 0 "$_n"; else
        ok 1 "$_n"; diag "exit $_rc"; sed 's/^/# /' "$TMP/e"; fi
}
usage "no command exits 2" "no command"
usage "unknown command exits 2" "unknown command 'frobnicate'" frobnicate
usage "unknown option exits 2 naming it" "unknown option '--no-such'" jobs --no-such
usage "submit without FILE exits 2" "missing FILE" submit
usage "bad --crf exits 2 with dcv_profile_set's message" "--crf: expected" \
    submit "$TMP/empty.conf" --crf banana
usage "bad --preset exits 2" "--preset: expected" submit "$TMP/empty.conf" --preset turbo
usage "bad --priority exits 2" "--priority: expected" submit "$TMP/empty.conf" --priority urgent
usage "bad --max-attempts exits 2" "--max-attempts: expected" \
    submit "$TMP/empty.conf" --max-attempts 0
usage "an option of another command exits 2" "--follow does not apply to 'jobs'" jobs --follow
usage "bad --state exits 2" "--state: expected" jobs --state sleeping
usage "get without -o exits 2" "-o OUT is required" get 0123
usage "a missing FILE exits 2" "cannot open" submit "$TMP/does-not-exist.mkv"
usage "a bad endpoint exits 2" "--endpoint: expected" -e "http://x" jobs

# --- unreachable ---------------------------------------------------------------
DISTCONV_CTL_TIMEOUT_MS=200 "$CTL" -c "$TMP/empty.conf" -e "ipc://$TMP/nobody.sock" jobs \
    >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 3 ]; ok $? "no coordinator: exit 3 (got $rc)"
grep -q "cannot reach the coordinator at ipc://$TMP/nobody.sock: no reply after 3 tries" "$TMP/e"
ok $? "the message names the endpoint and the tries"
# Without -e: DISTCONV_STATE_DIR through the configuration gives the endpoint.
DISTCONV_CTL_TIMEOUT_MS=200 DISTCONV_CTL_TRIES=1 DISTCONV_STATE_DIR="$TMP/nostate" \
    "$CTL" -c "$TMP/empty.conf" workers >"$TMP/o" 2>"$TMP/e"
[ $? -eq 3 ] && grep -q "ipc://$TMP/nostate/admin.sock: no reply after 1 try" "$TMP/e"
ok $? "default endpoint is ipc://STATE_DIR/admin.sock; DISTCONV_CTL_TRIES applies"

# --- against a real standalone daemon ---------------------------------------------
if [ ! -e "$DISTCONV_PLUGIN_DIR/transport-zmq.so" ]; then
    skip "transport-zmq not built" "daemon tests"
    done_testing
    exit $?
fi

mkdir -p "$TMP/state" "$TMP/shared"
DISTCONV_STATE_DIR="$TMP/state" DISTCONV_ROLE=standalone DISTCONV_NAME=cliworker \
    DISTCONV_SHARED_ROOTS="$TMP/shared" \
    "$DISTCONVD" -c "$TMP/empty.conf" >"$TMP/daemon.log" 2>&1 &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null; _cleanup' EXIT
export DISTCONV_STATE_DIR="$TMP/state"
i=0
while [ ! -S "$TMP/state/admin.sock" ] && [ $i -lt 200 ] && kill -0 $DPID 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
done
if [ ! -S "$TMP/state/admin.sock" ]; then
    ok 1 "standalone distconvd serves $TMP/state/admin.sock"
    sed 's/^/# /' "$TMP/daemon.log"
    done_testing
    exit 1
fi
ok 0 "standalone distconvd serves its admin socket"

ctl() { $T "$CTL" -c "$TMP/empty.conf" "$@"; }
pyjson() { # pyjson FILE PYTHON-EXPR-ON-d: exits 0 when the assertion holds
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert eval(sys.argv[2]), d' "$1" "$2"
}

ctl info --json >"$TMP/info.json" 2>"$TMP/e"
ok $? "info exits 0"
pyjson "$TMP/info.json" '"://" in d["data_endpoint"] and d["coordinator_epoch"]'
ok $? "info --json names the data endpoint and the epoch"

# The local worker registers shortly after start.
i=0
while [ $i -lt 100 ]; do
    ctl workers --json >"$TMP/w.json" 2>/dev/null &&
        pyjson "$TMP/w.json" 'any(w["state"] == "online" for w in d["workers"])' 2>/dev/null && break
    sleep 0.1; i=$((i + 1))
done
W=$(python3 -c 'import json,sys; print(" ".join(w["worker_id"] for w in json.load(open(sys.argv[1]))["workers"] if w["state"] == "online"))' "$TMP/w.json" 2>/dev/null)
[ "$W" = cliworker ]; ok $? "workers --json lists the local worker online, named by DISTCONV_NAME (got '$W')"
[ -n "$W" ] || W=cliworker
W=${W%% *}
ctl workers >"$TMP/o" 2>&1
grep -q "^ID .*STATE .*SLOTS .*CPU .*DISK FREE .*JOBS .*DEVICES" "$TMP/o" && grep -q "^$W .*online .*x264" "$TMP/o"
rc=$?
ok $rc "workers prints a table with the local worker and its x264 device"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/o"
ctl worker "$W" --json >"$TMP/o" 2>&1 && pyjson "$TMP/o" 'd["worker_id"] == "'"$W"'" and d["devices"] and d["plugins"]'
ok $? "worker ID --json has devices and plugins"
ctl worker "$W" >"$TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "^devices .*x264" "$TMP/o"; ok $? "worker ID human output"
ctl worker nobody >"$TMP/o" 2>"$TMP/e"
[ $? -eq 1 ]; ok $? "worker of an unknown id exits 1 (404)"

# --- submit, wait, download --------------------------------------------------------
gen_clip "$TMP/clip.mkv" -f lavfi -i testsrc=size=160x120:rate=25:duration=1 -c:v libx264 -preset ultrafast
ctl submit "$TMP/clip.mkv" --codec h264 --preset 1 --wait -o "$TMP/out.mkv" >"$TMP/id" 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ]; ok $? "submit --wait -o exits 0 (got $rc)"
[ $rc -eq 0 ] || { sed 's/^/# /' "$TMP/e"; tail -n 30 "$TMP/daemon.log" | sed 's/^/# daemon: /'; }
JOB=$(cat "$TMP/id")
echo "$JOB" | grep -qx "[0-9a-f]\{32\}"; ok $? "submit prints the job id"
[ "$(probe_field "$TMP/out.mkv" v:0 codec_name)" = h264 ]; ok $? "the downloaded output is h264"
d=$(probe_duration "$TMP/out.mkv")
python3 -c 'import sys; assert 0.5 < float(sys.argv[1]) < 2' "$d"; ok $? "the output has a duration ($d s)"
[ ! -e "$TMP/out.mkv.part" ]; ok $? "no .part file left"
grep -q "^upload: 100%" "$TMP/e" && grep -q "^download: 100%" "$TMP/e" && grep -q "done" "$TMP/e"
ok $? "progress on stderr as plain lines when it is not a terminal"
# -o names the container (issue 11 A10: -o x.mp4 wrote Matroska), and a
# mismatch or an unwritable -o is refused before anything is uploaded
ctl submit "$TMP/clip.mkv" --codec h264 --preset 1 -o "$TMP/out.mp4" >/dev/null 2>"$TMP/e"
rc=$?
fmt=$("$FFPROBE" -v error -show_entries format=format_name -of default=nw=1:nk=1 "$TMP/out.mp4" 2>/dev/null)
[ $rc -eq 0 ] && case "$fmt" in *mp4*) true ;; *) false ;; esac
ok $? "submit -o x.mp4 writes MP4 (exit $rc, format '$fmt')"
ctl jobs --json >"$TMP/j.json" 2>/dev/null
nj=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' "$TMP/j.json")
usage "-o x.mp4 with --container mkv is refused" "the name says mp4 but --container mkv" \
    submit "$TMP/clip.mkv" --container mkv -o "$TMP/x.mp4"
usage "-o with a name that says no container is refused" "cannot tell the container" \
    submit "$TMP/clip.mkv" -o "$TMP/x.avi"
usage "-o in a directory that does not exist is refused at once" "directory $TMP/no-such-dir" \
    submit "$TMP/clip.mkv" -o "$TMP/no-such-dir/x.mkv"
# A codec or encoder no plugin anywhere offers is refused at submit (issue
# 11 A7: it was queued forever)
ctl submit "$TMP/clip.mkv" --codec h266 >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -ne 0 ] && grep -q "codec 'h266': no plugin offers it" "$TMP/e"
ok $? "submit --codec h266 is refused with the reason (exit $rc)"
ctl submit "$TMP/clip.mkv" --encoder fancyenc >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -ne 0 ] && grep -q "encoder 'fancyenc': not auto, hw, sw, a plugin" "$TMP/e"
ok $? "submit --encoder fancyenc is refused with the reason (exit $rc)"
ctl jobs --json >"$TMP/j.json" 2>/dev/null
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' "$TMP/j.json")" = "$nj" ]
ok $? "the refused submits made no job"
ctl -q get "$JOB" -o "$TMP/quiet.mkv" >"$TMP/o" 2>"$TMP/e"
[ $? -eq 0 ] && [ ! -s "$TMP/o" ] && [ ! -s "$TMP/e" ]; ok $? "-q: nothing on stdout or stderr"

ctl status "$JOB" --json >"$TMP/s.json" 2>"$TMP/e"
ok $? "status --json exits 0"
pyjson "$TMP/s.json" 'd["state"] == "done" and d["name"] == "clip.mkv" and d["profile"]["codec"] == "h264"'
ok $? "status --json: done, name and profile as submitted"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["job_id"] == sys.argv[2]' "$TMP/s.json" "$JOB"
ok $? "status --json names the job"
ctl status "$(echo "$JOB" | cut -c1-12)" >"$TMP/o" 2>&1
grep -q "^state .*done" "$TMP/o" && grep -q "$JOB" "$TMP/o"; ok $? "status by 12-character prefix, human output"
ctl jobs --json >"$TMP/j.json" 2>"$TMP/e"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [j for j in d["jobs"] if j["job_id"] == sys.argv[2]]' "$TMP/j.json" "$JOB"
ok $? "jobs --json lists the job"
ctl jobs >"$TMP/o" 2>&1
grep -q "^ID .*STATE .*PROGRESS .*WORKER .*NAME .*AGE" "$TMP/o" &&
    grep -q "^$(echo "$JOB" | cut -c1-12) .*done .*clip.mkv" "$TMP/o"
ok $? "jobs prints a table"
ctl jobs --state queued --json >"$TMP/o" 2>&1 && pyjson "$TMP/o" 'all(j["state"] == "queued" for j in d["jobs"])'
ok $? "jobs --state filters"

ctl get "$JOB" --input -o "$TMP/in.copy" >/dev/null 2>"$TMP/e"
ok $? "get --input exits 0"
cmp -s "$TMP/clip.mkv" "$TMP/in.copy"; ok $? "get --input returns the original bytes"
ctl get "$JOB" -o "$TMP/out2.mkv" >/dev/null 2>"$TMP/e"
[ $? -eq 0 ] && cmp -s "$TMP/out.mkv" "$TMP/out2.mkv"; ok $? "get downloads the same output again"
echo keep >"$TMP/keep"
ctl get 00000000000000000000000000000000 -o "$TMP/keep" >/dev/null 2>"$TMP/e"
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$TMP/keep")" = keep ] && [ ! -e "$TMP/keep.part" ]
ok $? "get of an unknown job exits 1 and leaves OUT alone (got $rc)"
ctl status 00000000000000000000000000000000 >/dev/null 2>&1
[ $? -eq 1 ]; ok $? "status of an unknown job exits 1"

# --- drain, idempotency, cancel, retry, undrain ---------------------------------------
ctl drain "$W" >"$TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "draining" "$TMP/o"; ok $? "drain exits 0"
ctl worker "$W" --json >"$TMP/o" 2>&1 && pyjson "$TMP/o" 'd["draining"] is True'
ok $? "the worker reports draining"
ctl jobs --json >"$TMP/j.json" 2>/dev/null
n0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' "$TMP/j.json")
ctl submit "$TMP/clip.mkv" --codec h264 --preset 1 --idempotency-key cli-test-key-1 >"$TMP/id1" 2>/dev/null
r1=$?
ctl submit "$TMP/clip.mkv" --codec h264 --preset 1 --idempotency-key cli-test-key-1 >"$TMP/id2" 2>"$TMP/e"
r2=$?
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ -s "$TMP/id1" ] && cmp -s "$TMP/id1" "$TMP/id2"
ok $? "the same --idempotency-key twice gives the same job id"
grep -q "already existed" "$TMP/e"; ok $? "the second submit says the job already existed"
ctl jobs --json >"$TMP/j.json" 2>/dev/null
n1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"])' "$TMP/j.json")
[ "$n1" -eq $((n0 + 1)) ]; ok $? "one job was created ($n0 -> $n1)"
J2=$(cat "$TMP/id1")
# jobs lists newest first and pages with --offset (issue 11 A10: it listed
# the oldest first, so new jobs vanished past the 100th)
ctl jobs --limit 1 --json >"$TMP/j.json" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["jobs"][0]["job_id"] == sys.argv[2]' "$TMP/j.json" "$J2"
ok $? "jobs --limit 1 shows the newest job"
ctl jobs --limit 1 >"$TMP/o" 2>&1
grep -q "^(jobs 1-1 of $n1, newest first; --offset 1 shows the next 1)" "$TMP/o"
ok $? "the table says how to see the next page"
ctl jobs --limit 1 --offset 1 --json >"$TMP/j.json" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["jobs"]) == 1 and d["jobs"][0]["job_id"] != sys.argv[2]' "$TMP/j.json" "$J2"
ok $? "jobs --offset 1 shows the one before it"
ctl status "$J2" --json >"$TMP/o" 2>&1 && pyjson "$TMP/o" 'd["state"] == "queued"'
ok $? "with the only worker draining the job stays queued"
# Waiting on it (the same key: no new job) and interrupted: exit 130, nothing written.
"$CTL" -c "$TMP/empty.conf" submit "$TMP/clip.mkv" --codec h264 --preset 1 \
    --idempotency-key cli-test-key-1 --wait -o "$TMP/int.mkv" >"$TMP/o" 2>"$TMP/e" &
cpid=$!
i=0
while ! grep -q "queued" "$TMP/e" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $cpid
wait $cpid
rc=$?
[ $rc -eq 130 ] && grep -q "interrupted" "$TMP/e" && [ ! -e "$TMP/int.mkv" ] && [ ! -e "$TMP/int.mkv.part" ]
ok $? "SIGINT while waiting: exit 130, no output file (got $rc)"
ctl cancel "$J2" >"$TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "cancelled" "$TMP/o"; ok $? "cancel of a queued job"
ctl status "$J2" --json >"$TMP/o" 2>&1 && pyjson "$TMP/o" 'd["state"] == "cancelled"'
ok $? "status says cancelled"
ctl status "$J2" --follow >"$TMP/o" 2>&1
[ $? -eq 1 ]; ok $? "status --follow of a cancelled job exits 1"
ctl retry "$J2" --json >"$TMP/o" 2>&1 && pyjson "$TMP/o" 'd["state"] == "queued"'
ok $? "retry queues it again"
ctl undrain "$W" >"$TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "taking jobs" "$TMP/o"; ok $? "undrain exits 0"
ctl worker "$W" --json >"$TMP/o" 2>&1
i=0
while ! pyjson "$TMP/o" 'd["draining"] is False' 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1)); ctl worker "$W" --json >"$TMP/o" 2>&1
done
pyjson "$TMP/o" 'd["draining"] is False'; ok $? "the worker confirms: not draining"
ctl status "$J2" --follow >"$TMP/o" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "done" "$TMP/o"; ok $? "after undrain the job runs: status --follow ends done (got $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/o"

# --- shared paths ---------------------------------------------------------------------
cp "$TMP/clip.mkv" "$TMP/shared/clip.mkv"
ctl submit --shared "$TMP/shared/clip.mkv" --codec h264 --preset 1 --wait -o "$TMP/shared-out.mkv" \
    >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ] && [ "$(probe_field "$TMP/shared-out.mkv" v:0 codec_name)" = h264 ]
ok $? "submit --shared of a file under shared_roots: encoded without an upload (got $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/e"
! grep -q "^upload" "$TMP/e"; ok $? "--shared uploads nothing"
# A path outside the shared roots is refused (400/403 -> 2).
ctl submit --shared "$TMP/clip.mkv" --codec h264 >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 2 ] && [ -s "$TMP/e" ]; ok $? "a path outside the shared roots is refused: exit 2 (got $rc)"
sed 's/^/# /' "$TMP/e"

kill $DPID
wait $DPID
rc=$?
[ $rc -eq 0 ]; ok $? "the daemon exits 0 on SIGTERM (got $rc)"
trap _cleanup EXIT
done_testing
