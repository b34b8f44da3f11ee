#!/bin/sh
# A path input read through a worker's path map must be the file the
# coordinator accepted (issue 11, item 10): the coordinator records its
# size and mtime at submit and sends them in JOB.input; the job process
# compares the file it sees through its mount before reading it.
#  - a different file under the same name (another size): every attempt
#    fails with a reason naming both paths and sizes, the job ends failed
#    after max_attempts and nothing was encoded;
#  - the same bytes with another mtime (a stale copy): fails the same way;
#  - the same file (size and mtime kept): transcodes.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

cat >"$TMP/c.conf" <<CONF
liveness = { heartbeat_ms = 300; misses = 3; };
queue = { retry_backoff_ms = 100; retry_backoff_max_ms = 200; };
CONF
mkdir -p "$TMP/mnt"
clip() { gen_clip "$1" -f lavfi -i "$2=size=160x120:rate=25:duration=$3" -c:v libx264 -preset ultrafast; }
clip "$TMP/media/a.mkv" testsrc 1
clip "$TMP/mnt/a.mkv" testsrc2 2
clip "$TMP/media/b.mkv" testsrc 1
cp "$TMP/media/b.mkv" "$TMP/mnt/b.mkv"
touch -d "2001-02-03 04:05:06 UTC" "$TMP/mnt/b.mkv"
clip "$TMP/media/c.mkv" testsrc 1
cp -p "$TMP/media/c.mkv" "$TMP/mnt/c.mkv"
SA=$(stat -c %s "$TMP/media/a.mkv")
SW=$(stat -c %s "$TMP/mnt/a.mkv")
[ "$SA" != "$SW" ]; ok $? "the worker's a.mkv is another file ($SW bytes, the coordinator's $SA)"

mkdir -p "$KEYS" "$TMP/workers.d" "$TMP/admins.d"
enroll w1
start_coordinator "$TMP/c.conf"
# w1 reads the coordinator's $TMP/media as $TMP/mnt: its "mount".
WORKER_ENV="DISTCONV_PATH_MAP=$TMP/media=$TMP/mnt" start_worker w1 "$TMP/c.conf"
wait_until 30 workers_online 1
ok $? "coordinator and a path-map worker up"

# --- the coordinator records what it accepted --------------------------------------
ida=$(submit_id "$TMP/media/a.mkv" --shared --codec h264 --preset 1 --max-attempts 2)
[ -n "$ida" ]; ok $? "a.mkv submitted by path ($ida)"
rec=$(python3 - "$TMP/coord/jobs.db" "$ida" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
i = json.loads(db.execute("SELECT input FROM jobs WHERE id=?", (sys.argv[2],)).fetchone()[0])
print(i.get("size"), i.get("mtime"))
PY
)
[ "$rec" = "$SA $(stat -c %Y "$TMP/media/a.mkv")" ]
ok $? "the job's stored input records its size and mtime ($rec)"

# --- a different file under the same name ------------------------------------------
wait_until 120 job_state_is "$ida" failed
ok $? "the job fails"
ctl status "$ida" --json >"$TMP/a.json" 2>/dev/null
n=$(jget "$TMP/a.json" "len([a for a in d['attempts'] if \"differs from the coordinator's\" in (a.get('error') or '')])")
[ "$n" = 2 ]; ok $? "both attempts failed on the stale mount ($n of 2), then no more"
err=$(jget "$TMP/a.json" "d['attempts'][-1]['error']")
diag "$err"
case "$err" in
*"($TMP/mnt/a.mkv, $SW bytes, mtime "*"coordinator's ($TMP/media/a.mkv, $SA bytes, mtime "*) r=0 ;;
*) r=1 ;;
esac
ok $r "the reason names both paths with their sizes and mtimes"
ev=$(jget "$TMP/a.json" "sorted(set(h['event'] for h in d['history']))")
case "$ev" in *accept*|*succeed*) r=1 ;; *) r=0 ;; esac
ok $r "no attempt started encoding ($ev)"
[ "$(jget "$TMP/a.json" "d.get('output')")" = None ]; ok $? "and the job has no output"

# --- the same bytes with another mtime ---------------------------------------------
idb=$(submit_id "$TMP/media/b.mkv" --shared --codec h264 --preset 1 --max-attempts 1)
wait_until 120 job_state_is "$idb" failed
ok $? "b.mkv with another mtime on the worker fails"
err=$(job_field "$idb" "d['attempts'][-1]['error']")
SB=$(stat -c %s "$TMP/media/b.mkv")
case "$err" in
*"($TMP/mnt/b.mkv, $SB bytes, mtime 2001-02-03 04:05:06 UTC)"*"coordinator's ($TMP/media/b.mkv, $SB bytes"*) r=0 ;;
*) r=1 ;;
esac
ok $r "the reason shows the same size and the two mtimes: $err"

# --- the same file -----------------------------------------------------------------
idc=$(submit_id "$TMP/media/c.mkv" --shared --codec h264 --preset 1 --max-attempts 1)
wait_until 120 job_state_is "$idc" done
ok $? "c.mkv, the same file through the mount, transcodes"
ctl get "$idc" -o "$TMP/c-out.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/c-out.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 1.0) < 0.2 else 1)"
ok $? "its output is the 1 s clip (${d:-?} s)"

[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
