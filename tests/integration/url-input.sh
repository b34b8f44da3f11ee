#!/bin/sh
# URL inputs end to end (issue 4 item 8) against a real standalone distconvd
# and a real HTTP server on loopback (python3 http.server): a clip and an HLS
# playlist over http transcode; file:, ftp: and friends are refused at
# submit with the reason; an HLS playlist whose segment is a file: URL, and
# a playlist uploaded as a file, fail at once (no retry) without reading
# the worker's files; a 404 fails at once with the HTTP error.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
CTL="$DCV_TOP_BUILDDIR/cli/distconvctl"
T="timeout 120"
: >"$TMP/empty.conf"
if [ ! -e "$DISTCONV_PLUGIN_DIR/transport-zmq.so" ] || [ ! -x "$CTL" ]; then
    skip "transport-zmq or distconvctl not built" "url inputs"
    done_testing
    exit $?
fi

# --- config: a denied protocol is a config error with file:line ----------------
cat >"$TMP/bad.conf" <<'CONF'
inputs = {
    url_protocols = [ "https", "file" ];
};
CONF
"$DISTCONVD" -c "$TMP/bad.conf" --check-config >"$TMP/o" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:2" "$TMP/o" && grep -q "can never be allowed" "$TMP/o"
ok $? "url_protocols naming file is refused with file:line (exit $rc)"
[ $rc -eq 0 ] || true

# --- media and the web server ----------------------------------------------------------
mkdir -p "$TMP/www/hls" "$TMP/state" "$TMP/secret"
gen_clip "$TMP/www/clip.mkv" -f lavfi -i "testsrc=size=320x240:rate=25:duration=2" \
    -c:v libx264 -preset ultrafast
gen_clip "$TMP/www/hls/index.m3u8" -f lavfi -i "testsrc=size=320x240:rate=25:duration=3" \
    -c:v libx264 -preset ultrafast -g 25 -f hls -hls_time 1 -hls_list_size 0 \
    -hls_segment_filename "$TMP/www/hls/seg%d.ts"
# What a hostile playlist would smuggle out: a real segment on the worker's disk.
cp "$TMP/www/hls/seg0.ts" "$TMP/secret/seg.ts"
cat >"$TMP/www/evil.m3u8" <<EOF2
#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:1
#EXTINF:1.0,
file://$TMP/secret/seg.ts
#EXT-X-ENDLIST
EOF2
cp "$TMP/www/evil.m3u8" "$TMP/evil-upload.m3u8"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$TMP/www" "$PORT" >"$TMP/http.log" 2>&1 &
HPID=$!
DISTCONV_STATE_DIR="$TMP/state" DISTCONV_ROLE=standalone DISTCONV_NAME=urlworker \
    "$DISTCONVD" -c "$TMP/empty.conf" >"$TMP/daemon.log" 2>&1 &
DPID=$!
trap 'kill $HPID $DPID 2>/dev/null; wait $HPID $DPID 2>/dev/null; _cleanup' EXIT
export DISTCONV_STATE_DIR="$TMP/state"
ctl() { $T "$CTL" -c "$TMP/empty.conf" "$@"; }
jfield() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
i=0
until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/clip.mkv')" \
    2>/dev/null && [ -S "$TMP/state/admin.sock" ] || [ $i -ge 200 ]; do
    sleep 0.1; i=$((i + 1))
done
[ $i -lt 200 ]; ok $? "web server and standalone daemon up"
URL="http://127.0.0.1:$PORT"

# --- good URLs ---------------------------------------------------------------------------
ctl submit "$URL/clip.mkv" --codec h264 --preset 1 --wait -o "$TMP/out.mkv" >"$TMP/id" 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ]; ok $? "an http URL transcodes (exit $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/e"
d=$(probe_duration "$TMP/out.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 2.0) < 0.2 else 1)"
ok $? "  its output is the whole clip (${d:-?} s)"
ctl status "$(cat "$TMP/id")" --json >"$TMP/s.json" 2>/dev/null
[ "$(jfield "$TMP/s.json" "d.get('input', {}).get('name', d.get('name', ''))")" = clip.mkv ] ||
    grep -q '"clip.mkv"' "$TMP/s.json"
ok $? "  the job is named after the URL's file (clip.mkv)"
ctl submit "$URL/hls/index.m3u8" --codec h264 --preset 1 --wait -o "$TMP/hls.mkv" >/dev/null 2>"$TMP/e"
rc=$?
[ $rc -eq 0 ]; ok $? "an HLS playlist over http transcodes (exit $rc)"
[ $rc -eq 0 ] || sed 's/^/# /' "$TMP/e"
d=$(probe_duration "$TMP/hls.mkv")
python3 -c "import sys; sys.exit(0 if abs(float('${d:-0}') - 3.0) < 0.3 else 1)"
ok $? "  all its segments are in the output (${d:-?} s)"

# --- refused at submit -------------------------------------------------------------------
refused() { # refused NAME URL TEXT
    ctl submit "$2" --codec h264 >"$TMP/o" 2>"$TMP/e"
    _rc=$?
    if [ $_rc -ne 0 ] && grep -q -- "$3" "$TMP/e"; then ok 0 "$1"; else
        ok 1 "$1"; diag "exit $_rc"; sed 's/^/# /' "$TMP/e"; fi
}
refused "file:// is refused at submit" "file:///etc/passwd" "never allowed"
refused "ftp:// (not listed) is refused, naming the list" "ftp://127.0.0.1/clip.mkv" \
    "not allowed (inputs.url_protocols: http, https)"
refused "a URL with a space is refused" "http://127.0.0.1/a b.mkv" "space or control character"
ctl jobs --json >"$TMP/jobs.json" 2>/dev/null
[ "$(jfield "$TMP/jobs.json" "len(d['jobs'])")" = 2 ]; ok $? "refused submits made no job"

# --- fail at once, reading nothing local ------------------------------------------------------
failed_once() { # failed_once NAME ID TEXT
    _i=0
    while [ $_i -lt 300 ]; do
        ctl status "$2" --json >"$TMP/f.json" 2>/dev/null &&
            [ "$(jfield "$TMP/f.json" "d['state']")" = failed ] && break
        sleep 0.1; _i=$((_i + 1))
    done
    if [ "$(jfield "$TMP/f.json" "d['state']")" = failed ] &&
        [ "$(jfield "$TMP/f.json" "d['attempt']")" = 1 ] && grep -q -- "$3" "$TMP/f.json"; then
        ok 0 "$1"
    else
        ok 1 "$1"; sed 's/^/# /' "$TMP/f.json"
    fi
}
ctl submit "$URL/evil.m3u8" --codec h264 >"$TMP/id" 2>"$TMP/e"
failed_once "an HLS playlist naming a file: segment fails at once (not on the whitelist)" \
    "$(cat "$TMP/id")" "whitelist"
ctl submit "$TMP/evil-upload.m3u8" --codec h264 >"$TMP/id" 2>"$TMP/e"
failed_once "a playlist uploaded as a file fails at once" "$(cat "$TMP/id")" \
    "accepted only as URL inputs"
ctl submit "$URL/missing.mkv" --codec h264 >"$TMP/id" 2>"$TMP/e"
failed_once "a 404 fails at once with the HTTP error" "$(cat "$TMP/id")" "Not Found"
grep -q "GET /evil.m3u8" "$TMP/http.log"; ok $? "the worker did fetch the playlist over http"

kill -0 $DPID 2>/dev/null; ok $? "the daemon is still up"
kill -TERM $DPID; wait $DPID; rc=$?
[ $rc -eq 0 ]; ok $? "it exits 0 on SIGTERM (got $rc)"
[ "$_tap_failed" -eq 0 ] || { diag "daemon log:"; tail -n 40 "$TMP/daemon.log" | sed 's/^/#   /'; }
done_testing
