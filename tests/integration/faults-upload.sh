#!/bin/sh
# The coordinator killed with SIGKILL while `distconvctl submit` uploads a
# file (issue 4, item 2): during the outage the blob store holds the upload
# only under its temporary (.part) name; after a restart the CLI's own retry
# resumes from the coordinator's durable bytes (fewer bytes travel again
# than the file has), the job runs, and no temporary file is left.
# Then garbage collection (item 5): at start-up the parts of attempts that
# are over and crash leftovers go at once, an upload part goes once nobody
# has written it for transfer.part_max_age_s, and so does the part of an
# upload whose CLI was killed, while the coordinator keeps serving.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

# 4 KiB chunks, one in flight (both sides read this file): ~20 MB/s.
cat >"$TMP/slow.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
transfer = { chunk_size = 4096; credit_chunks = 1; };
EOF
cat >"$TMP/gc.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
transfer = { chunk_size = 4096; credit_chunks = 1; part_max_age_s = 4; };
EOF
gen_clip "$TMP/raw.mkv" -f lavfi \
    -i "nullsrc=s=320x240:r=25:d=6,geq=lum='random(1)*255':cb=128:cr=128" -c:v rawvideo \
    -pix_fmt yuv420p
gen_clip "$TMP/small.mkv" -f lavfi -i "testsrc=size=320x240:rate=25:duration=2" \
    -c:v libx264 -preset ultrafast
SIZE=$(stat -c %s "$TMP/raw.mkv")
UP="$TMP/coord/blobs/uploads"

# Workers enrolled before the coordinator starts (with CURVE on): no
# allow-list reload races its start-up.
if command -v enroll >/dev/null 2>&1; then
    mkdir -p "$KEYS" "$TMP/workers.d" "$TMP/admins.d"
    for w in w1; do enroll "$w"; done
fi
start_coordinator "$TMP/slow.conf"
start_worker w1 "$TMP/slow.conf"
wait_until 30 workers_online 1
ok $? "coordinator and a worker up"

# A part being written, a quarter or more of it there (so a resume has
# something to keep), its size in $TMP/partsize.
part_growing() {
    for f in "$UP"/*.part; do
        [ -f "$f" ] || continue
        s=$(stat -c %s "$f" 2>/dev/null) || continue
        if [ "$s" -ge $((SIZE / 4)) ] && [ "$s" -lt "$SIZE" ]; then
            echo "$s" >"$TMP/partsize"
            return 0
        fi
    done
    return 1
}

# --- 1. coordinator killed in the middle of an upload -----------------------
ctl -c "$TMP/slow.conf" submit "$TMP/raw.mkv" --codec h264 --preset 1 --json \
    --idempotency-key upload-crash-1 >"$TMP/sub.json" 2>"$TMP/submit.err" &
SUB=$!
wait_until 60 part_growing
r=$?
if [ $r -eq 0 ]; then
    kill -KILL "$COORD_PID"
    wait "$COORD_PID" 2>/dev/null
fi
ok $r "coordinator killed with $(cat "$TMP/partsize" 2>/dev/null) of $SIZE bytes uploaded"
finals=$(ls "$UP" | grep -v -e '\.part$' -e '\.part\.sha256$' | tr '\n' ' ')
[ -z "$finals" ]; ok $? "during the outage the upload exists only as .part (others: '$finals')"

start_coordinator "$TMP/slow.conf"
wait "$SUB"
r=$?
ok $r "the submit completes after the restart (exit $r)"
[ $r -eq 0 ] || sed 's/^/#   /' "$TMP/submit.err"
id=$(jget "$TMP/sub.json" "d['job_id']" 2>/dev/null)
kept=$(sed -n 's/.*receiving upload xfer [0-9]* ([0-9]* bytes, \([0-9]*\) kept).*/\1/p' "$TMP/coord.log" | tail -n 1)
[ -n "$kept" ] && [ "$kept" -gt 0 ] && [ "$kept" -lt "$SIZE" ]
ok $? "the upload resumed: ${kept:-?} bytes kept, $((SIZE - ${kept:-0})) of $SIZE sent again"
wait_until 120 job_state_is "$id" done
ok $? "the job runs to the end"
ctl get "$id" -o "$TMP/out.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/out.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 6.0) < 0.3 else 1)"
ok $? "its output is the whole 6 s ($d s)"
left=$(find "$TMP/coord" -name '*.part*' | wc -l)
[ "$left" -eq 0 ]; ok $? "no temporary file left in the coordinator's store ($left)"

# --- 2. garbage collection at start-up and by age --------------------------
kill -TERM "$COORD_PID"; wait "$COORD_PID" 2>/dev/null
JD="$TMP/coord/blobs/jobs/$id"
echo x >"$JD/out-7.part"; echo "0 1" >"$JD/out-7.part.sha256"        # an attempt that is over
echo x >"$UP/123456.part"; echo "0 1" >"$UP/123456.part.sha256"      # abandoned an hour ago
touch -d '-1 hour' "$UP/123456.part" "$UP/123456.part.sha256"
echo x >"$UP/777.sha256.tmp"                                       # a crash between write and rename
echo x >"$UP/999.part"                                             # written just now: may resume
: >"$TMP/coord.log"
start_coordinator "$TMP/gc.conf"
wait_until 30 workers_online 1
ok $? "coordinator restarted with transfer.part_max_age_s = 4"
grep -q "garbage collection (start-up): removed 5 abandoned part file" "$TMP/coord.log"
ok $? "start-up removed the 5 orphan files, not the fresh part"
[ ! -e "$JD/out-7.part" ] && [ ! -e "$UP/123456.part" ] && [ ! -e "$UP/777.sha256.tmp" ] &&
    [ -f "$JD/out-1" ]
ok $? "old attempt's part, old upload part and record temporary gone; the committed output kept"
no_file() { [ ! -e "$1" ]; }
wait_until 30 no_file "$UP/999.part"
ok $? "the fresh upload part goes once it is older than the limit"

# A CLI killed in the middle of its upload: its part goes after the limit.
rm -f "$TMP/partsize"
ctl -c "$TMP/slow.conf" submit "$TMP/raw.mkv" --codec h264 -q >/dev/null 2>&1 &
SUB=$!
wait_until 60 part_growing
r=$?
kill -KILL "$SUB" 2>/dev/null; wait "$SUB" 2>/dev/null
ok $r "a submit killed in the middle of its upload ($(cat "$TMP/partsize" 2>/dev/null) bytes sent)"
no_parts() { [ -z "$(ls "$UP" | grep '\.part')" ]; }
wait_until 40 no_parts
ok $? "its part and record are removed"
kill -0 "$COORD_PID"; ok $? "the coordinator keeps running"
sid=$(submit_id "$TMP/small.mkv" --codec h264 --preset 1)
wait_until 120 job_state_is "$sid" done
ok $? "and a new job completes"

[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
