# The stages of scripts/test (sourced; docs/testing.md). Each stage adds to
# the counters pass, fail and skip and prints its own lines, prefixed with
# [stage]. Needs DCV_SRC (the source tree). tests/integration/stages.sh
# sources this file to check the stages' own logic.
pass=0; fail=0; skip=0
# add_log LOG: add the counts of one automake test-suite.log
add_log() {
    eval "$(awk '/^# (PASS|FAIL|ERROR|XPASS|XFAIL|SKIP):/ {gsub(":","",$2); print $2"="$3}' "$1")"
    pass=$((pass + ${PASS:-0} + ${XFAIL:-0}))
    fail=$((fail + ${FAIL:-0} + ${ERROR:-0} + ${XPASS:-0}))
    skip=$((skip + ${SKIP:-0}))
    unset PASS FAIL ERROR XPASS XFAIL SKIP
}
run_suite() { # run_suite NAME DIR [configure args]
    name=$1; dir=$2; shift 2
    echo "==> [$name] build ($dir)"
    if ! dcv_build "$dir" "$@"; then
        echo "==> [$name] BUILD FAILED"; fail=$((fail + 1)); return
    fi
    case " $* " in *" --enable-sanitizers "*)
        if ! why=$(sanitizer_preflight "$dir/core/distconvd"); then
            echo "[$name] skipped: $why"; skip=$((skip + 1)); return
        fi ;;
    esac
    echo "==> [$name] make check"
    make -C "$dir" -j"$(nproc)" check >"$dir/check.out" 2>&1
    grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$dir/check.out" | grep -v '^PASS' | sed "s/^/[$name] /"
    if [ -f "$dir/test-suite.log" ]; then
        add_log "$dir/test-suite.log"
        grep -E '^# (TOTAL|PASS|FAIL|ERROR|SKIP)' "$dir/test-suite.log" | tr '\n' ' ' | sed "s/^/[$name] /"; echo
        if grep -qE '^# (FAIL|ERROR|XPASS): *[1-9]' "$dir/test-suite.log"; then
            echo "---- [$name] failing test logs ----"
            for l in $(find "$dir/tests" -name '*.log' | sort); do
                grep -qE '^(not ok|Bail out)' "$l" 2>/dev/null && { echo "## $l"; grep -vE '^ok ' "$l" | head -n 60; }
            done
        fi
    else
        echo "==> [$name] make check did not run the tests"; tail -n 40 "$dir/check.out"; fail=$((fail + 1))
    fi
}

# sanitizer_preflight BIN: can the sanitizer runtime start BIN at all? gcc
# 12's ASan cannot map its shadow memory on kernels with vm.mmap_rnd_bits
# above 28 (every program dies with AddressSanitizer:DEADLYSIGNAL before
# main): then every test would fail for the host's sake. Prints why and
# returns 1 only for those runtime messages; any other failure of `BIN
# --version` is left to the suite, which fails on it.
sanitizer_preflight() {
    _so=$("$1" --version 2>&1) && return 0
    _sm=$(echo "$_so" | grep -m1 -E 'AddressSanitizer:DEADLYSIGNAL|Shadow memory range interleaves|shadow was supposed to be located|ReserveShadowMemoryRange failed') ||
        return 0
    echo "the sanitizer runtime cannot start $(basename "$1") on this host ($_sm; vm.mmap_rnd_bits = $(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo '?'): \`sysctl vm.mmap_rnd_bits=28\` lets it run)"
    return 1
}

# The fuzz stage: each libFuzzer harness for a fixed budget; one pass or
# failure per fuzzer. A crash input is kept in build-fuzz/fuzz-crashes and
# printed (xxd) by scripts/fuzz.
fuzz_stage() {
    if ! command -v clang >/dev/null 2>&1 ||
        ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q 'install ok installed'; then
        echo "[fuzz] skipped: clang and libclang-rt-14-dev are not installed"; skip=$((skip + 1)); return
    fi
    echo "==> [fuzz] build-fuzz: libFuzzer harnesses, ${DCV_FUZZ_SECONDS:-10} s each"
    mkdir -p "$DCV_SRC/build-fuzz"
    DCV_FUZZ_BUILD="$DCV_SRC/build-fuzz" "$DCV_SRC/scripts/fuzz" "${DCV_FUZZ_SECONDS:-10}" \
        >"$DCV_SRC/build-fuzz/stage.out" 2>&1
    rc=$?
    grep '^\[fuzz\]' "$DCV_SRC/build-fuzz/stage.out"
    n_ok=$(grep -c '^\[fuzz\] [a-z]*: ok' "$DCV_SRC/build-fuzz/stage.out")
    n_bad=$(grep -c '^\[fuzz\] [a-z]*: FAILED' "$DCV_SRC/build-fuzz/stage.out")
    pass=$((pass + n_ok)); fail=$((fail + n_bad))
    if [ $rc -ne 0 ] && [ "$n_bad" -eq 0 ]; then
        echo "[fuzz] BUILD OR SETUP FAILED"; tail -n 40 "$DCV_SRC/build-fuzz/stage.out"; fail=$((fail + 1))
    fi
}

# valgrind_preflight BIN: can valgrind, with the stage's own flags
# (tests/valgrind-flags.sh), run `BIN --version` at all? When it cannot, it
# prints why in one line and returns 1, after at most 120 s, instead of the
# stage running every daemon test into its timeouts. The case this is for:
# valgrind 3.19 (Debian 12) dies with SIGILL on an AVX-512 instruction it
# does not know, in libhwy's static initializer that libavcodec pulls in
# through libjxl, before main() runs. A memcheck error (exit 99) is not a
# reason to skip: the stage runs and reports it.
valgrind_preflight() {
    . "$DCV_SRC/tests/valgrind-flags.sh"
    _vl=$(mktemp "${TMPDIR:-/tmp}/dcv-vgpre.XXXXXX") || return 1
    timeout 120 valgrind $DCV_VALGRIND_FLAGS --suppressions="$DCV_SRC/tests/valgrind.supp" \
        --log-file="$_vl" "$1" --version >/dev/null 2>>"$_vl"
    _vrc=$?
    case $_vrc in
    0 | 99) rm -f "$_vl"; return 0 ;;
    124) _vwhy="no answer within 120 s" ;;
    *) _vwhy=$(grep -m1 -E 'signal [0-9]+ \(SIG|nrecognised instruction|unhandled instruction|^valgrind: ' "$_vl" |
           sed 's/^==[0-9]*== *//')
       [ -n "$_vwhy" ] || _vwhy=$(grep -m1 . "$_vl" | sed 's/^==[0-9]*== *//') ;;
    esac
    [ "$_vrc" -gt 128 ] && [ "$_vrc" -ne 124 ] && _vwhy="${_vwhy:+$_vwhy; }killed by signal $((_vrc - 128))"
    echo "$(valgrind --version 2>/dev/null) cannot run $(basename "$1") --version on this host (exit $_vrc): ${_vwhy:-no message}"
    rm -f "$_vl"
    return 1
}

# The valgrind stage: the integration tests that start daemons, again, with
# every distconvd under memcheck (tests/lib.sh DCV_VALGRIND=1), in the
# plain build (valgrind and ASan do not mix). A test passes when its TAP
# checks pass and no daemon's log shows an error or a definite leak.
# Later tests opt in with a line "# dcv-valgrind: yes".
valgrind_stage() { # valgrind_stage [BUILD-DIR], default build-test/
    dir=${1:-$DCV_SRC/build-test}
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "[valgrind] skipped: valgrind is not installed"; skip=$((skip + 1)); return
    fi
    [ -f "$dir/Makefile" ] || { echo "[valgrind] no plain build to use"; fail=$((fail + 1)); return; }
    if ! "$dir/core/distconvd" --version >/dev/null 2>&1; then
        echo "[valgrind] FAILED: $dir/core/distconvd --version fails without valgrind"
        fail=$((fail + 1)); return
    fi
    if ! why=$(valgrind_preflight "$dir/core/distconvd"); then
        echo "[valgrind] skipped: $why"; skip=$((skip + 1)); return
    fi
    vts=""
    for t in daemon cluster cli faults $(grep -l '^# dcv-valgrind: yes' "$DCV_SRC"/tests/integration/*.sh 2>/dev/null |
                                        xargs -n1 basename 2>/dev/null | sed 's/\.sh$//'); do
        [ -f "$DCV_SRC/tests/integration/$t.sh" ] || continue
        case " $vts " in *" tests/integration/$t.sh "*) continue ;; esac
        vts="$vts tests/integration/$t.sh"
    done
    vgdir="$dir/valgrind"
    rm -rf "$vgdir" && mkdir -p "$vgdir"
    echo "==> [valgrind] make check TESTS=\"$vts \" with distconvd under valgrind"
    # One test at a time: valgrind slows the daemons down enough that two
    # tests sharing the cores can miss the 0.9 s liveness of fast.conf.
    DCV_VALGRIND=1 DCV_VALGRIND_DIR="$vgdir" make -C "$dir" -j1 check TESTS="$vts" \
        TEST_SUITE_LOG=valgrind-suite.log >"$dir/valgrind.out" 2>&1
    grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$dir/valgrind.out" | grep -v '^PASS' | sed "s/^/[valgrind] /"
    if [ -f "$dir/valgrind-suite.log" ]; then
        add_log "$dir/valgrind-suite.log"
        if grep -qE '^# (FAIL|ERROR|XPASS): *[1-9]' "$dir/valgrind-suite.log"; then
            for t in $vts; do
                l="$dir/${t%.sh}.log"
                grep -qE '^(not ok|Bail out)' "$l" 2>/dev/null && { echo "## $l"; grep -vE '^ok ' "$l" | head -n 60; }
            done
        fi
    else
        echo "[valgrind] make check did not run the tests"; tail -n 40 "$dir/valgrind.out"; fail=$((fail + 1))
    fi
    # One verdict per test from the process logs: -q leaves a clean log
    # empty; warnings ("==pid== Warning: ...") are not errors.
    for t in $vts; do
        n=$(basename "$t" .sh)
        logs=$(ls "$vgdir/$n".*.log 2>/dev/null)
        if [ -z "$logs" ]; then
            echo "[valgrind] $n: FAILED (no distconvd ran under valgrind)"; fail=$((fail + 1)); continue
        fi
        bad=""
        for l in $logs; do grep -qE '^==[0-9]+== [A-VX-Z0-9]' "$l" && bad="$bad $l"; done
        if [ -z "$bad" ]; then
            echo "[valgrind] $n: clean ($(echo "$logs" | wc -w) processes)"; pass=$((pass + 1))
        else
            echo "[valgrind] $n: FAILED: errors or definite leaks in$bad"; fail=$((fail + 1))
            for l in $bad; do echo "## $l"; head -n 80 "$l"; done
        fi
    done
}

# The bench stage: every executable under bench/ in its --smoke mode (tiny
# sizes, seconds), run from the source tree with a relative BUILD as
# bench/README.md shows; one pass or failure per script. Not a measurement:
# it only proves each bench still starts, runs and cleans up.
bench_stage() { # bench_stage BUILD-DIR (relative to DCV_SRC)
    for b in "$DCV_SRC"/bench/*; do
        [ -f "$b" ] && [ -x "$b" ] || continue
        n=$(basename "$b")
        if (cd "$DCV_SRC" && BUILD=$1 timeout 600 "bench/$n" --smoke) >"$DCV_SRC/$1/bench-$n.out" 2>&1; then
            echo "[bench] $n --smoke: ok"; pass=$((pass + 1))
        else
            echo "[bench] $n --smoke: FAILED (exit $?)"; fail=$((fail + 1))
            tail -n 30 "$DCV_SRC/$1/bench-$n.out" | sed 's/^/#   /'
        fi
    done
}
