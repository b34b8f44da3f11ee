#!/bin/sh
# Disk full, for real (issue 4, item 5): small tmpfs filesystems mounted for
# the test (root only; skipped with the reason otherwise).
#  (a) The coordinator's state directory on a tiny tmpfs: an upload bigger
#      than the space is refused with `nospace` before a byte is written,
#      nothing is left in the blob store, and the daemon keeps serving (a
#      small job completes). With the disk filled up, a job's output cannot
#      be returned: the attempt fails `nospace` (retryable), cleanly, and
#      the job completes once space is freed.
#  (b) A worker's work dir on a tiny tmpfs: the job fails `nospace` on that
#      worker (retryable) and completes on another; the worker stays up and
#      its work dir is left empty.
# Every mount is unmounted on exit, whatever happened.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

MNTS=""
_df_cleanup() {
    # Stop the daemons first: a filesystem they hold open cannot be unmounted.
    stop_daemons
    for m in $MNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    MNTS=""
    _cluster_cleanup
}
trap _df_cleanup EXIT
trap '_df_cleanup; exit 1' INT TERM HUP

# mount_tmpfs DIR SIZE
mount_tmpfs() {
    mkdir -p "$1" && mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" 2>"$TMP/mount.err" &&
        MNTS="$MNTS $1"
}
if [ "$(id -u)" -ne 0 ]; then
    skip "needs root to mount a tmpfs" "disk full"
    done_testing
    exit $?
fi
if ! mount_tmpfs "$TMP/coord" 32m; then
    skip "cannot mount a tmpfs here: $(cat "$TMP/mount.err")" "disk full"
    done_testing
    exit $?
fi
avail() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }

cat >"$TMP/df.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
queue = { retry_backoff_ms = 300; retry_backoff_max_ms = 1000; };
EOF
gen_clip "$TMP/big.mkv" -f lavfi \
    -i "nullsrc=s=320x240:r=25:d=12,geq=lum='random(1)*255':cb=128:cr=128" -c:v rawvideo \
    -pix_fmt yuv420p
gen_clip "$TMP/small.mkv" -f lavfi -i "testsrc=size=320x240:rate=25:duration=2" \
    -c:v libx264 -preset ultrafast
gen_clip "$TMP/media/noise.mkv" -f lavfi \
    -i "nullsrc=s=320x240:r=25:d=4,geq=lum='random(1)*255':cb=128:cr=128" -c:v libx264 \
    -preset ultrafast -crf 30
diag "tmpfs state dir: $(avail "$TMP/coord") bytes free; upload of $(stat -c %s "$TMP/big.mkv") bytes"

# Workers enrolled before the coordinator starts (with CURVE on): no
# allow-list reload races its start-up.
if command -v enroll >/dev/null 2>&1; then
    mkdir -p "$KEYS" "$TMP/workers.d" "$TMP/admins.d"
    for w in w1 wsmall; do enroll "$w"; done
fi
start_coordinator "$TMP/df.conf"
start_worker w1 "$TMP/df.conf"
wait_until 30 workers_online 1
ok $? "coordinator on a 32 MiB tmpfs, one worker"

# --- (a) coordinator: an upload that does not fit ------------------------------
ctl -q submit "$TMP/big.mkv" --codec h264 >"$TMP/big.out" 2>"$TMP/big.err"
r=$?
[ $r -ne 0 ]; ok $? "the oversized submit fails (exit $r)"
grep -q "nospace" "$TMP/big.err" && grep -q "disk full" "$TMP/big.err"
ok $? "with a nospace / disk full error: $(head -c 300 "$TMP/big.err")"
n=$(ls -A "$TMP/coord/blobs/uploads" | wc -l)
[ "$n" -eq 0 ]; ok $? "nothing left in the blob store's uploads ($n files)"
kill -0 "$COORD_PID"; ok $? "the coordinator is still running"
sid=$(submit_id "$TMP/small.mkv" --codec h264 --preset 1)
wait_until 60 job_state_is "$sid" done
ok $? "a small job still completes"

# --- (a) coordinator: the output cannot be returned ----------------------------------
# Leave ~700 KB: the job store has room, a 4 s lossless output (~12 MB) has not.
free=$(avail "$TMP/coord")
dd if=/dev/zero of="$TMP/coord/filler" bs=4096 count=$(((free - 700000) / 4096)) 2>/dev/null
diag "filled the state dir: $(avail "$TMP/coord") bytes free"
oid=$(submit_id "$TMP/media/noise.mkv" --shared --codec h264 --qp 0 --preset 1 --max-attempts 20)
[ -n "$oid" ]; ok $? "a job with a large output submitted"
nospace_seen() { # JOB: an attempt of it ended with a nospace error
    ctl status "$1" --json >"$TMP/n.json" 2>/dev/null &&
        jget "$TMP/n.json" "[a['outcome'] + ' ' + (a['error'] or '') for a in d['attempts'] if 'nospace' in (a['error'] or '')]" |
        grep -q retryable
}
wait_until 60 nospace_seen "$oid"
ok $? "its attempt failed nospace, retryable: $(jget "$TMP/n.json" "[a['error'] for a in d['attempts']][0]" 2>/dev/null | head -c 200)"
[ "$(job_field "$oid" "d['state']")" != failed ]; ok $? "the job is not failed: it will be retried"
parts=$(find "$TMP/coord" -name '*.part*' | wc -l)
[ "$parts" -eq 0 ]; ok $? "no part file takes the little space left ($parts)"
kill -0 "$COORD_PID"; ok $? "the coordinator is still running"
rm -f "$TMP/coord/filler"
wait_until 90 job_state_is "$oid" done
ok $? "with space freed, the job completes"
ctl get "$oid" -o "$TMP/out-a.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/out-a.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 4.0) < 0.3 else 1)"
ok $? "its output verifies ($d s)"
left=$(find "$TMP/coord" -name '*.part*' | wc -l)
[ "$left" -eq 0 ]; ok $? "no temporary file left in the coordinator's store ($left)"

# --- (b) a worker's work dir on a tiny tmpfs ---------------------------------------
ctl drain w1 >/dev/null 2>&1
mount_tmpfs "$TMP/wsmall-work" 1m
ok $? "1 MiB tmpfs for the small worker's work dir"
export DISTCONV_WORK_DIR="$TMP/wsmall-work"
start_worker wsmall "$TMP/df.conf"
unset DISTCONV_WORK_DIR
wait_until 30 workers_online 2
ok $? "small worker online"
wid=$(submit_id "$TMP/media/noise.mkv" --shared --codec h264 --qp 0 --preset 1 --max-attempts 5)
wait_until 60 nospace_seen "$wid"
ok $? "the job fails nospace on the small worker: $(jget "$TMP/n.json" "[(a['worker'], a['error']) for a in d['attempts']][0]" 2>/dev/null | head -c 200)"
[ "$(jget "$TMP/n.json" "d['attempts'][0]['worker']")" = wsmall ]; ok $? "that attempt ran on wsmall"
ctl drain wsmall >/dev/null 2>&1 && ctl undrain w1 >/dev/null 2>&1
wait_until 90 job_state_is "$wid" done
ok $? "the job completes on another worker"
[ "$(job_field "$wid" "d.get('worker')")" = w1 ]; ok $? "on w1"
ctl get "$wid" -o "$TMP/out-b.mkv" >/dev/null 2>&1
d=$(probe_duration "$TMP/out-b.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 4.0) < 0.3 else 1)"
ok $? "its output verifies ($d s)"
kill -0 "$PID_wsmall" && workers_online 2
ok $? "the small worker is still up and online"
wait_until 10 sh -c "[ -z \"\$(ls -A '$TMP/wsmall-work')\" ]"
ok $? "its work dir is empty again"

[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
