#!/bin/sh
# The logic of scripts/test's stages (scripts/stages.sh), on a stub build
# directory whose `make check` only leaves a mark (issue 11, item 5):
#  - where valgrind cannot run distconvd at all (simulated: a fake
#    `valgrind` first on PATH that dies with SIGILL before main, as valgrind
#    3.19 does in libhwy's static initializer on AVX-512 hosts), the
#    valgrind stage is one "skipped: <reason>" line, counts one skip and no
#    failure, and never starts `make check`;
#  - where valgrind runs it (a fake that runs the program), the stage goes
#    on to `make check`;
#  - where distconvd itself fails, that is a failure, not a skip;
#  - the ASan stage is skipped only when the sanitizer runtime cannot start
#    (gcc 12 on a kernel with vm.mmap_rnd_bits above 28), not on a report.
# The real valgrind's pre-flight verdict on this host is printed as a note.
. "$DCV_TOP_SRCDIR/tests/lib.sh"

DCV_SRC=$DCV_TOP_SRCDIR
. "$DCV_SRC/scripts/stages.sh"
real_valgrind=$(command -v valgrind || true)

# A build dir whose `make check` writes a mark and a suite log.
B="$TMP/build"
mkdir -p "$B/core" "$TMP/bin"
ln -s "$DCV_TOP_BUILDDIR/core/distconvd" "$B/core/distconvd"
printf 'check:\n\t@touch %s/make-check-ran\n\t@printf "# PASS: 1\\n" >valgrind-suite.log\n' "$TMP" >"$B/Makefile"

# The fake valgrind: writes what valgrind 3.19 writes on that host to its
# --log-file, then dies of SIGILL as it does.
cat >"$TMP/bin/valgrind" <<'EOF'
#!/bin/sh
case "$1" in --version) echo valgrind-3.19.0; exit 0 ;; esac
log=/dev/stderr
for a; do case $a in --log-file=*) log=${a#--log-file=} ;; esac; done
cat >>"$log" <<EOT
==4242== valgrind: Unrecognised instruction at address 0x5d1a2b4.
==4242==    at 0x5D1A2B4: hwy::platform::TimerResolution() (in /usr/lib/x86_64-linux-gnu/libhwy.so.1.0.3)
==4242== Process terminating with default action of signal 4 (SIGILL)
EOT
kill -ILL $$
EOF
# The other fake: runs the program after valgrind's options, as valgrind does.
cat >"$TMP/bin/valgrind-ok" <<'EOF'
#!/bin/sh
case "$1" in --version) echo valgrind-3.19.0; exit 0 ;; esac
while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
exec "$@"
EOF
chmod +x "$TMP/bin/valgrind" "$TMP/bin/valgrind-ok"

stage() { # stage: run valgrind_stage on the stub build; counters to $TMP/counts
    pass=0 fail=0 skip=0
    valgrind_stage "$B" >"$TMP/stage.out" 2>&1
    echo "$pass $fail $skip" >"$TMP/counts"
    sed 's/^/#   /' "$TMP/stage.out"
}

PATH="$TMP/bin:$PATH" stage
[ "$(cat "$TMP/counts")" = "0 0 1" ]; ok $? "SIGILL under valgrind: the stage counts 1 skip, 0 failures ($(cat "$TMP/counts"))"
[ "$(wc -l <"$TMP/stage.out")" -eq 1 ] &&
    grep -q '^\[valgrind\] skipped: valgrind-3.19.0 cannot run distconvd --version on this host (exit 132): .*Unrecognised instruction.*killed by signal 4$' "$TMP/stage.out"
ok $? "one line says it is skipped and why"
[ ! -e "$TMP/make-check-ran" ]; ok $? "no test ran under valgrind (no time spent on timeouts)"

mv "$TMP/bin/valgrind" "$TMP/bin/valgrind-sigill"
mv "$TMP/bin/valgrind-ok" "$TMP/bin/valgrind"
PATH="$TMP/bin:$PATH" stage
[ -e "$TMP/make-check-ran" ]; ok $? "valgrind that runs distconvd: the stage goes on to make check"
! grep -q skipped "$TMP/stage.out"; ok $? "and does not report a skip"

# distconvd itself broken is the build's failure, whatever valgrind does.
rm -f "$TMP/make-check-ran" "$B/core/distconvd"
printf '#!/bin/sh\nexit 1\n' >"$B/core/distconvd" && chmod +x "$B/core/distconvd"
PATH="$TMP/bin:$PATH" stage
[ "$(cat "$TMP/counts")" = "0 1 0" ] && [ ! -e "$TMP/make-check-ran" ]
ok $? "distconvd --version failing without valgrind: a failure, not a skip ($(cat "$TMP/counts"))"

# The ASan stage's pre-flight: the runtime that cannot start is a skip, a
# sanitizer report is not.
printf '#!/bin/sh\necho AddressSanitizer:DEADLYSIGNAL >&2\necho "==1==ERROR: AddressSanitizer: SEGV on unknown address" >&2\nexit 1\n' >"$TMP/asan-noshadow"
printf '#!/bin/sh\necho "==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1" >&2\nexit 1\n' >"$TMP/asan-bug"
chmod +x "$TMP/asan-noshadow" "$TMP/asan-bug"
why=$(sanitizer_preflight "$TMP/asan-noshadow")
[ $? -eq 1 ] && case $why in *"AddressSanitizer:DEADLYSIGNAL"*mmap_rnd_bits*) true ;; *) false ;; esac
ok $? "ASan runtime dying before main: skipped with the reason ($why)"
sanitizer_preflight "$TMP/asan-bug" >/dev/null
ok $? "an ASan report at start-up is not a reason to skip (the suite fails on it)"
sanitizer_preflight "$DCV_TOP_BUILDDIR/core/distconvd" >/dev/null
ok $? "this build's distconvd passes the pre-flight"

if [ -n "$real_valgrind" ]; then
    if why=$(PATH="$(dirname "$real_valgrind"):$PATH" valgrind_preflight "$DCV_TOP_BUILDDIR/core/distconvd"); then
        diag "this host: valgrind runs distconvd (the valgrind stage will run)"
    else
        diag "this host: $why"
    fi
fi
done_testing
