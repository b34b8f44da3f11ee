#!/bin/sh
# /metrics for GPUs and workers (issue 12), on a real coordinator and a
# worker with the test-only fakegpu plugin (a "GPU" with 4 encoder
# sessions) whose GPU the fake libnvidia-ml also reports (utilisation,
# memory, 2 sessions of other software), the worker serving its own
# /metrics at worker.http_bind:
#   - both scrapes pass promtool; the GPU's sessions used/other/limit,
#     utilisation, memory and model, the worker's class slots, job
#     processes and devices, with a job holding the GPU (fakegpu's
#     hold_file keeps its session open until the test lets it go);
#   - a running encode's fps; after the job, the data-plane bytes by
#     direction on both sides match the input and output sizes;
#   - no job id in a label;
#   - a non-loopback worker.http_bind stops the worker at start, saying
#     why; a bad one is refused with file:line.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"
ok_or() { _st=$1 _nm=$2; shift 2; ok "$_st" "$_nm"; [ "$_st" -eq 0 ] || "$@"; }

if ! command -v curl >/dev/null 2>&1 || [ ! -f "$FAKE_NVML" ] ||
    [ ! -e "$DCV_TOP_BUILDDIR/tests/plugins/.libs/fakegpu.so" ] ||
    [ ! -e "$DCV_TOP_BUILDDIR/stage/plugins/enc-x264.so" ]; then
    skip "curl, fake NVML, fakegpu or enc-x264 missing" "worker metrics"
    done_testing
    exit $?
fi
if command -v promtool >/dev/null 2>&1; then
    prom_ok() { promtool check metrics <"$1" >"$1.promtool" 2>&1; }
else
    prom_ok() { diag "promtool is not installed (Debian package prometheus): not checked"; }
fi

unset DISTCONV_HTTP_BIND
HPORT=$(free_port)
WPORT=$(free_port)
CURL="http://127.0.0.1:$HPORT/metrics"
WURL="http://127.0.0.1:$WPORT/metrics"
GPU=GPU-5e1f0a2b-7c3d-4e5f-8a9b-0c1d2e3f4a5b
gpus() { # gpus SESSIONS: NVML's count of every process's encoder sessions
    echo "uuid=$GPU name=Fake_RTX_4070 pci=00000000:01:00.0 util=12 enc=30 dec=4" \
        "mem_total=12884901888 mem_used=1073741824 temp=61 power_mw=75250 sessions=$1" \
        >"$TMP/gpus.new" && mv "$TMP/gpus.new" "$TMP/gpus"
}
gpus 2
cat >"$TMP/http.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
http = { bind = "127.0.0.1:$HPORT"; };
EOF
# 200 frames; fakegpu encodes at most 20 a second: 10 s of encoding.
gen_clip "$TMP/media/in.mkv" -f lavfi -i "testsrc=size=64x64:rate=25:duration=8" -pix_fmt yuv420p \
    -c:v libx264 -preset ultrafast
ok $? "input generated"

plugin_dir_fakegpu "$TMP/plug" enc-x264 transport-zmq
export DISTCONV_PLUGIN_DIR="$TMP/plug"
mkdir -p "$TMP/gpu"
fakegpu_dropin "$TMP/wg.d" device_id="\"$GPU\"" name='"Fake GPU"' sessions=4 fps=20 \
    state_dir="\"$TMP/gpu\"" hold_file="\"$TMP/hold\""
start_coordinator "$TMP/http.conf"
WORKER_ENV="DISTCONV_MAX_JOBS=3 DISTCONV_MAX_GPU_JOBS=2 DISTCONV_PLUGIN_CONF_DIR=$TMP/wg.d \
DISTCONV_NVML_LIBRARY=$FAKE_NVML DCV_FAKE_NVML_FILE=$TMP/gpus DISTCONV_WORKER_HTTP_BIND=127.0.0.1:$WPORT" \
    start_worker wg
WORKER_ENV=
wait_until 30 workers_online 1
ok_or $? "coordinator and a worker with a fakegpu online" dump_logs
grep -q "worker http endpoint bound: http://127.0.0.1:$WPORT/metrics" "$TMP/wg.log"
ok $? "the worker logs its HTTP endpoint"

# scrape URL OUT: one scrape
scrape() { curl -sf -o "$2" "$1"; }
# has URL OUT LINE...: a scrape of URL holding each LINE exactly
has() {
    _u=$1 _o=$2; shift 2
    scrape "$_u" "$_o" || return 1
    for _l in "$@"; do grep -qxF "$_l" "$_o" || return 1; done
}
S='distconv_gpu_encoder_sessions{worker="wg",gpu="'$GPU'",kind='

# --- idle: other software holds 2 of the GPU's 4 sessions ------------------------
wait_until 20 has "$CURL" "$TMP/c0.txt" "${S}\"used\"} 2" "${S}\"other\"} 2" "${S}\"limit\"} 4"
ok_or $? "coordinator: GPU sessions used 2, other 2, limit 4 (NVML's count, fakegpu's limit)" \
    sed 's/^/# /' "$TMP/c0.txt"
g='{worker="wg",gpu="'$GPU'"'
grep -qxF "distconv_gpu_utilization_percent$g,engine=\"encoder\"} 30" "$TMP/c0.txt" &&
    grep -qxF "distconv_gpu_utilization_percent$g,engine=\"core\"} 12" "$TMP/c0.txt" &&
    grep -qxF "distconv_gpu_utilization_percent$g,engine=\"decoder\"} 4" "$TMP/c0.txt" &&
    grep -qxF "distconv_gpu_memory_bytes$g,kind=\"used\"} 1073741824" "$TMP/c0.txt" &&
    grep -qxF "distconv_gpu_memory_bytes$g,kind=\"total\"} 12884901888" "$TMP/c0.txt" &&
    grep -qxF "distconv_gpu_info$g,model=\"Fake RTX 4070\"} 1" "$TMP/c0.txt" &&
    grep -qxF "distconv_gpu_temperature_celsius$g} 61" "$TMP/c0.txt" &&
    grep -qxF "distconv_gpu_power_watts$g} 75.25" "$TMP/c0.txt"
ok $? "coordinator: GPU utilisation by engine, memory, model, temperature, power"
grep -qxF 'distconv_worker_class_slots{worker="wg",class="gpu"} 2' "$TMP/c0.txt" &&
    grep -qxF 'distconv_worker_class_slots{worker="wg",class="cpu"} 3' "$TMP/c0.txt" &&
    grep -qxF 'distconv_worker_class_slots_used{worker="wg",class="gpu"} 0' "$TMP/c0.txt"
ok $? "coordinator: class slots gpu 2, cpu 3 (max_jobs), none used"
prom_ok "$TMP/c0.txt"
ok_or $? "promtool accepts the coordinator's scrape" sed 's/^/# /' "$TMP/c0.txt.promtool"

scrape "$WURL" "$TMP/w0.txt"
ok $? "GET the worker's /metrics"
grep -qxF 'distconv_worker_up{worker="wg"} 1' "$TMP/w0.txt" &&
    grep -qxF 'distconv_worker_connected{worker="wg"} 1' "$TMP/w0.txt" &&
    grep -qxF 'distconv_worker_slots{worker="wg"} 3' "$TMP/w0.txt" &&
    grep -qxF 'distconv_worker_class_slots{worker="wg",class="gpu"} 2' "$TMP/w0.txt" &&
    grep -qxF 'distconv_worker_benchmarking{worker="wg"} 0' "$TMP/w0.txt" &&
    grep -qxF "distconv_device_available{worker=\"wg\",plugin=\"fakegpu\",device=\"$GPU\",hardware=\"1\"} 1" "$TMP/w0.txt" &&
    grep -qxF 'distconv_device_available{worker="wg",plugin="x264",device="cpu",hardware="0"} 1' "$TMP/w0.txt" &&
    grep -qxF "distconv_device_codec_info{worker=\"wg\",plugin=\"fakegpu\",device=\"$GPU\",codec=\"h264\",encoder=\"h264_fakegpu\"} 1" "$TMP/w0.txt"
ok_or $? "worker: up, connected, slots, class slots, its devices and codecs" sed 's/^/# /' "$TMP/w0.txt"
grep -qxF "${S}\"used\"} 2" "$TMP/w0.txt" && grep -qxF "${S}\"other\"} 2" "$TMP/w0.txt" &&
    grep -qxF "${S}\"limit\"} 4" "$TMP/w0.txt" &&
    grep -qxF "distconv_gpu_utilization_percent$g,engine=\"encoder\"} 30" "$TMP/w0.txt" &&
    grep -q '^distconv_worker_memory_bytes{worker="wg",kind="total"} [1-9]' "$TMP/w0.txt" &&
    grep -q '^process_resident_memory_bytes [1-9]' "$TMP/w0.txt"
ok $? "worker: the same GPU sessions, utilisation, machine memory and process figures"
prom_ok "$TMP/w0.txt"
ok_or $? "promtool accepts the worker's scrape" sed 's/^/# /' "$TMP/w0.txt.promtool"

# --- a job holding the GPU ---------------------------------------------------------
: >"$TMP/hold"
id=$(submit_id "$TMP/media/in.mkv" --codec h264 --encoder fakegpu --gpu-policy queue)
# NVML now counts our session too (the fake reads what the test writes).
gpus 3
wait_until 30 has "$CURL" "$TMP/c1.txt" "${S}\"used\"} 3" "${S}\"other\"} 2" \
    'distconv_worker_class_slots_used{worker="wg",class="gpu"} 1' \
    'distconv_worker_slots_used{worker="wg"} 1'
ok_or $? "coordinator, job placed on the GPU: sessions used 3 (ours 1, other 2), one GPU slot used" \
    sed 's/^/# /' "$TMP/c1.txt"
wait_until 20 has "$WURL" "$TMP/w1.txt" "${S}\"used\"} 3" "${S}\"other\"} 2" \
    'distconv_worker_class_slots_used{worker="wg",class="gpu"} 1' \
    'distconv_worker_job_processes{worker="wg"} 1'
ok_or $? "worker: its job on the GPU, one job process, sessions used 3 / other 2" \
    sed 's/^/# /' "$TMP/w1.txt"
rm -f "$TMP/hold"
fps_up() { scrape "$1" "$2" && grep -q '^distconv_worker_encode_fps{worker="wg"} [1-9]' "$2"; }
wait_until 30 fps_up "$CURL" "$TMP/c2.txt"
ok_or $? "coordinator: the worker's encode fps while the job encodes" sed 's/^/# /' "$TMP/c2.txt"
fps_up "$WURL" "$TMP/w2.txt"
ok_or $? "worker: its encode fps while the job encodes" sed 's/^/# /' "$TMP/w2.txt"
prom_ok "$TMP/w2.txt" && prom_ok "$TMP/c2.txt"
ok $? "promtool accepts both scrapes with a job running"
! grep -q "$id" "$TMP/c1.txt" "$TMP/c2.txt" "$TMP/w1.txt" "$TMP/w2.txt"
ok $? "no job id in any label"

# --- after the job: bytes by direction -----------------------------------------------
wait_until 60 job_state_is "$id" done
ok_or $? "the job is done" dump_logs
in_size=$(wc -c <"$TMP/media/in.mkv")
out_size=$(job_field "$id" "d['output']['size']")
gpus 2
scrape "$CURL" "$TMP/c3.txt" && scrape "$WURL" "$TMP/w3.txt"
ok $? "both scraped after the job"
cval() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
up=$(cval "$TMP/c3.txt" 'distconv_transfer_bytes_total{direction="upload"}')
down=$(cval "$TMP/c3.txt" 'distconv_transfer_bytes_total{direction="download"}')
[ -n "$up" ] && [ -n "$down" ] && [ "$up" -ge "$out_size" ] && [ "$down" -ge "$in_size" ] &&
    [ "$out_size" -gt 0 ]
ok_or $? "coordinator: bytes uploaded ($up) >= the output ($out_size), downloaded ($down) >= the input ($in_size)" \
    sed 's/^/# /' "$TMP/c3.txt"
wup=$(cval "$TMP/w3.txt" 'distconv_worker_transfer_bytes_total{worker="wg",direction="upload"}')
wdown=$(cval "$TMP/w3.txt" 'distconv_worker_transfer_bytes_total{worker="wg",direction="download"}')
[ "$wup" = "$out_size" ] && [ "$wdown" = "$in_size" ]
ok_or $? "worker: its job's output ($wup) and input ($wdown), whole files" sed 's/^/# /' "$TMP/w3.txt"
grep -qxF 'distconv_worker_job_processes{worker="wg"} 0' "$TMP/w3.txt" &&
    grep -qxF 'distconv_worker_slots_used{worker="wg"} 0' "$TMP/w3.txt" &&
    grep -qxF 'distconv_worker_encode_fps{worker="wg"} 0' "$TMP/w3.txt"
ok $? "worker: no job left, no fps"
prom_ok "$TMP/w3.txt" && prom_ok "$TMP/c3.txt"
ok $? "promtool accepts both scrapes after the job"

# --- worker.http_bind refused ----------------------------------------------------------
mkdir -p "$TMP/w2"
enroll w2
DISTCONV_ROLE=worker DISTCONV_NAME=w2 DISTCONV_STATE_DIR="$TMP/w2" \
    DISTCONV_COORDINATOR="tcp://127.0.0.1:$CPORT" DISTCONV_BENCHMARK=0 \
    DISTCONV_SECURITY_SECRET_KEY="$KEYS/w2.key" DISTCONV_SECURITY_COORDINATOR_KEY="$KEYS/coord.pub" \
    DISTCONV_WORKER_HTTP_BIND="0.0.0.0:$(free_port)" \
    timeout 30 "$DISTCONVD" -c "$TMP/fast.conf" >"$TMP/w2.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] &&
    grep -q "worker.http_bind 0.0.0.0:[0-9]* is not a loopback address" "$TMP/w2.log"
ok_or $? "worker.http_bind 0.0.0.0: the worker refuses to start, saying why (rc $rc)" cat "$TMP/w2.log"
printf 'role = "worker";\nworker = {\n  http_bind = "localhost:7481";\n};\n' >"$TMP/bad.conf"
"$DISTCONVD" -c "$TMP/bad.conf" --check-config >"$TMP/bad.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:3: worker.http_bind: 'localhost:7481': not an IPv4 address" "$TMP/bad.out"
ok_or $? "a bad worker.http_bind: file:line and why" cat "$TMP/bad.out"
kill -0 "$PID_wg"
ok $? "the first worker still runs"

done_testing
