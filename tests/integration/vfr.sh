#!/bin/sh
# Variable frame rate sources (issue 11 A3) through `distconvd --transcode
# --codec hevc` to Matroska and MP4: a phone-like clip (H.264, time base
# 1/90000, a first frame, then 185 ms to the next, then frames 33.3 ms
# apart) in MP4 and in Matroska, and a clip whose rate changes mid-stream
# (25 fps, then 50 fps). The output keeps every frame at its own time and
# advertises the cadence (30 fps, as the ffmpeg CLI's own encode of the
# same file says; 50 fps for the change), not the average (27 fps); frames
# last what the cadence says; MP4's sample durations (dts steps) hold the
# gap once, where it is; and `ffmpeg -v error -i OUT -f null -` says
# nothing (no "non monotonically increasing dts").
. "$DCV_TOP_SRCDIR/tests/lib.sh"
: >"$TMP/empty.conf"

# packets FILE: "pts dts duration" per video packet, in seconds, decode order
packets() {
    "$FFPROBE" -v error -select_streams v:0 -show_entries packet=pts_time,dts_time,duration_time \
        -of csv=p=0 "$1"
}
# timing FILE PY-EXPR: the expression over p (list of (pts, dts, dur) in
# decode order), pts (sorted), steps (pts steps) and dsteps (dts steps)
timing() {
    packets "$1" | python3 -c '
import sys
def num(x):
    try: return float(x)
    except ValueError: return None
p = [tuple(num(x) for x in l.strip().split(",")) for l in sys.stdin if l.strip()]
pts = sorted(q[0] for q in p)
steps = [b - a for a, b in zip(pts, pts[1:])]
dts = [q[1] for q in p if q[1] is not None]
dsteps = [b - a for a, b in zip(dts, dts[1:])]
near = lambda x, y, tol=0.002: x is not None and abs(x - y) <= tol
ok = eval(sys.argv[1])
if not ok:
    print("# steps", [round(s, 4) for s in steps[:12]], "dsteps", [round(s, 4) for s in dsteps[:12]],
          "durations", [q[2] for q in p[:12]])
sys.exit(0 if ok else 1)
' "$2"
}
nframes() {
    "$FFPROBE" -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets \
        -of default=nw=1:nk=1 "$1"
}
quiet_read() { # ffmpeg reads FILE back without a word
    "$FFMPEG" -nostdin -v error -i "$1" -f null - >"$TMP/ff.err" 2>&1
    [ ! -s "$TMP/ff.err" ] || { sed 's/^/# /' "$TMP/ff.err" | head -n 5; return 1; }
}

# --- sources ------------------------------------------------------------------------
gen_clip "$TMP/vfr.mp4" -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v 40 \
    -vf "settb=1/90000,setpts='if(eq(N,0),0,(0.185+(N-1)/30)/TB)'" -fps_mode passthrough \
    -enc_time_base 1/90000 -c:v libx264 -preset ultrafast -video_track_timescale 90000
gen_clip "$TMP/vfr.mkv" -i "$TMP/vfr.mp4" -c copy
gen_clip "$TMP/change.mkv" -f lavfi -i testsrc2=size=320x240:rate=25:duration=1 \
    -f lavfi -i testsrc2=size=320x240:rate=50:duration=1 \
    -filter_complex "[0:v]settb=1/90000[a];[1:v]settb=1/90000[b];[a][b]concat=n=2:v=1[v]" \
    -map "[v]" -fps_mode passthrough -enc_time_base 1/90000 -c:v libx264 -preset ultrafast
# The Matroska copy (the ffmpeg CLI's remux) says the average as its rate:
# only the timestamps tell the cadence there.
for f in vfr.mp4 vfr.mkv; do
    r=$(probe_field "$TMP/$f" v:0 r_frame_rate)
    a=$(probe_field "$TMP/$f" v:0 avg_frame_rate)
    { [ $f = vfr.mkv ] || [ "$r" = 30/1 ]; } && [ "$a" != 30/1 ] &&
        timing "$TMP/$f" 'near(steps[0], 0.185) and all(near(s, 1/30) for s in steps[1:])'
    ok $? "source $f: 185 ms gap, then 30 fps (r_frame_rate $r, average $a)"
done
[ "$(probe_field "$TMP/change.mkv" v:0 r_frame_rate)" = 50/1 ] &&
    timing "$TMP/change.mkv" 'all(near(s, 0.04) for s in steps[:24]) and all(near(s, 0.02) for s in steps[25:])'
ok $? "source change.mkv: 25 fps for 1 s, then 50 fps"

# The ffmpeg CLI's own encode of the phone clip, for comparison.
gen_clip "$TMP/ffmpeg.mkv" -i "$TMP/vfr.mp4" -c:v libx265 -preset ultrafast \
    -x265-params log-level=error
FF_RATE=$(probe_field "$TMP/ffmpeg.mkv" v:0 r_frame_rate)
diag "the ffmpeg CLI's own Matroska encode of vfr.mp4 advertises $FF_RATE"

# --- transcodes ------------------------------------------------------------------------
for f in vfr.mp4 vfr.mkv change.mkv; do
    for c in mkv mp4; do
        out="$TMP/out-${f%%.*}-${f#*.}.$c"
        "$DISTCONVD" -c "$TMP/empty.conf" --transcode "$TMP/$f" "$out" --codec hevc --preset 1 \
            >"$TMP/t.log" 2>&1
        ok $? "transcode $f -> $c"
        quiet_read "$out"
        ok $? "$f -> $c: ffmpeg -v error reads it back without a word"
        n=$(nframes "$out"); m=$(nframes "$TMP/$f")
        [ "$n" = "$m" ]; ok $? "$f -> $c: every frame kept ($n of $m)"
        r=$(probe_field "$out" v:0 r_frame_rate)
        case $f in
        vfr.*)
            # Matroska says the rate (its default duration); MP4 has no
            # field for it and readers estimate it.
            if [ $c = mkv ]; then
                [ "$r" = 30/1 ] && [ "$r" = "$FF_RATE" ]
                ok $? "$f -> mkv: advertises the cadence, 30 fps as the ffmpeg CLI's encode (got $r), not the average"
                timing "$out" 'all(near(q[2], 0.033, 0.0015) for q in p)'
                ok $? "$f -> mkv: every frame lasts 33 ms"
            fi
            timing "$out" 'near(steps[0], 0.185) and all(near(s, 1/30) for s in steps[1:])'
            ok $? "$f -> $c: the frames keep their times (185 ms, then 33.3 ms)"
            if [ $c = mp4 ]; then
                timing "$out" 'sum(1 for s in dsteps if s > 0.1) == 1 and all(near(s, 1/30) or near(s, 0.185) for s in dsteps)'
                ok $? "$f -> mp4: sample durations (dts steps) are the cadence, the gap once"
            fi
            ;;
        change.*)
            if [ $c = mkv ]; then
                [ "$r" = 50/1 ]; ok $? "change.mkv -> mkv: advertises 50 fps (got $r)"
            fi
            timing "$out" 'all(near(s, 0.04) for s in steps[:24]) and all(near(s, 0.02) for s in steps[25:])'
            ok $? "change.mkv -> $c: 40 ms steps, then 20 ms"
            if [ $c = mp4 ]; then
                timing "$out" 'all(near(s, 0.04) or near(s, 0.02) for s in dsteps)'
                ok $? "change.mkv -> mp4: sample durations are 40 ms, then 20 ms"
            fi
            ;;
        esac
    done
done
done_testing
