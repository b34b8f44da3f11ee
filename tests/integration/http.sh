#!/bin/sh
# The coordinator's HTTP plane, first part (issue 12): libmicrohttpd on the
# daemon's loop at http.bind, /metrics in the Prometheus text format
# (checked with promtool where Debian's prometheus package is installed)
# with jobs in several states and two workers, transfer bytes by
# direction, 404/405/413 with JSON bodies, oversized headers, idle
# connections closed after http.timeout_s, a non-loopback bind refused, a
# bad http.bind refused with file:line, and the standalone daemon serving
# it too. Clients: curl and Python.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

if ! command -v curl >/dev/null 2>&1; then
    skip "curl is not installed" "http"
    done_testing
    exit $?
fi
ok_or() { _st=$1 _nm=$2; shift 2; ok "$_st" "$_nm"; [ "$_st" -eq 0 ] || "$@"; }

# The suite runs with DISTCONV_HTTP_BIND=off (tests/local.mk); here the
# configuration file decides, as on a real host.
http_conf "timeout_s = 2; max_connections = 8; per_ip_connections = 8;"
ffmpeg -v error -f lavfi -i testsrc=size=160x120:rate=10 -t 1 -c:v ffv1 "$TMP/media/in.mkv"
ok $? "input generated"

start_coordinator "$TMP/http.conf"
start_worker w1
start_worker w2
wait_until 30 workers_online 2
ok $? "coordinator with http.bind, two workers online"
grep -q "http endpoint bound: http://127.0.0.1:$HPORT/ (anonymous access: read-only)" "$TMP/coord.log"
ok $? "the coordinator logs the HTTP endpoint"

ctl info >"$TMP/info.txt" 2>&1
grep -q "^http       http://127.0.0.1:$HPORT/$" "$TMP/info.txt"
ok_or $? "distconvctl info names the HTTP plane's URL" cat "$TMP/info.txt"

# Jobs in several states: done, failed (not media), queued (no av1 encoder).
done_id=$(submit_id "$TMP/media/in.mkv" --codec h264)
head -c 20000 /dev/urandom >"$TMP/media/noise.mkv"
fail_id=$(submit_id "$TMP/media/noise.mkv" --codec h264 --max-attempts 1)
q_id=$(submit_id "$TMP/media/in.mkv" --codec av1)
wait_until 60 job_state_is "$done_id" done && wait_until 60 job_state_is "$fail_id" failed
ok_or $? "one job done, one failed, one queued" dump_logs

curl -s -D "$TMP/h.txt" -o "$TMP/m.txt" "$URL/metrics"
ok $? "GET /metrics"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$TMP/h.txt"
ok $? "... in the Prometheus text format 0.0.4"
grep -qx 'distconv_jobs{state="done"} 1' "$TMP/m.txt" &&
    grep -qx 'distconv_jobs{state="failed"} 1' "$TMP/m.txt" &&
    grep -qx 'distconv_jobs{state="queued"} 1' "$TMP/m.txt"
ok_or $? "jobs by state: done 1, failed 1, queued 1" sed 's/^/# /' "$TMP/m.txt"
grep -qx 'distconv_worker_up{worker="w1"} 1' "$TMP/m.txt" &&
    grep -qx 'distconv_worker_up{worker="w2"} 1' "$TMP/m.txt" &&
    grep -qx 'distconv_workers{state="online"} 2' "$TMP/m.txt" &&
    grep -qx 'distconv_worker_slots{worker="w1"} 1' "$TMP/m.txt" &&
    grep -q '^distconv_worker_memory_bytes{worker="w2",kind="total"} [1-9]' "$TMP/m.txt" &&
    grep -q '^process_resident_memory_bytes [1-9]' "$TMP/m.txt"
ok $? "per worker: up, slots, memory; process metrics"
grep -qx 'distconv_jobs_submitted_total 3' "$TMP/m.txt" &&
    grep -qx 'distconv_jobs_ended_total{state="done"} 1' "$TMP/m.txt" &&
    grep -qx 'distconv_jobs_ended_total{state="failed"} 1' "$TMP/m.txt" &&
    grep -qx 'distconv_attempts_total{outcome="done"} 1' "$TMP/m.txt"
ok $? "counters since start: 3 submitted, 1 done, 1 failed, 1 attempt done"
grep -qx 'distconv_queue_wait_seconds_count{codec="h264",family="x264"} 2' "$TMP/m.txt" &&
    grep -qx 'distconv_queue_wait_seconds_bucket{codec="h264",family="x264",le="+Inf"} 2' "$TMP/m.txt" &&
    grep -qx 'distconv_attempt_run_seconds_count{codec="h264",family="x264"} 1' "$TMP/m.txt" &&
    ! grep -q 'codec="av1"' "$TMP/m.txt"
ok $? "histograms: 2 placements of h264 on x264 (queue wait), 1 successful run; the unplaced av1 job in none"
# The done job's input went to a worker and its output came back on the
# data plane (submit uploaded both inputs first).
up=$(awk '$1 == "distconv_transfer_bytes_total{direction=\"upload\"}" { print $2 }' "$TMP/m.txt")
down=$(awk '$1 == "distconv_transfer_bytes_total{direction=\"download\"}" { print $2 }' "$TMP/m.txt")
out_size=$(job_field "$done_id" "d['output']['size']")
in_size=$(wc -c <"$TMP/media/in.mkv")
[ -n "$up" ] && [ -n "$down" ] && [ "$out_size" -gt 0 ] && [ "$up" -ge "$out_size" ] &&
    [ "$up" -ge $((out_size + in_size + 20000)) ] && [ "$down" -ge "$in_size" ]
ok $? "transfer bytes: upload $up >= the output and both inputs ($out_size + $in_size + 20000), download $down >= the input ($in_size)"
grep -qx 'distconv_worker_class_slots{worker="w1",class="cpu"} 1' "$TMP/m.txt" &&
    grep -qx 'distconv_worker_class_slots_used{worker="w1",class="gpu"} 0' "$TMP/m.txt" &&
    grep -q '^distconv_worker_encode_fps{worker="w2"} ' "$TMP/m.txt" &&
    grep -q '^# TYPE distconv_gpu_encoder_sessions gauge$' "$TMP/m.txt" &&
    ! grep -q '^distconv_gpu_encoder_sessions{' "$TMP/m.txt"
ok $? "per worker: class slots and encode fps; no GPU rows without a GPU"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$TMP/m.txt" >"$TMP/promtool.out" 2>&1
    ok_or $? "promtool check metrics accepts a live scrape" sed 's/^/# /' "$TMP/promtool.out"
else
    skip "promtool is not installed (Debian package prometheus)" "promtool check metrics"
fi
! grep -q "$done_id\|$fail_id\|$q_id" "$TMP/m.txt"
ok $? "no job id in any label (bounded cardinality)"
curl -s -o /dev/null -w '%{http_code}' -I "$URL/metrics" | grep -qx 200
ok $? "HEAD /metrics: 200"

# Errors are JSON, with the right status.
code=$(curl -s -o "$TMP/e.json" -w '%{http_code}' "$URL/no/such/page")
[ "$code" = 404 ] && [ "$(jget "$TMP/e.json" "d['error']")" = "no such page" ]
ok $? "an unknown path: 404 with a JSON error"
code=$(curl -s -D "$TMP/h2.txt" -o "$TMP/e.json" -w '%{http_code}' -X DELETE "$URL/metrics")
[ "$code" = 405 ] && grep -qi '^Allow: GET' "$TMP/h2.txt"
ok $? "DELETE /metrics: 405 with Allow: GET"
head -c 100000 /dev/zero | tr '\0' 'a' >"$TMP/big.json"
code=$(curl -s -o "$TMP/e.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$TMP/big.json" "$URL/api/v1/login")
[ "$code" = 413 ] && grep -q 'request body over 65536 bytes' "$TMP/e.json"
ok $? "a request body over 64 KiB: 413 ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/../../etc/passwd" --path-as-is)
[ "$code" = 404 ]
ok $? "a traversal path: 404 ($code)"

# Hostile clients: an oversized header, idle connections holding every slot.
big=$(head -c 100000 /dev/zero | tr '\0' 'a')
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$URL/metrics")
case $code in 431 | 413 | 400) r=0 ;; *) r=1 ;; esac
ok $r "a 100 KB header is refused ($code)"
/usr/bin/python3 - "$HPORT" >"$TMP/idle.out" 2>&1 <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
# Eight connections that send half a request line and then nothing: the
# limit is 8, so they hold every slot until http.timeout_s (2 s) ends them.
socks = []
for _ in range(8):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metr")
    socks.append(s)
closed = 0
for s in socks:
    s.settimeout(20)
    try:
        closed += s.recv(4096) == b""
    except ConnectionResetError:
        closed += 1
    except socket.timeout:
        pass
print("closed", closed)
EOF
grep -qx "closed 8" "$TMP/idle.out"
ok_or $? "eight idle half-requests are closed by the server (http.timeout_s)" cat "$TMP/idle.out"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics")
[ "$code" = 200 ] && kill -0 "$COORD_PID"
ok $? "the coordinator is up and serving after the hostile clients"

# A non-loopback bind with anonymous reading is refused at start; a bad
# http.bind names the file and line.
mkdir -p "$TMP/c2"
DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/c2" DISTCONV_BIND="tcp://127.0.0.1:$(free_port)" \
    DISTCONV_DATA_BIND="tcp://127.0.0.1:$(free_port)" DISTCONV_ADMIN="ipc://$TMP/c2/admin.sock" \
    DISTCONV_SECURITY_MODE=none DISTCONV_HTTP_BIND="0.0.0.0:$(free_port)" \
    timeout 30 "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/c2.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "http.bind 0.0.0.0:[0-9]* is not a loopback address" "$TMP/c2.log"
ok_or $? "http.bind 0.0.0.0: the daemon refuses to start, saying why (rc $rc)" cat "$TMP/c2.log"
printf 'role = "coordinator";\nhttp = {\n  bind = "localhost:80";\n};\n' >"$TMP/bad.conf"
"$DISTCONVD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:3: http.bind: 'localhost:80': not an IPv4 address" "$TMP/bad.out"
ok_or $? "a bad http.bind: file:line and why" cat "$TMP/bad.out"
DISTCONV_ROLE=coordinator DISTCONV_STATE_DIR="$TMP/c2" DISTCONV_BIND="tcp://127.0.0.1:$(free_port)" \
    DISTCONV_DATA_BIND="tcp://127.0.0.1:$(free_port)" DISTCONV_ADMIN="ipc://$TMP/c2/admin.sock" \
    DISTCONV_SECURITY_MODE=none DISTCONV_HTTP_BIND="127.0.0.1:$HPORT" \
    timeout 30 "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/c3.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "http: cannot listen on 127.0.0.1:$HPORT" "$TMP/c3.log"
ok_or $? "http.bind in use: the second daemon stops, naming the address (rc $rc)" cat "$TMP/c3.log"

# The standalone daemon serves it too.
SPORT=$(free_port)
mkdir -p "$TMP/sa"
DISTCONV_ROLE=standalone DISTCONV_STATE_DIR="$TMP/sa" DISTCONV_HTTP_BIND="127.0.0.1:$SPORT" \
    DISTCONV_ADMIN="ipc://$TMP/sa/admin.sock" "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/sa.log" 2>&1 &
SA_PID=$!
PIDS="$PIDS $SA_PID"
sa_up() { curl -s "http://127.0.0.1:$SPORT/metrics" | grep -q '^distconv_worker_up{worker="[^"]*"} 1$'; }
wait_until 30 sa_up
ok_or $? "the standalone daemon serves /metrics with its own worker up" cat "$TMP/sa.log"

done_testing
