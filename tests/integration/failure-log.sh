#!/bin/sh
# A failed attempt keeps the last lines its job process logged (issue 11,
# item 10): the worker sends them with REJECT/FAIL (log_tail), the
# coordinator stores them with the attempt, and `distconvctl status ID`
# shows them under the attempts (and in --json), also after a coordinator
# restart; the same with a standalone daemon.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

# A clip whose middle is garbled: it probes as Matroska, its frames do not
# decode (the encode fails in the job process, after its accept).
gen_clip "$TMP/good.mkv" -f lavfi -i "testsrc=size=160x120:rate=25:duration=4" -c:v libx264 \
    -preset ultrafast -g 250
python3 - "$TMP/good.mkv" "$TMP/media/garbled.mkv" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
n = len(b)
for i in range(n // 5, n - 64):
    b[i] = (b[i] * 7 + 13) & 0xff
open(sys.argv[2], "wb").write(b)
PY
# Not media at all: refused at the probe, before any accept (a REJECT).
head -c 200000 /dev/urandom >"$TMP/media/noise.mkv"

mkdir -p "$KEYS" "$TMP/workers.d" "$TMP/admins.d"
enroll w1
start_coordinator
start_worker w1
wait_until 30 workers_online 1
ok $? "coordinator and worker up"

# tails JSON-FILE: the log_tail lines of the job's attempts, one per line
tails() { jget "$1" "'\n'.join(l for a in d['attempts'] for l in a.get('log_tail', []))"; }

id=$(submit_id "$TMP/media/noise.mkv" --codec h264 --preset 1 --max-attempts 1)
wait_until 120 job_state_is "$id" failed
ok $? "a job whose input is not media fails"
ctl status "$id" --json >"$TMP/n.json" 2>/dev/null
tails "$TMP/n.json" >"$TMP/n.tail"
sed 's/^/#   /' "$TMP/n.tail"
n=$(wc -l <"$TMP/n.tail")
[ "$n" -ge 2 ] && [ "$n" -le 20 ]; ok $? "its attempt kept the job process's last log lines ($n, at most 20)"
grep -q "^error job: input: .*noise.mkv" "$TMP/n.tail"
ok $? "  ending with the job process's own error line"
grep -q "^info " "$TMP/n.tail"
ok $? "  and the lines it logged before it"

id2=$(submit_id "$TMP/media/garbled.mkv" --codec h264 --preset 1 --max-attempts 1)
wait_until 120 job_state_is "$id2" failed
ok $? "a job whose input is garbled fails"
ctl status "$id2" --json >"$TMP/g.json" 2>/dev/null
tails "$TMP/g.json" >"$TMP/g.tail"
sed 's/^/#   /' "$TMP/g.tail"
[ -s "$TMP/g.tail" ] && [ "$(wc -c <"$TMP/g.tail")" -le 4200 ]
ok $? "its attempt kept a tail too, within 4 KiB"
ctl status "$id2" >"$TMP/g.txt" 2>&1
grep -q "^log of attempt 1 (w1, failed), last [0-9]* lines:" "$TMP/g.txt" &&
    grep -qF "  $(tail -n 1 "$TMP/g.tail")" "$TMP/g.txt"
ok $? "distconvctl status shows the lines under the failed attempt"
[ "$_tap_failed" -eq 0 ] || sed 's/^/# /' "$TMP/g.txt"

# --- kept across a coordinator restart ------------------------------------------------
kill -TERM "$COORD_PID"
wait "$COORD_PID" 2>/dev/null
python3 - "$TMP/coord/jobs.db" "$id" <<'PY' >"$TMP/db.tail"
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
print(db.execute("SELECT log_tail FROM attempts WHERE job_id=?", (sys.argv[2],)).fetchone()[0])
PY
cmp -s "$TMP/db.tail" "$TMP/n.tail"
ok $? "the store holds the tail with the attempt"
start_coordinator
wait_until 30 ctl info
ctl status "$id" --json >"$TMP/n2.json" 2>/dev/null
tails "$TMP/n2.json" >"$TMP/n2.tail"
cmp -s "$TMP/n.tail" "$TMP/n2.tail"
ok $? "status shows the same lines after a coordinator restart"
stop_daemons
PIDS=""

# --- a standalone daemon ---------------------------------------------------------------
mkdir -p "$TMP/sa"
DISTCONV_STATE_DIR="$TMP/sa" DISTCONV_ROLE=standalone DISTCONV_NAME=sa \
    "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/sa.log" 2>&1 &
PIDS="$!"
sa() { DISTCONV_STATE_DIR="$TMP/sa" "$CTL" -c "$TMP/fast.conf" "$@"; }
wait_until 30 sa info
sa submit "$TMP/media/noise.mkv" --codec h264 --preset 1 --max-attempts 1 --json >"$TMP/sa-sub.json" 2>/dev/null
sid=$(jget "$TMP/sa-sub.json" "d['job_id']")
sa_failed() { sa status "$sid" --json >"$TMP/sa.json" 2>/dev/null && [ "$(jget "$TMP/sa.json" "d['state']")" = failed ]; }
wait_until 120 sa_failed
ok $? "standalone: the job fails"
sa status "$sid" >"$TMP/sa.txt" 2>&1
grep -q "^log of attempt 1 " "$TMP/sa.txt" && grep -q "^  error job: input: " "$TMP/sa.txt"
ok $? "standalone: status shows the attempt's log tail"

[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
