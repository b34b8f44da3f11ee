#!/bin/sh
# The dashboard (issue 12): served by the coordinator itself from files
# compiled in (GET / and /assets/*, ETag and 304, nothing else reachable,
# nothing from another site), then driven in headless Chromium over the
# DevTools protocol (tests/browser/dashboard.py): a real coordinator and two
# workers; log in with a token from `distconvctl token create`, both
# workers on Transcoders, a job submitted through the form whose progress
# moves in the page, Drain/Undrain seen in the page and in `distconvctl
# workers`, a job name that is HTML shown as text, a phone-sized viewport, a
# worker stopped shown offline.
# Screenshots: build/tests/artifacts/dashboard-*.png.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

CHROMIUM=${DCV_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if ! command -v curl >/dev/null 2>&1; then
    skip "curl is not installed" "dashboard"
    done_testing
    exit $?
fi
ok_or() { _st=$1 _nm=$2; shift 2; ok "$_st" "$_nm"; [ "$_st" -eq 0 ] || "$@"; }
WEB="$DCV_TOP_SRCDIR/web"
ART="$DCV_TOP_BUILDDIR/tests/artifacts"

http_conf
# A minute of video that a veryslow single-thread encode takes longer than
# this test to finish: its progress moves all along, and it is cancelled.
gen_clip "$TMP/media/long.mkv" -f lavfi -i testsrc=size=640x360:rate=25 -t 60 -c:v libx264 -preset ultrafast
ok $? "input generated"
start_coordinator "$TMP/http.conf"
start_worker w1
start_worker w2
wait_until 30 workers_online 2
ok_or $? "coordinator with http.bind, two workers online" dump_logs

# The files, as compiled in.
for f in index.html app.js app.css favicon.svg; do
    case $f in
    index.html) p=/ t="text/html; charset=utf-8" ;;
    *.js) p=/assets/$f t="text/javascript; charset=utf-8" ;;
    *.css) p=/assets/$f t="text/css; charset=utf-8" ;;
    *.svg) p=/assets/$f t="image/svg+xml" ;;
    esac
    curl -s -D "$TMP/h.txt" -o "$TMP/body" "$URL$p" &&
        tr -d '\r' <"$TMP/h.txt" | grep -qix "content-type: $t" && cmp -s "$TMP/body" "$WEB/$f"
    ok $? "GET $p: web/$f byte for byte, $t"
done
etag=$(tr -d '\r' <"$TMP/h.txt" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
tr -d '\r' <"$TMP/h.txt" | grep -qix 'cache-control: no-cache' && [ -n "$etag" ]
ok $? "an asset has an ETag ($etag) and Cache-Control: no-cache"
rm -f "$TMP/body"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "If-None-Match: $etag" "$URL/assets/favicon.svg")
[ "$code" = 304 ] && [ ! -s "$TMP/body" ]
ok $? "If-None-Match with that ETag: 304 without a body ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "0-0"' "$URL/assets/favicon.svg")
[ "$code" = 200 ]
ok $? "another ETag: 200 ($code)"
curl -s -D "$TMP/h.txt" -o /dev/null "$URL/" &&
    grep -qi "^content-security-policy: default-src 'none'; script-src 'self';" "$TMP/h.txt" &&
    grep -qi '^x-frame-options: DENY' "$TMP/h.txt"
ok $? "the page comes with a CSP that runs only its own scripts, and no framing"
r=0
for p in /assets/../metrics /assets/%2e%2e/metrics /assets/ /assets/app.js/ /assets/app.jsx \
    /assets//app.js /assets/%2fetc%2fpasswd /assets/../../../etc/passwd /index.html /assets/index.html /web/app.js; do
    code=$(curl -s -o "$TMP/body" -w '%{http_code}' --path-as-is "$URL$p")
    if [ "$code" != 404 ] || ! grep -q '"error"' "$TMP/body"; then
        diag "$p: $code"
        r=1
    fi
done
ok $r "paths outside the table (traversal, encoded dots and slashes): 404 with a JSON error"
! grep -Eiq '(src|href) *= *"?(https?:)?//' "$WEB/index.html" &&
    ! grep -Eiq '@import|url\(' "$WEB/app.css" &&
    ! grep -Eq "(fetch|EventSource|import)\( *['\"](https?:)?//" "$WEB/app.js"
ok $? "nothing loaded from another site (no CDN, no external fonts)"

if [ -z "$CHROMIUM" ]; then
    skip "chromium is not installed (Debian package chromium)" "the dashboard in headless Chromium"
    done_testing
    exit $?
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/whoami")
if [ "$code" = 404 ]; then
    skip "this build has no /api/v1 yet" "the dashboard in headless Chromium"
    done_testing
    exit $?
fi
ctl token create --name ops --role operator >"$TMP/token.txt" 2>&1
TOKEN=$(grep -o 'dcv_[A-Za-z0-9_-]*' "$TMP/token.txt" | head -n 1)
[ -n "$TOKEN" ]
ok_or $? "distconvctl token create --name ops --role operator" sed 's/^/# /' "$TMP/token.txt"

# distconvctl for this cluster, as the browser script runs it.
cat >"$TMP/ctl" <<CTL
#!/bin/sh
DISTCONV_ADMIN="$ADMIN" DISTCONV_SECURITY_SECRET_KEY="$KEYS/op.key" \\
    DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/coord.pub" exec "$CTL" "\$@"
CTL
chmod +x "$TMP/ctl"
mkdir -p "$ART"
rm -f "$ART"/dashboard-*.png
timeout 150 /usr/bin/python3 "$DCV_TOP_SRCDIR/tests/browser/dashboard.py" --url "$URL" \
    --token "$TOKEN" --ctl "$TMP/ctl" --input "$TMP/media/long.mkv" --artifacts "$ART" \
    --chromium "$CHROMIUM" --profile "$TMP/chromium" --stop "kill -TERM $PID_w2" --expect-live \
    >"$TMP/browser.out" 2>&1
rc=$?
while IFS= read -r line; do
    case $line in
    "RESULT "*) st=${line#RESULT }; ok "${st%% *}" "${st#* }" ;;
    "ARTIFACT "*) diag "screenshot: ${line#ARTIFACT }" ;;
    "DIAG "*) diag "${line#DIAG }" ;;
    *) diag "$line" ;;
    esac
done <"$TMP/browser.out"
ok_or $rc "the browser script ended cleanly (exit $rc)" dump_logs
done_testing
