# Shared helpers for shell tests (sourced). TAP output; every test runs in
# its own temp dir, removed on exit, and kills what it started.
set -u
: "${DCV_TOP_BUILDDIR:?run through make check}"
DISTCONVD="$DCV_TOP_BUILDDIR/core/distconvd"
# Workers measure their encoders before registering (worker.benchmark):
# seconds per worker that tests about anything else should not spend. A
# test that wants it sets DISTCONV_BENCHMARK=1 for that worker.
DISTCONV_BENCHMARK=${DISTCONV_BENCHMARK:-0}
export DISTCONV_BENCHMARK
FFMPEG="${DCV_FFMPEG:-ffmpeg}"
FFPROBE="${DCV_FFPROBE:-ffprobe}"
_tap_n=0
_tap_failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcvtest.XXXXXX")
_cleanup() { rm -rf "$TMP"; }
trap _cleanup EXIT

# DCV_VALGRIND=1 (the valgrind stage of scripts/test, docs/testing.md): every
# distconvd this test starts runs under memcheck, one log per process in
# $DCV_VALGRIND_DIR named <test>.<pid>.log, empty when clean (-q); the stage
# judges the logs. Job processes a worker execs and --transcode run natively
# (the media pipeline under memcheck takes minutes per clip; ASan covers it).
if [ "${DCV_VALGRIND:-0}" = 1 ]; then
    _vg_dir=${DCV_VALGRIND_DIR:-$DCV_TOP_BUILDDIR/valgrind}
    mkdir -p "$_vg_dir"
    . "$DCV_TOP_SRCDIR/tests/valgrind-flags.sh"
    # valgrind cannot exec /proc/self/exe (it is valgrind): name the binary.
    cat >"$TMP/distconvd-valgrind" <<EOF
#!/bin/sh
case " \$* " in *" --transcode "*) exec "$DISTCONVD" "\$@" ;; esac
DISTCONV_SELF_EXE="$DISTCONVD" exec valgrind $(echo $DCV_VALGRIND_FLAGS) \\
    --suppressions="$DCV_TOP_SRCDIR/tests/valgrind.supp" \\
    --log-file="$_vg_dir/$(basename "$0" .sh).%p.log" "$DISTCONVD" "\$@"
EOF
    chmod +x "$TMP/distconvd-valgrind"
    DISTCONVD="$TMP/distconvd-valgrind"
fi

ok() { # ok COND-EXIT-STATUS NAME
    _tap_n=$((_tap_n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $_tap_n - $2"; else echo "not ok $_tap_n - $2"; _tap_failed=$((_tap_failed + 1)); fi
}
check() { # check NAME CMD...  (passes when CMD exits 0)
    _name=$1; shift
    if "$@" >"$TMP/.out" 2>&1; then ok 0 "$_name"; else ok 1 "$_name"; sed 's/^/# /' "$TMP/.out"; fi
}
diag() { echo "# $*"; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $2 # SKIP $1"; }
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ]; }

# gen_clip OUT ARGS...: make a test clip from lavfi sources (small, fast)
gen_clip() {
    _out=$1; shift
    "$FFMPEG" -hide_banner -loglevel error -y "$@" "$_out"
}
# probe_field FILE STREAM-SELECTOR ENTRY  e.g. probe_field a.mkv v:0 codec_name
probe_field() {
    "$FFPROBE" -v error -select_streams "$2" -show_entries "stream=$3" -of default=nw=1:nk=1 "$1" | head -n1
}
probe_duration() {
    "$FFPROBE" -v error -show_entries format=duration -of default=nw=1:nk=1 "$1"
}
