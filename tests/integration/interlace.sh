#!/bin/sh
# Interlaced sources (issue 11 A2), through `distconvd --transcode` and a
# standalone daemon's job: 576i MPEG-2 and 1080i H.264 in MPEG-TS, top and
# bottom field first, generated with real fields (a 50 fps picture woven
# into 25 frames). By default the output is deinterlaced: flagged
# progressive, and FFmpeg's idet finds its pictures progressive. With
# --interlaced keep, x264 codes the fields and the stream says tt / bb;
# --deinterlace double gives one frame per field; a field order the stream
# does not say is found by idet. A job whose output is combed (--deinterlace
# off) still passes verification, which is what off means; the verify side
# of combing is tests/unit/test_verify.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
# stop_daemons (on exit), wait_until, jget
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"
: >"$TMP/empty.conf"
T="timeout 120"

# idet FILE: "TFF BFF PROGRESSIVE", idet's multi-frame counts over the video
idet() {
    "$FFMPEG" -hide_banner -nostats -i "$1" -an -vf idet -f null - 2>&1 |
        sed -n 's/.*Multi frame detection: TFF: *\([0-9]*\) BFF: *\([0-9]*\) Progressive: *\([0-9]*\).*/\1 \2 \3/p'
}
# looks FILE progressive|tff|bff: idet's clear majority (more than twice the rest)
looks() {
    set -- "$1" "$2" $(idet "$1")
    [ $# -eq 5 ] || return 1
    case $2 in
    progressive) [ "$5" -gt $((2 * ($3 + $4))) ] ;;
    tff) [ "$3" -gt $((2 * ($4 + $5))) ] ;;
    bff) [ "$4" -gt $((2 * ($3 + $5))) ] ;;
    esac
}
# coded FILE: how the decoder finds the frames coded: tff, bff, progressive
# or mixed (frame flags; a stream's field_order for H.264 in MP4 or TS
# comes from FFmpeg's parser, which says tt for every MBAFF stream)
coded() {
    "$FFPROBE" -v error -select_streams v:0 -show_entries frame=interlaced_frame,top_field_first \
        -of csv=p=0 "$1" | cut -d, -f1,2 | grep . | sort -u | tr '\n' ' ' |
        sed 's/^1,1 $/tff/; s/^1,0 $/bff/; s/^0,[01] $/progressive/; s/^0,0 0,1 $/progressive/'
}
nframes() {
    "$FFPROBE" -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of default=nw=1:nk=1 "$1"
}
transcode() { # transcode IN OUT OPTIONS...: distconvd --transcode, log in $TMP/t.log
    _in=$1; _out=$2; shift 2
    $T "$DISTCONVD" -c "$TMP/empty.conf" --transcode "$_in" "$_out" --preset 1 "$@" \
        >"$TMP/t.log" 2>&1
}

# --- sources ----------------------------------------------------------------------
# 576i MPEG-2 (1 s) and 1080i H.264 (1 s), both field orders; the fields are
# 1/50 s apart in time, so idet sees interlaced pictures, not just flags.
for o in tff bff; do
    top=1 il=interleave_top
    [ $o = bff ] && top=0 il=interleave_bottom
    gen_clip "$TMP/576i-$o.ts" -f lavfi \
        -i "testsrc2=size=720x576:rate=50,tinterlace=$il,setfield=$o" \
        -frames:v 25 -c:v mpeg2video -b:v 4M -flags +ilme+ildct -top $top
    gen_clip "$TMP/1080i-$o.ts" -f lavfi \
        -i "testsrc2=size=1920x1080:rate=50,tinterlace=$il,setfield=$o" \
        -frames:v 25 -c:v libx264 -preset ultrafast -flags +ilme+ildct -top $top
done
# The same fields in a stream that says nothing of its field order (MPEG-4
# part 2 in AVI)
gen_clip "$TMP/unknown.avi" -f lavfi \
    -i "testsrc2=size=720x576:rate=50,tinterlace=interleave_top,setfield=prog" \
    -frames:v 25 -c:v mpeg4 -q:v 3
for f in 576i-tff 576i-bff 1080i-tff 1080i-bff; do
    o=${f#*-}
    fo=$(probe_field "$TMP/$f.ts" v:0 field_order)
    looks "$TMP/$f.ts" $o && [ "$(coded "$TMP/$f.ts")" = $o ] && { [ "$fo" = tt ] || [ "$fo" = bb ]; }
    ok $? "source $f: coded $(coded "$TMP/$f.ts"), stream says $fo, idet finds $o ($(idet "$TMP/$f.ts"))"
done
[ "$(probe_field "$TMP/unknown.avi" v:0 field_order)" = unknown ] && looks "$TMP/unknown.avi" tff
ok $? "source unknown.avi: no field order in the stream, idet finds tff"

# --- distconvd --transcode: deinterlaced by default --------------------------------
for f in 576i-tff 576i-bff 1080i-tff 1080i-bff; do
    transcode "$TMP/$f.ts" "$TMP/$f.mkv"
    rc=$?
    fo=$(probe_field "$TMP/$f.mkv" v:0 field_order)
    [ $rc -eq 0 ] && [ "$fo" = progressive ] && [ "$(coded "$TMP/$f.mkv")" = progressive ] &&
        looks "$TMP/$f.mkv" progressive
    ok $? "transcode $f: flagged $fo, idet finds it progressive ($(idet "$TMP/$f.mkv"))"
    [ $rc -eq 0 ] || sed 's/^/# /' "$TMP/t.log"
    grep -q "deinterlacing with bwdif, one frame per frame" "$TMP/t.log"
    ok $? "transcode $f: the log says it deinterlaced"
    n=$(nframes "$TMP/$f.mkv")
    [ "$n" = 25 ]; ok $? "transcode $f: one frame per frame (25, got $n)"
done

# --- --interlaced keep: x264 codes the fields, the stream says which first ------------
for o in tff bff; do
    want=tt; [ $o = bff ] && want=bb
    for c in mkv mp4; do
        transcode "$TMP/576i-$o.ts" "$TMP/keep-$o.$c" --interlaced keep
        rc=$?
        fo=$(probe_field "$TMP/keep-$o.$c" v:0 field_order)
        k=$(coded "$TMP/keep-$o.$c")
        [ $rc -eq 0 ] && [ "$k" = $o ] && looks "$TMP/keep-$o.$c" $o &&
            { [ $c != mkv ] || [ "$fo" = $want ]; }
        ok $? "--interlaced keep, 576i $o -> $c: coded $k (stream $fo), idet finds $o ($(idet "$TMP/keep-$o.$c"))"
        [ $rc -eq 0 ] || sed 's/^/# /' "$TMP/t.log"
    done
done
transcode "$TMP/1080i-bff.ts" "$TMP/keep-1080.mkv" --interlaced keep
[ $? -eq 0 ] && [ "$(probe_field "$TMP/keep-1080.mkv" v:0 field_order)" = bb ] &&
    [ "$(coded "$TMP/keep-1080.mkv")" = bff ] && looks "$TMP/keep-1080.mkv" bff
ok $? "--interlaced keep, 1080i bff: flagged bb, still bff to idet"
transcode "$TMP/576i-tff.ts" "$TMP/keep-hevc.mkv" --interlaced keep --codec hevc
rc=$?
[ $rc -ne 0 ] && grep -q "only h264 (x264) can be encoded interlaced, not hevc" "$TMP/t.log" &&
    [ ! -e "$TMP/keep-hevc.mkv" ]
ok $? "--interlaced keep --codec hevc is refused, saying why (rc $rc)"

# --- --deinterlace double, off, and an unknown field order ----------------------------------
transcode "$TMP/576i-tff.ts" "$TMP/double.mp4" --deinterlace double
rc=$?
n=$(nframes "$TMP/double.mp4")
r=$(probe_field "$TMP/double.mp4" v:0 r_frame_rate)
[ $rc -eq 0 ] && [ "$n" = 50 ] && [ "$r" = 50/1 ] && looks "$TMP/double.mp4" progressive
ok $? "--deinterlace double: one frame per field (50 frames at $r, got $n), progressive"
"$FFMPEG" -v error -i "$TMP/double.mp4" -f null - >"$TMP/ff.err" 2>&1
[ ! -s "$TMP/ff.err" ]; ok $? "--deinterlace double: ffmpeg reads it back without a complaint"

transcode "$TMP/576i-tff.ts" "$TMP/off.mkv" --deinterlace off
[ $? -eq 0 ] && looks "$TMP/off.mkv" tff
ok $? "--deinterlace off: the fields stay woven into the pictures ($(idet "$TMP/off.mkv"))"

transcode "$TMP/unknown.avi" "$TMP/unknown.mkv"
rc=$?
[ $rc -eq 0 ] && grep -q "does not say its field order; idet over its first 25 frames" "$TMP/t.log" &&
    looks "$TMP/unknown.mkv" progressive
ok $? "no field order in the stream: idet decides, the output is progressive ($(idet "$TMP/unknown.mkv"))"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/t.log"

transcode "$TMP/576i-tff.ts" "$TMP/on.mkv" --deinterlace on
[ $? -eq 0 ] && grep -q "deinterlacing every frame" "$TMP/t.log" && looks "$TMP/on.mkv" progressive
ok $? "--deinterlace on: every frame deinterlaced"

# --- the same through a standalone daemon's job ----------------------------------------
if [ ! -e "${DISTCONV_PLUGIN_DIR:-}/transport-zmq.so" ]; then
    skip "transport-zmq not built" "interlaced jobs"
    done_testing
    exit $?
fi
mkdir -p "$TMP/state"
DISTCONV_STATE_DIR="$TMP/state" DISTCONV_ROLE=standalone DISTCONV_NAME=ilworker \
    "$DISTCONVD" -c "$TMP/empty.conf" >>"$TMP/daemon.log" 2>&1 &
PIDS="$PIDS $!"
export DISTCONV_STATE_DIR="$TMP/state"
ctl() { $T "$CTL" -c "$TMP/empty.conf" "$@"; }
standalone_online() {
    ctl workers --json >"$TMP/w.json" && jget "$TMP/w.json" "'online' in [w['state'] for w in d['workers']] or exit(1)"
}
wait_until 60 standalone_online
ok $? "standalone distconvd starts with its local worker online"

ctl submit "$TMP/576i-bff.ts" --preset 1 --container mkv --wait -o "$TMP/job.mkv" \
    >"$TMP/o" 2>"$TMP/e"
rc=$?
fo=$(probe_field "$TMP/job.mkv" v:0 field_order)
[ $rc -eq 0 ] && [ "$fo" = progressive ] && looks "$TMP/job.mkv" progressive
ok $? "job, 576i bff: done, flagged $fo, idet finds it progressive (rc $rc)"
[ $rc -eq 0 ] || { sed 's/^/# /' "$TMP/e"; tail -n 20 "$TMP/daemon.log" | sed 's/^/# /'; }

ctl submit "$TMP/1080i-tff.ts" --preset 1 --interlaced keep --container mkv --wait \
    -o "$TMP/job-keep.mkv" >"$TMP/o" 2>"$TMP/e"
rc=$?
fo=$(probe_field "$TMP/job-keep.mkv" v:0 field_order)
[ $rc -eq 0 ] && [ "$fo" = tt ] && looks "$TMP/job-keep.mkv" tff
ok $? "job, 1080i tff, --interlaced keep: done, flagged $fo, verification passes (rc $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/e"

ctl submit "$TMP/576i-tff.ts" --preset 1 --deinterlace off --container mkv --wait \
    -o "$TMP/job-off.mkv" >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ] && looks "$TMP/job-off.mkv" tff
ok $? "job, --deinterlace off: done, combed as asked, verification lets it pass (rc $rc)"

ctl submit "$TMP/576i-tff.ts" --interlaced keep --codec hevc --wait >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -ne 0 ] && grep -q "only h264 (x264) can be encoded interlaced" "$TMP/e"
ok $? "job, --interlaced keep --codec hevc: refused at submit with the reason (rc $rc)"
[ $? -eq 0 ] || sed 's/^/# /' "$TMP/e"

done_testing
