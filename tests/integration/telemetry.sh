#!/bin/sh
# Worker telemetry and admission against real daemons (issue 5, item 4):
#  - a worker with the test-only fake libnvidia-ml (tests/plugins/fakenvml.c,
#    loaded through DISTCONV_NVML_LIBRARY: the real dlopen path) reports its
#    GPUs in heartbeats; `distconvctl workers --json` and the human output
#    show them, with the host figures (PSI, load, swap...) the machine has;
#  - a worker whose NVML library is missing says so once and goes on;
#  - admission: the fake GPU heating past admission.max_gpu_temp_c makes its
#    worker BUSY with the reason; the coordinator logs it once and sends
#    every job to the other worker; restarted with the limit raised
#    (admission.* is read at start), the worker takes jobs again.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

if [ ! -f "$FAKE_NVML" ]; then
    skip "fake NVML not built ($FAKE_NVML)" "telemetry"
    done_testing
    exit $?
fi

GPU_ID=GPU-5e1f0a2b-7c3d-4e5f-8a9b-0c1d2e3f4a5b
gpus() { # gpus TEMP SESSIONS
    echo "uuid=$GPU_ID name=Fake_RTX_4070 pci=00000000:01:00.0 util=12 enc=30 dec=4" \
        "mem_total=12884901888 mem_used=1073741824 temp=$1 power_mw=75250 sessions=$2" \
        >"$TMP/gpus.new" && mv "$TMP/gpus.new" "$TMP/gpus"
}
gpus 60 2
for i in 1 2 3; do
    gen_clip "$TMP/media/clip$i.mkv" -f lavfi -i "testsrc=size=160x120:rate=25:duration=1" \
        -c:v libx264 -preset ultrafast
done
cat >"$TMP/hot-ok.conf" <<EOF
liveness = { heartbeat_ms = 300; misses = 3; };
admission = { max_gpu_temp_c = 99.5; };
EOF

mkdir -p "$KEYS" "$TMP/workers.d" "$TMP/admins.d"
for w in wgpu wcpu; do enroll "$w"; done
start_coordinator
WORKER_ENV="DISTCONV_NVML_LIBRARY=$FAKE_NVML DCV_FAKE_NVML_FILE=$TMP/gpus" start_worker wgpu
WORKER_ENV="DISTCONV_NVML_LIBRARY=libdcv-no-such-nvml.so.1" start_worker wcpu
WORKER_ENV=
wait_until 30 workers_online 2
ok $? "two workers online"

# --- GPU figures in heartbeats --------------------------------------------------
has_gpu() {
    ctl workers --json >"$TMP/w.json" 2>/dev/null &&
        [ "$(jget "$TMP/w.json" "[g['enc_sessions'] for w in d['workers'] if w['worker_id']=='wgpu' for g in w['telemetry'].get('gpus',[])]")" = "[$1]" ]
}
wait_until 20 has_gpu 2
ok $? "wgpu's heartbeat carries the fake GPU"
g="[w['telemetry']['gpus'][0] for w in d['workers'] if w['worker_id']=='wgpu'][0]"
[ "$(jget "$TMP/w.json" "$g['id']")" = "$GPU_ID" ] &&
    [ "$(jget "$TMP/w.json" "$g['name']")" = "Fake RTX 4070" ] &&
    [ "$(jget "$TMP/w.json" "$g['pci']")" = "0000:01:00.0" ] &&
    [ "$(jget "$TMP/w.json" "($g['util_pct'], $g['enc_pct'], $g['dec_pct'], $g['temp_c'], $g['power_w'])")" = "(12.0, 30.0, 4.0, 60.0, 75.25)" ] &&
    [ "$(jget "$TMP/w.json" "($g['mem_total'], $g['mem_used'])")" = "(12884901888, 1073741824)" ]
ok $? "workers --json: id, name, pci, utilisation, encoder, decoder, temperature, power, memory"
[ "$(jget "$TMP/w.json" "[len(w['telemetry'].get('gpus', [])) for w in d['workers'] if w['worker_id']=='wcpu']")" = "[0]" ]
ok $? "the worker without NVML reports no GPU"
# Host figures the machine has: PSI only where the kernel has it.
t="[w['telemetry'] for w in d['workers'] if w['worker_id']=='wgpu'][0]"
jget "$TMP/w.json" "all(k in $t for k in ('load5', 'load15', 'swap_total', 'swap_free')) and ('psi' in $t) == $([ -r /proc/pressure/cpu ] && echo True || echo False)" |
    grep -qx True
ok $? "workers --json: load5/15, swap, and psi exactly when /proc/pressure is readable"

gpus 61 3 # figures are sampled at every heartbeat
wait_until 20 has_gpu 3
ok $? "a change of the GPU's figures reaches the coordinator"
ctl workers >"$TMP/w.txt" 2>&1
grep -q "^wgpu $GPU_ID (Fake RTX 4070, 0000:01:00.0): util 12%, enc 30%, dec 4%, mem 1.0 GiB of 12.0 GiB, 61 C, 75 W, 3 encoder sessions" "$TMP/w.txt"
ok $? "human workers output: one line per GPU"
grep -q "^wgpu " "$TMP/w.txt" && ! grep -q "^wcpu GPU" "$TMP/w.txt"
ok $? "human workers output: no GPU line for the worker without one" || cat "$TMP/w.txt" | sed 's/^/# /'
ctl worker wgpu >"$TMP/w1.txt" 2>&1 && grep -q "gpus.*$GPU_ID" "$TMP/w1.txt"
ok $? "distconvctl worker shows the GPU"

[ "$(grep -c "NVIDIA GPU telemetry through $FAKE_NVML" "$TMP/wgpu.log")" = 1 ]
ok $? "wgpu logs its NVML library once"
[ "$(grep -c "no NVIDIA GPU telemetry: .*libdcv-no-such-nvml.so.1" "$TMP/wcpu.log")" = 1 ]
ok $? "a missing NVML library: one info line naming it, not one per heartbeat"

# --- admission: a hot GPU makes its worker BUSY ---------------------------------------
is_busy() { # is_busy WORKER True|False
    ctl workers --json >"$TMP/b.json" 2>/dev/null &&
        [ "$(jget "$TMP/b.json" "[w['busy'] for w in d['workers'] if w['worker_id']=='$1'][0]")" = "$2" ]
}
gpus 95 0 # admission.max_gpu_temp_c defaults to 90
wait_until 20 is_busy wgpu True
ok $? "the GPU at 95 C makes wgpu busy"
reason=$(jget "$TMP/b.json" "[w.get('busy_reason','') for w in d['workers'] if w['worker_id']=='wgpu'][0]")
[ "$reason" = "GPU $GPU_ID temperature 95.0 C above 90.0 C" ]
ok $? "busy_reason names the GPU and the limit ($reason)"
ctl workers 2>&1 | grep -q "^wgpu busy: GPU $GPU_ID temperature 95.0 C above 90.0 C"
ok $? "human workers output shows why"

ids=""
for i in 1 2 3; do ids="$ids $(submit_id "$TMP/media/clip$i.mkv" --codec h264 --preset 1)"; done
all_done() { for j in $ids; do job_state_is "$j" done || return 1; done; }
wait_until 120 all_done
ok $? "three jobs done while wgpu is busy"
on=""
for j in $ids; do on="$on $(job_field "$j" "d.get('worker')")"; done
[ "$on" = " wcpu wcpu wcpu" ]
ok $? "every job ran on wcpu, none on the busy worker ($on)"
is_busy wgpu True
ok $? "wgpu stayed busy all along"
[ "$(grep -c "worker wgpu is busy, not eligible for jobs: GPU $GPU_ID temperature" "$TMP/coord.log")" = 1 ]
ok $? "the coordinator logged the transition once, not per heartbeat"
[ "$(grep -c "busy, taking no new jobs: GPU" "$TMP/wgpu.log")" = 1 ]
ok $? "the worker logged it once"

# --- the limit lifted: eligible again -------------------------------------------------
ctl drain wcpu >/dev/null 2>&1
ok $? "wcpu drained: only wgpu could take a job"
kill -TERM "$PID_wgpu"
wait_until 20 sh -c "! kill -0 $PID_wgpu"
ok $? "wgpu stopped"
WORKER_ENV="DISTCONV_NVML_LIBRARY=$FAKE_NVML DCV_FAKE_NVML_FILE=$TMP/gpus" \
    start_worker wgpu "$TMP/hot-ok.conf"
WORKER_ENV=
wait_until 30 is_busy wgpu False
ok $? "restarted with admission.max_gpu_temp_c = 99.5, the 95 C GPU no longer makes it busy"
[ "$(jget "$TMP/b.json" "[w.get('busy_reason', '-') for w in d['workers'] if w['worker_id']=='wgpu'][0]")" = - ]
ok $? "and shows no busy reason"
id=$(submit_id "$TMP/media/clip1.mkv" --codec h264 --preset 1)
wait_until 90 job_state_is "$id" done
ok $? "a new job completes"
[ "$(job_field "$id" "d.get('worker')")" = wgpu ]
ok $? "on wgpu, eligible again"

[ "$_tap_failed" -eq 0 ] || dump_logs
done_testing
