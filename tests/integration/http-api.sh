#!/bin/sh
# The HTTP plane's authentication and JSON API (issue 12, docs/api.md): API
# tokens made and revoked with distconvctl, every route of the router's own
# table (GET /api/v1/routes) requested without credentials and with each
# role, the permission table of docs/api.md matching the server's, the
# dashboard login (session cookie, CSRF token) and the event stream with
# Python's stdlib, submit/cancel/retry/drain through the API and seen in
# distconvctl, hostile requests (bad JSON, CSRF-less POSTs, a revoked
# token, a form body), the scrape token, TLS, and the start-up refusals.
# A real coordinator and two workers on loopback; clients curl and Python.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

if ! command -v curl >/dev/null 2>&1; then
    skip "curl is not installed" "http-api"
    done_testing
    exit $?
fi
ok_or() { _st=$1 _nm=$2; shift 2; ok "$_st" "$_nm"; [ "$_st" -eq 0 ] || "$@"; }
PY=/usr/bin/python3

http_conf
ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=10 -t 1 -c:v ffv1 "$TMP/media/in.mkv"
ok $? "input generated"
start_coordinator "$TMP/http.conf"
start_worker w1
start_worker w2
wait_until 30 workers_online 2
ok $? "coordinator with http.bind, two workers online"

# ---- tokens --------------------------------------------------------------------
for r in viewer submitter operator; do
    ctl -q token create --name "t-$r" --role "$r" >"$TMP/tok.$r" 2>"$TMP/tok.err" || break
done
grep -qx 'dcv_[0-9a-f]\{64\}' "$TMP/tok.viewer" && grep -qx 'dcv_[0-9a-f]\{64\}' "$TMP/tok.operator"
ok_or $? "distconvctl token create prints one secret per token" cat "$TMP/tok.err"
TV=$(cat "$TMP/tok.viewer") TS=$(cat "$TMP/tok.submitter") TO=$(cat "$TMP/tok.operator")
ctl token list >"$TMP/list.txt" 2>&1
grep -q '^t-operator  *operator ' "$TMP/list.txt" && ! grep -q 'dcv_' "$TMP/list.txt" &&
    ! grep -rq "$TO" "$TMP/coord" 2>/dev/null
ok_or $? "token list shows names and roles, never a secret; the store holds no secret" cat "$TMP/list.txt"
ctl token create --name t-viewer --role viewer >/dev/null 2>"$TMP/dup.err"
[ $? -eq 2 ] && grep -q "a token named t-viewer exists" "$TMP/dup.err"
ok_or $? "a second token of the same name is refused (exit 2)" cat "$TMP/dup.err"
ctl token create --name x --role root >/dev/null 2>"$TMP/role.err"
[ $? -eq 2 ] && grep -q "expected viewer, submitter or operator" "$TMP/role.err"
ok $? "an unknown role is a usage error"

# A job for the routes that name one, done; a worker id.
JOB=$(submit_id "$TMP/media/in.mkv" --codec h264)
wait_until 60 job_state_is "$JOB" done
ok_or $? "a job done" dump_logs

# ---- every route, every role ---------------------------------------------------------
curl -s -o "$TMP/routes.json" "$URL/api/v1/routes"
ok $? "GET /api/v1/routes"
$PY - "$URL" "$TV" "$TS" "$TO" "$JOB" "$TMP/routes.json" "$DCV_TOP_SRCDIR/docs/api.md" \
    >"$TMP/matrix.out" 2>&1 <<'EOF'
import json, re, sys, urllib.request, urllib.error
url, tv, ts, to, job, routes_file, api_md = sys.argv[1:]
routes = json.load(open(routes_file))["routes"]
tokens = {"anonymous": None, "viewer": tv, "submitter": ts, "operator": to}
bad = 0
# docs/api.md's table must say what the server enforces: action -> roles.
doc = {}
for line in open(api_md):
    m = re.match(r"\| `([a-z.]+)` \| (yes|no|—|own jobs) \| (yes|—|own jobs) \| (yes|—|own jobs) \|", line)
    if m:
        doc[m.group(1)] = {r for r, v in zip(("viewer", "submitter", "operator"), m.groups()[1:]) if v in ("yes", "own jobs")}
for r in routes:
    if r["action"] not in doc:
        print("route %s %s: action %s missing from docs/api.md" % (r["method"], r["path"], r["action"])); bad += 1
    elif doc[r["action"]] != set(r["roles"]):
        print("action %s: docs say %s, the server %s" % (r["action"], sorted(doc[r["action"]]), sorted(r["roles"]))); bad += 1
print("routes", len(routes))
for r in routes:
    path = r["path"].replace("/jobs/*", "/jobs/" + job).replace("/workers/*", "/workers/w2")
    for who, tok in tokens.items():
        # Anonymous on a loopback listener reads as a viewer (http.anonymous).
        role = "viewer" if who == "anonymous" else who
        allowed = r["action"] == "public" or role in r["roles"]
        body = None
        if r["method"] == "POST":
            body = b"{}"
            if r["path"] == "/api/v1/jobs":
                body = json.dumps({"input": {"kind": "url", "source": "http://127.0.0.1:9/x.mkv"},
                                   "profile": {"codec": "h264"}, "max_attempts": 1}).encode()
        req = urllib.request.Request(url + path, data=body, method=r["method"])
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                code = resp.status
                if r["path"] == "/api/v1/events":
                    resp.readline()  # the stream is open: enough
        except urllib.error.HTTPError as e:
            code = e.code
            text = e.read().decode()
        else:
            text = ""
        denied = code in (401, 403) and "was not submitted by" not in text
        want = "allowed" if allowed else "denied"
        got = "denied" if denied else "allowed"
        if want != got or (not allowed and who == "anonymous" and code != 401):
            print("%s %s as %s: %d (want %s) %s" % (r["method"], path, who, code, want, text.strip()))
            bad += 1
print("mismatches", bad)
EOF
grep -qx "mismatches 0" "$TMP/matrix.out" && grep -q "^routes [1-9]" "$TMP/matrix.out"
ok_or $? "every route x {anonymous, viewer, submitter, operator}: the permission table, as docs/api.md says" sed 's/^/# /' "$TMP/matrix.out"
ctl undrain w2 >/dev/null 2>&1

# ---- the API -----------------------------------------------------------------------
api() { # api TOKEN METHOD PATH [BODY] -> body in $TMP/r.json, status on stdout
    _t=$1 _m=$2 _p=$3
    shift 3
    if [ $# -gt 0 ]; then
        curl -s -o "$TMP/r.json" -w '%{http_code}' -X "$_m" -H "Authorization: Bearer $_t" \
            -H 'Content-Type: application/json' --data-binary "$1" "$URL$_p"
    else
        curl -s -o "$TMP/r.json" -w '%{http_code}' -X "$_m" -H "Authorization: Bearer $_t" "$URL$_p"
    fi
}
code=$(api "$TS" POST /api/v1/jobs \
    "{\"input\":{\"kind\":\"path\",\"source\":\"$TMP/media/in.mkv\",\"name\":\"api.mkv\"},\"profile\":{\"codec\":\"h264\"}}")
SJOB=$(jget "$TMP/r.json" "d['job_id']")
[ "$code" = 201 ] && [ -n "$SJOB" ]
ok_or $? "a submitter submits a shared-path job: 201 with its id" cat "$TMP/r.json"
wait_until 60 job_state_is "$SJOB" done
ok $? "... it runs and is done (distconvctl status)"
[ "$(job_field "$SJOB" "d['name']")" = api.mkv ]
ok $? "... with the name given"
code=$(api "$TS" GET "/api/v1/jobs/$SJOB")
[ "$code" = 200 ] && [ "$(jget "$TMP/r.json" "len(d['history']) > 2 and d['state']")" = done ]
ok $? "GET /api/v1/jobs/ID: the job with its history"
code=$(api "$TS" GET "/api/v1/jobs")
[ "$code" = 200 ] &&
    [ "$(jget "$TMP/r.json" "[j['job_id'] for j in d['jobs']].count('$SJOB') == 1 and '$JOB' not in [j['job_id'] for j in d['jobs']] and d['total'] == len(d['jobs'])")" = True ]
ok_or $? "a submitter's job list holds its own jobs only" cat "$TMP/r.json"
code=$(api "$TS" POST /api/v1/jobs '{"input":{"kind":"url","source":"http://127.0.0.1:9/a.mkv"},"profile":{"codec":"h264"},"name":"x"}')
[ "$code" = 400 ] && grep -q 'input.name' "$TMP/r.json"
ok_or $? "a top-level name in a submit: 400 pointing at input.name" cat "$TMP/r.json"
code=$(api "$TS" GET "/api/v1/jobs/$JOB")
[ "$code" = 403 ]
ok $? "... and another's job is 403"
code=$(api "$TV" GET "/api/v1/jobs?state=done&limit=1&offset=1")
[ "$code" = 200 ] && [ "$(jget "$TMP/r.json" "(len(d['jobs']), d['total'] >= 2, d['jobs'][0]['state'])")" = "(1, True, 'done')" ]
ok_or $? "a viewer lists every job: state filter, limit and offset" cat "$TMP/r.json"
code=$(api "$TV" GET "/api/v1/jobs?limit=lots")
[ "$code" = 400 ] && grep -q 'limit: expected a whole number' "$TMP/r.json"
ok $? "a bad limit: 400 naming it"
code=$(api "$TV" GET "/api/v1/jobs?state=sleeping")
[ "$code" = 400 ] && grep -q 'state' "$TMP/r.json"
ok_or $? "a bad state: 400 naming it" cat "$TMP/r.json"
code=$(api "$TS" POST /api/v1/jobs '{"input": {"kind": "path", "source": ')
[ "$code" = 400 ] && grep -q 'expected a JSON object' "$TMP/r.json"
ok $? "bad JSON: 400"
code=$(api "$TS" POST /api/v1/jobs '{"input":{"kind":"upload","xfer_id":1,"size":1,"sha256":"'"$(printf %064d 0)"'"},"profile":{"codec":"h264"}}')
[ "$code" = 400 ] && grep -q 'upload is not taken over HTTP' "$TMP/r.json"
ok $? "an upload input over HTTP: 400 saying how to upload"
code=$(api "$TS" POST /api/v1/jobs '{"input":{"kind":"path","source":"/etc/passwd"},"profile":{"codec":"h264"}}')
[ "$code" = 403 ] && grep -q 'outside the shared roots' "$TMP/r.json"
ok_or $? "a path outside the shared roots: 403 (the admin plane's rule)" cat "$TMP/r.json"
code=$(curl -s -o "$TMP/r.json" -w '%{http_code}' -H "Authorization: Bearer $TS" \
    --data-urlencode 'input=x' "$URL/api/v1/jobs")
[ "$code" = 415 ]
ok $? "a form-encoded POST (what a cross-site form sends): 415"

# cancel and retry: a queued av1 job (no encoder) cancelled, then retried.
code=$(api "$TO" POST /api/v1/jobs \
    "{\"input\":{\"kind\":\"path\",\"source\":\"$TMP/media/in.mkv\"},\"profile\":{\"codec\":\"av1\"}}")
QJOB=$(jget "$TMP/r.json" "d['job_id']")
code=$(api "$TO" POST "/api/v1/jobs/$QJOB/cancel" '{}')
[ "$code" = 200 ] && [ "$(jget "$TMP/r.json" "d['state']")" = cancelled ] && job_state_is "$QJOB" cancelled
ok $? "cancel through the API: the job is cancelled (distconvctl status says so)"
code=$(api "$TO" POST "/api/v1/jobs/$QJOB/retry" '{}')
[ "$code" = 200 ] && job_state_is "$QJOB" queued
ok $? "retry through the API: queued again"
code=$(api "$TO" POST "/api/v1/jobs/$SJOB/retry" '{}')
[ "$code" = 400 ] && grep -q 'only failed or cancelled jobs can be retried' "$TMP/r.json"
ok $? "retry of a done job: 400 saying why"
api "$TO" POST "/api/v1/jobs/$QJOB/cancel" '{}' >/dev/null

# workers and drain
code=$(api "$TV" GET /api/v1/workers)
[ "$code" = 200 ] && [ "$(jget "$TMP/r.json" "sorted(w['worker_id'] for w in d['workers'])")" = "['w1', 'w2']" ]
ok $? "GET /api/v1/workers: both workers"
code=$(api "$TV" GET /api/v1/workers/w1)
[ "$code" = 200 ] && [ "$(jget "$TMP/r.json" "d['worker_id'], 'devices' in d")" = "('w1', True)" ]
ok $? "GET /api/v1/workers/w1: the worker with its devices"
code=$(api "$TV" GET /api/v1/workers/nobody)
[ "$code" = 404 ]
ok $? "an unknown worker: 404"
code=$(api "$TO" POST /api/v1/workers/w1/drain '{}')
[ "$code" = 200 ] && ctl workers --json >"$TMP/w.json" &&
    [ "$(jget "$TMP/w.json" "[w['draining'] for w in d['workers'] if w['worker_id']=='w1'][0]")" = True ]
ok $? "drain through the API: distconvctl workers shows w1 draining"
api "$TO" POST /api/v1/workers/w1/undrain '{}' >/dev/null
code=$(api "$TV" GET /api/v1/cluster)
[ "$code" = 200 ] && [ "$(jget "$TMP/r.json" "d['workers']['online'], d['jobs']['done'] >= 2")" = "(2, True)" ]
ok $? "GET /api/v1/cluster: workers online and jobs by state"

# ---- the dashboard's login: cookie, CSRF, logout, revocation, events ----------------
$PY - "$HPORT" "$TO" "$TMP/media/in.mkv" >"$TMP/session.out" 2>&1 <<'EOF'
import http.client, json, sys, time
port, tok, media = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    if body is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    data = r.read()
    return r.status, r.getheader("Set-Cookie") or "", data
st, ck, data = req("POST", "/api/v1/login", {"token": tok})
csrf = json.loads(data)["csrf"]
print("login", st, "HttpOnly" in ck and "SameSite=Strict" in ck and "dcv_session=" in ck)
cookie = ck.split(";")[0]
st, _, data = req("GET", "/api/v1/whoami", headers={"Cookie": cookie})
print("whoami", st, json.loads(data)["role"], json.loads(data)["csrf"] == csrf)
st, _, data = req("POST", "/api/v1/workers/w2/drain", {}, {"Cookie": cookie})
print("nocsrf", st, b"X-CSRF-Token" in data)
st, _, _ = req("POST", "/api/v1/workers/w2/drain", {}, {"Cookie": cookie, "X-CSRF-Token": "0" * 64})
print("badcsrf", st)
st, _, _ = req("POST", "/api/v1/workers/w2/drain", {}, {"Cookie": cookie, "X-CSRF-Token": csrf})
print("drain", st)
st, _, _ = req("POST", "/api/v1/workers/w2/undrain", {}, {"Cookie": cookie, "X-CSRF-Token": csrf})
print("undrain", st)
st, _, _ = req("POST", "/api/v1/login", {"token": "dcv_" + "0" * 64})
print("badlogin", st)
# The event stream: a job submitted now is seen going to done.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
c.request("GET", "/api/v1/events", headers={"Cookie": cookie})
ev = c.getresponse()
print("events", ev.status, ev.getheader("Content-Type"))
st, _, data = req("POST", "/api/v1/jobs", {"input": {"kind": "path", "source": media},
                                           "profile": {"codec": "h264"}},
                  {"Cookie": cookie, "X-CSRF-Token": csrf})
job = json.loads(data)["job_id"]
states, name = [], None
deadline = time.time() + 60
while time.time() < deadline:
    line = ev.fp.readline().decode()
    if not line:
        break
    if line.startswith("event: "):
        name = line[7:].strip()
    elif line.startswith("data: ") and name == "job":
        j = json.loads(line[6:])
        if j["job_id"] == job and (not states or states[-1] != j["state"]):
            states.append(j["state"])
        if states and states[-1] in ("done", "failed"):
            break
print("states", " ".join(states))
st, ck2, _ = req("POST", "/api/v1/logout", {}, {"Cookie": cookie, "X-CSRF-Token": csrf})
print("logout", st, "Max-Age=0" in ck2)
st, _, data = req("GET", "/api/v1/whoami", headers={"Cookie": cookie})
print("after", json.loads(data)["via"])
EOF
grep -qx "login 200 True" "$TMP/session.out"
ok_or $? "login with a token: 200, an HttpOnly SameSite=Strict session cookie" cat "$TMP/session.out"
grep -qx "whoami 200 operator True" "$TMP/session.out"
ok $? "whoami with the cookie: the operator, and the session's CSRF token again"
grep -qx "nocsrf 403 True" "$TMP/session.out" && grep -qx "badcsrf 403" "$TMP/session.out"
ok $? "a POST with the cookie but no (or a wrong) X-CSRF-Token: 403"
grep -qx "drain 200" "$TMP/session.out" && grep -qx "undrain 200" "$TMP/session.out"
ok $? "... with it: drain and undrain work"
grep -qx "badlogin 401" "$TMP/session.out"
ok $? "a login with an unknown token: 401"
grep -qx "events 200 text/event-stream" "$TMP/session.out" &&
    grep -q "^states .*running.* done$" "$TMP/session.out"
ok $? "the event stream shows a job submitted through the API run and end done"
grep -qx "logout 200 True" "$TMP/session.out" && grep -qx "after anonymous" "$TMP/session.out"
ok $? "logout ends the session"

# Revocation ends a token at once, sessions and event streams included.
$PY - "$HPORT" "$TS" >"$TMP/revoke.out" 2>&1 <<'EOF' &
import http.client, json, sys
port, tok = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
c.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + tok})
r = c.getresponse()
print("open", r.status, flush=True)
while r.readline():
    pass
print("closed", flush=True)
EOF
RPID=$!
wait_until 20 grep -q "^open 200" "$TMP/revoke.out"
ctl token revoke t-submitter >/dev/null
ok $? "distconvctl token revoke"
code=$(api "$TS" GET /api/v1/whoami)
[ "$code" = 401 ] && grep -q 'invalid or revoked token' "$TMP/r.json"
ok $? "a revoked token: 401"
wait_until 20 grep -q "^closed" "$TMP/revoke.out"
ok $? "... and its open event stream is closed"
kill "$RPID" 2>/dev/null
wait "$RPID" 2>/dev/null
kill -0 "$COORD_PID"
ok $? "the coordinator is up after all of it"

# ---- anonymous off, the scrape token, TLS, refusals --------------------------------
stop_daemons
PIDS=""
printf 'prom-scrape-token-0123456789\n' >"$TMP/scrape"
chmod 600 "$TMP/scrape"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
chmod 600 "$TMP/key.pem"
cat >"$TMP/tls.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
http = { bind = "127.0.0.1:$HPORT"; anonymous = "none"; metrics_token_file = "$TMP/scrape";
         tls_cert = "$TMP/cert.pem"; tls_key = "$TMP/key.pem"; };
EOF
start_coordinator "$TMP/tls.conf"
wait_until 20 grep -q "http endpoint bound: https://127.0.0.1:$HPORT/ (anonymous access: none)" "$TMP/coord.log"
ok_or $? "restarted with TLS, anonymous access off and a scrape token" tail -5 "$TMP/coord.log"
S="https://127.0.0.1:$HPORT"
code=$(curl -s --cacert "$TMP/cert.pem" -o "$TMP/r.json" -w '%{http_code}' "$S/api/v1/cluster")
[ "$code" = 401 ]
ok $? "anonymous: 401 on the API"
code=$(curl -s --cacert "$TMP/cert.pem" -o /dev/null -w '%{http_code}' "$S/metrics")
[ "$code" = 401 ]
ok $? "anonymous: 401 on /metrics"
code=$(curl -s --cacert "$TMP/cert.pem" -o "$TMP/m.txt" -w '%{http_code}' \
    -H 'Authorization: Bearer prom-scrape-token-0123456789' "$S/metrics")
[ "$code" = 200 ] && grep -q '^distconv_jobs{state="done"} [1-9]' "$TMP/m.txt"
ok $? "the scrape token reads /metrics over HTTPS"
code=$(curl -s --cacert "$TMP/cert.pem" -o /dev/null -w '%{http_code}' \
    -H 'Authorization: Bearer prom-scrape-token-0123456789' "$S/api/v1/jobs")
[ "$code" = 403 ]
ok $? "... and nothing else (403)"
code=$(curl -s --cacert "$TMP/cert.pem" -o "$TMP/r.json" -w '%{http_code}' -H "Authorization: Bearer $TO" "$S/api/v1/whoami")
[ "$code" = 200 ] && [ "$(jget "$TMP/r.json" "d['role']")" = operator ]
ok $? "tokens outlive a restart (the store keeps their hashes)"
curl -s --cacert "$TMP/cert.pem" -D "$TMP/h.txt" -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"token\":\"$TO\"}" "$S/api/v1/login"
grep -qi '^Set-Cookie: dcv_session=.*; Secure' "$TMP/h.txt"
ok $? "over TLS the session cookie is Secure"
stop_daemons
PIDS=""

chmod 644 "$TMP/key.pem"
timeout 30 env DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/coord" \
    DISTCONV_BIND="tcp://127.0.0.1:$(free_port)" DISTCONV_DATA_BIND="tcp://127.0.0.1:$(free_port)" \
    DISTCONV_ADMIN="ipc://$TMP/c3.sock" DISTCONV_SECURITY_MODE=none \
    "$DISTCONVD" -c "$TMP/tls.conf" >"$TMP/c3.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "key.pem: group or others may read it" "$TMP/c3.log"
ok_or $? "a TLS key others may read: the daemon refuses to start (rc $rc)" cat "$TMP/c3.log"
timeout 30 env DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/coord" \
    DISTCONV_BIND="tcp://127.0.0.1:$(free_port)" DISTCONV_DATA_BIND="tcp://127.0.0.1:$(free_port)" \
    DISTCONV_ADMIN="ipc://$TMP/c3.sock" DISTCONV_SECURITY_MODE=none \
    DISTCONV_HTTP_BIND="0.0.0.0:$(free_port)" "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/c4.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'set http.anonymous = "none"' "$TMP/c4.log"
ok_or $? "a non-loopback bind with anonymous reading: refused, saying what to set (rc $rc)" cat "$TMP/c4.log"

done_testing
