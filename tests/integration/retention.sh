#!/bin/sh
# Blob retention and removal on the coordinator (issue 11 A8), on a real
# cluster (coordinator + one worker on loopback): storage.* config errors
# with file:line; `info` counts what is on disk; `rm` refuses a queued job
# and removes a done one with its files; `purge --dry-run` lists and keeps,
# `purge` removes; with short retention an output goes after its first
# download (recorded, then the file, then `get` says why) and never before
# it; an input shared by two jobs stays while one of them still needs it;
# the start-up sweep takes files no record needs. Every wait is for a fact
# the store records, never for a time window.
. "$DCV_TOP_SRCDIR/tests/lib.sh"

. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

DB="$TMP/coord/jobs.db"
BLOBS="$TMP/coord/blobs"
# dbq SQL: the first column of the first row, read-only
dbq() {
    python3 - "$DB" "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
r = db.execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])
EOF
}
xfer_of() { dbq "SELECT json_extract(input, '\$.xfer_id') FROM jobs WHERE id = '$1'"; }
has_field() { job_field "$1" "'yes' if d.get('$2') else 'no'" | grep -qx yes; }
gone() { [ ! -e "$1" ]; }
restart_coordinator() {
    kill -TERM "$COORD_PID"; wait "$COORD_PID" 2>/dev/null
    start_coordinator "$1"
    wait_until 30 workers_online 1
}

# --- config ------------------------------------------------------------------------
cat >"$TMP/bad.conf" <<'EOF'
storage = {
    keep_outputs = "7x";
};
EOF
"$DISTCONVD" -c "$TMP/bad.conf" --check-config >"$TMP/o" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:2" "$TMP/o" && grep -q "expected a duration" "$TMP/o"
ok $? "storage.keep_outputs = \"7x\" is refused with file:line (exit $rc)"
DISTCONV_KEEP_INPUTS=soon "$DISTCONVD" -c "$TMP/fast.conf" --check-config >"$TMP/o" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "DISTCONV_KEEP_INPUTS: expected a duration" "$TMP/o"
ok $? "DISTCONV_KEEP_INPUTS=soon is refused naming the variable (exit $rc)"
DISTCONV_KEEP_INPUTS=36h "$DISTCONVD" -c "$TMP/fast.conf" --check-config >"$TMP/o" 2>&1
grep -q 'keep_inputs.*36h' "$TMP/o" && grep -q 'keep_outputs.*7d' "$TMP/o" &&
    grep -q 'keep_outputs_until_downloaded.*true' "$TMP/o"
ok $? "--check-config shows keep_inputs 36h (environment), keep_outputs 7d, until downloaded"

# --- media -------------------------------------------------------------------------
for i in 1 2 3 4 5 6 7; do
    gen_clip "$TMP/media/clip$i.mkv" -f lavfi -i "testsrc=size=160x120:rate=25:duration=1" \
        -f lavfi -i "sine=frequency=$((300 + i * 50)):duration=1" -c:v libx264 -preset ultrafast \
        -c:a aac -shortest
done

# --- keep everything: info, rm, purge -----------------------------------------------
cat >"$TMP/keep.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
storage = { keep_inputs = "forever"; keep_outputs = "forever"; };
EOF
start_coordinator "$TMP/keep.conf"
start_worker w1
wait_until 30 workers_online 1
ok $? "coordinator and one worker up"

A=$(submit_id "$TMP/media/clip1.mkv" --codec h264 --preset 1 --wait -o "$TMP/a.mkv")
B=$(submit_id "$TMP/media/clip2.mkv" --codec h264 --preset 1 --wait)
job_state_is "$A" done && job_state_is "$B" done && [ -s "$TMP/a.mkv" ]
ok $? "two jobs done, the first downloaded"
has_field "$A" downloaded_ms && ! has_field "$B" downloaded_ms
ok $? "status records the first download of A's output, none for B"
ctl info --json >"$TMP/info.json"
python3 - "$TMP/info.json" "$BLOBS" <<'EOF'
import json, os, sys
st = json.load(open(sys.argv[1]))["storage"]
def files(top, jobs):
    n = b = 0
    for d, _, fs in os.walk(top):
        for f in fs:
            if not f.endswith((".sha256", ".part", ".tmp")):
                n += 1; b += os.path.getsize(os.path.join(d, f))
    return n, b
ins = files(os.path.join(sys.argv[2], "uploads"), False)
outs = files(os.path.join(sys.argv[2], "jobs"), True)
got = (st["inputs"]["count"], st["inputs"]["bytes"], st["outputs"]["count"], st["outputs"]["bytes"])
print("# info", got, "disk", ins + outs)
ok = got == ins + outs and ins[0] == 2 and outs[0] == 2 and st["keep_inputs"] == "forever" \
    and st["filesystem"]["free_bytes"] > 0
sys.exit(0 if ok else 1)
EOF
ok $? "info's input and output counts and bytes match the files on disk"
ctl info >"$TMP/info.txt" && grep -q "^retention.*inputs forever" "$TMP/info.txt" &&
    grep -q "^disk .* free of " "$TMP/info.txt"
ok $? "info shows the retention settings and the free disk"

ctl drain w1 >/dev/null
C=$(submit_id "$TMP/media/clip3.mkv" --codec h264 --preset 1)
ctl rm "$C" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 2 ] && grep -q "queued: cancel it first" "$TMP/e" && job_state_is "$C" queued
ok $? "rm of a queued job is refused, pointing at cancel (exit $rc: $(cat "$TMP/e"))"
CX=$(xfer_of "$C")
ctl cancel "$C" >/dev/null && ctl rm "$C" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ] && gone "$BLOBS/uploads/$CX" && ! ctl status "$C" >/dev/null 2>&1
ok $? "after cancel, rm removes the job and its upload (exit $rc)"

AX=$(xfer_of "$A")
[ -f "$BLOBS/uploads/$AX" ] && [ -d "$BLOBS/jobs/$A" ]
ok $? "A's upload and output are on disk"
ctl rm "$A" >"$TMP/o" 2>"$TMP/e"
rc=$?
ctl status "$A" >/dev/null 2>"$TMP/e2"
src=$?
[ $rc -eq 0 ] && grep -q "job $A removed" "$TMP/o" && [ $src -eq 1 ] &&
    gone "$BLOBS/uploads/$AX" && gone "$BLOBS/jobs/$A" && gone "$BLOBS/uploads/$AX.sha256"
ok $? "rm of a done job removes its record, output and upload (rm $rc, status $src)"

BX=$(xfer_of "$B")
BBYTES=$(( $(stat -c %s "$BLOBS/uploads/$BX") + $(stat -c %s "$BLOBS/jobs/$B/out-1") ))
ctl purge --done-before 1d >"$TMP/o" 2>&1
grep -q "removed 0 job" "$TMP/o" && job_state_is "$B" done
ok $? "purge --done-before 1d leaves a job that ended just now"
ctl purge --done-before 2999-01-01 --dry-run --json >"$TMP/p.json"
[ "$(jget "$TMP/p.json" "d['count']")" = 1 ] &&
    [ "$(jget "$TMP/p.json" "d['jobs'][0]['job_id']")" = "$B" ] &&
    [ "$(jget "$TMP/p.json" "d['bytes']")" = "$BBYTES" ] && job_state_is "$B" done &&
    [ -f "$BLOBS/uploads/$BX" ]
ok $? "purge --dry-run lists B with its $BBYTES bytes and removes nothing"
ctl purge --done-before 2999-01-01 >"$TMP/o" 2>&1
grep -q "removed 1 job" "$TMP/o" && ! ctl status "$B" >/dev/null 2>&1 &&
    gone "$BLOBS/uploads/$BX" && gone "$BLOBS/jobs/$B"
ok $? "purge removes it with its files"
ctl purge --done-before tomorrow >/dev/null 2>"$TMP/e"
[ $? -eq 2 ] && grep -q "expected a duration" "$TMP/e"
ok $? "purge --done-before with a bad WHEN is a usage error"

# --- shared input, crash leftovers: set up with the coordinator down --------------------
F=$(submit_id "$TMP/media/clip4.mkv" --codec h264 --preset 1)
G=$(submit_id "$TMP/media/clip5.mkv" --codec h264 --preset 1)
H=$(submit_id "$TMP/media/clip6.mkv" --codec h264 --preset 1)
FX=$(xfer_of "$F"); GX=$(xfer_of "$G"); HX=$(xfer_of "$H")
kill -TERM "$COORD_PID"; wait "$COORD_PID" 2>/dev/null
# G names F's upload (two jobs, one input, as a submit naming the same
# xfer_id makes); G's own upload is then named by no job.
python3 - "$DB" "$G" "$FX" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE jobs SET input = (SELECT input FROM jobs WHERE json_extract(input, "
           "'$.xfer_id') = ?) WHERE id = ?", (int(sys.argv[3]), sys.argv[2]))
db.commit()
EOF
# A crash between deleting a record and its files: a job directory nobody knows.
STRAY="$BLOBS/jobs/0123456789abcdef0123456789abcdef"
mkdir -p "$STRAY" && echo junk >"$STRAY/out-1" && echo "x 5" >"$STRAY/out-1.sha256"
touch -d '2 hours ago' "$BLOBS/uploads/$GX"
cat >"$TMP/short.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
storage = { keep_inputs = "2s"; keep_outputs = "2s"; };
transfer = { part_max_age_s = 3600; };
EOF
start_coordinator "$TMP/short.conf"
wait_until 30 workers_online 1
ok $? "coordinator restarted with 2 s retention"
wait_until 20 gone "$STRAY"
ok $? "the start-up sweep removes a job directory no record names"
wait_until 20 gone "$BLOBS/uploads/$GX"
ok $? "  and an upload no job names, older than part_max_age_s"
[ -f "$BLOBS/uploads/$FX" ]; ok $? "  but keeps the upload F and G share"

ctl cancel "$F" >/dev/null && ctl cancel "$H" >/dev/null
wait_until 30 has_field "$H" input_removed_ms
ok $? "retention removes the input of cancelled H"
gone "$BLOBS/uploads/$HX"; ok $? "  its file is gone"
[ -f "$BLOBS/uploads/$FX" ] && ! has_field "$F" input_removed_ms
ok $? "the same pass keeps F's input: queued G still needs it"
ctl undrain w1 >/dev/null
wait_until 60 job_state_is "$G" done
ok $? "G encodes from the shared upload"
wait_until 30 has_field "$G" input_removed_ms
ok $? "once G ended too, the shared input is removed"
gone "$BLOBS/uploads/$FX" && has_field "$F" input_removed_ms
ok $? "  its file is gone, and both jobs record it"
ctl get "$G" --input -o "$TMP/gin.mkv" 2>"$TMP/e"
rc=$?
[ $rc -eq 1 ] && grep -q "its input was removed by the retention policy (storage.keep_inputs)" "$TMP/e"
ok $? "get --input says retention removed it (exit $rc)"
ctl retry "$F" 2>"$TMP/e"
rc=$?
[ $rc -eq 2 ] && grep -q "cannot be retried: its input was removed" "$TMP/e"
ok $? "retry of a job whose input is gone is refused with the reason (exit $rc)"

# --- outputs: kept until downloaded, then 2 s -----------------------------------------------
D=$(submit_id "$TMP/media/clip7.mkv" --codec h264 --preset 1 --wait -o "$TMP/d.mkv")
E=$(submit_id "$TMP/media/clip1.mkv" --codec h264 --preset 1 --wait)
wait_until 30 has_field "$D" output_removed_ms
ok $? "D's output is removed after its download"
gone "$BLOBS/jobs/$D"; ok $? "  its directory is gone"
ctl get "$D" -o "$TMP/d2.mkv" 2>"$TMP/e"
rc=$?
[ $rc -eq 1 ] && grep -q "its output was removed by the retention policy (storage.keep_outputs) at" "$TMP/e" &&
    [ ! -e "$TMP/d2.mkv" ]
ok $? "get says retention removed it (exit $rc: $(cat "$TMP/e"))"
ctl status "$D" >"$TMP/o" && grep -q "output removed (retention) at" "$TMP/o" &&
    grep -q "output downloaded at" "$TMP/o"
ok $? "status shows the download and the removal"
wait_until 30 has_field "$E" input_removed_ms
ok $? "E's input is removed (a pass after E was due)"
! has_field "$E" output_removed_ms && ls "$BLOBS/jobs/$E"/out-* >/dev/null 2>&1
ok $? "  that pass kept E's output: nobody downloaded it"
ctl get "$E" -o "$TMP/e.mkv" >/dev/null 2>&1 && [ -s "$TMP/e.mkv" ]
ok $? "E's output downloads"
wait_until 30 has_field "$E" output_removed_ms
ok $? "  and is removed after that first download"

grep -q "retention: job $D: output removed" "$TMP/coord.log"
ok $? "the coordinator logs each removal"
[ $_tap_failed -eq 0 ] || dump_logs
done_testing
