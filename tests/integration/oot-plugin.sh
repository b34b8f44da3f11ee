#!/bin/sh
# A third-party plugin built outside the tree: only the installed header and
# distconv-plugin.pc (a DESTDIR install of just those two), then loaded by
# the real loader through dcv-probe-tool (what `distconvd --probe` runs).
. "${DCV_TOP_SRCDIR:?run through make check}/tests/lib.sh"

CC=${CC:-cc}

contains() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
exports_query() { nm -D --defined-only "$1" | grep -q " dcv_plugin_query_v1\$"; }
PROBE_TOOL="$DCV_TOP_BUILDDIR/tests/unit/dcv-probe-tool"

if ! command -v pkg-config >/dev/null 2>&1 || ! command -v "$CC" >/dev/null 2>&1; then
    skip "needs pkg-config and a C compiler ($CC)" "out-of-tree plugin"
    done_testing
    exit $?
fi

# make check passes its jobserver flags; the nested install needs none.
check "install only the public header and .pc into a DESTDIR" \
    env -u MAKEFLAGS -u MFLAGS make -C "$DCV_TOP_BUILDDIR" \
    install-distconvincludeHEADERS install-pkgconfigDATA DESTDIR="$TMP/dest"

pc=$(find "$TMP/dest" -name distconv-plugin.pc | head -n1)
hdr=$(find "$TMP/dest" -path '*/include/distconv/plugin.h' | head -n1)
check "distconv-plugin.pc installed" test -n "$pc"
check "installed header is the source header" cmp "$hdr" "$DCV_TOP_SRCDIR/core/include/distconv/plugin.h"
n_installed=$(find "$TMP/dest" -type f | wc -l)
check "nothing else installed (2 files, got $n_installed)" test "$n_installed" -eq 2

PKG_CONFIG_PATH=$(dirname "${pc:-/nonexistent/x}")
export PKG_CONFIG_PATH
# SYSROOT relocates the .pc's /usr/... paths into the DESTDIR. FFmpeg's own
# flags are asked for separately so they keep their real location.
dcv_cflags=$(PKG_CONFIG_SYSROOT_DIR="$TMP/dest" pkg-config --cflags distconv-plugin)
check "pkg-config --cflags distconv-plugin points into the DESTDIR ($dcv_cflags)" \
    contains "$dcv_cflags" "-I$TMP/dest/"
av_cflags=$(pkg-config --cflags libavcodec libavutil)
plugindir=$(pkg-config --variable=plugindir distconv-plugin)
check "pkg-config --variable=plugindir is set ($plugindir)" \
    contains "$plugindir/" "/distconv/plugins/"
check "pkg-config reports the ABI major" test "$(pkg-config --variable=abi_major distconv-plugin)" = 1

mkdir -p "$TMP/plugins" "$TMP/none"
# -I of the source tree is deliberately absent: only the DESTDIR's header.
# shellcheck disable=SC2086
check "plugin compiles with only the installed header" \
    "$CC" -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
    $dcv_cflags $av_cflags -o "$TMP/plugins/oot.so" "$DCV_TOP_SRCDIR/tests/oot/oot-plugin.c"
if command -v nm >/dev/null 2>&1; then
    check "plugin exports dcv_plugin_query_v1" \
        exports_query "$TMP/plugins/oot.so"
fi
: >"$TMP/empty.conf"

run_probe() {
    DISTCONV_PLUGIN_DIR="$TMP/plugins" DISTCONV_PLUGIN_CONF_DIR="$TMP/none" \
        "$PROBE_TOOL" --config "$TMP/empty.conf" --timeout 10000 "$@"
}
check "probe runs (text)" run_probe
run_probe >"$TMP/probe.txt" 2>"$TMP/probe.err"
check "loaded: 'oot 0.1 (oot.so): ok'" grep -q "^  oot 0.1 (oot.so): ok$" "$TMP/probe.txt"
check "its device is reported with the plugin's reason" \
    grep -q "device 0: unavailable: example plugin: no encoder behind it" "$TMP/probe.txt"
run_probe --json >"$TMP/probe.json" 2>"$TMP/probe.err"
check "probe --json names the plugin" grep -q '"name": "oot"' "$TMP/probe.json"
check "probe --json status ok" grep -q '"status": "ok"' "$TMP/probe.json"
[ "$_tap_failed" -eq 0 ] || { diag "probe output:"; sed 's/^/#   /' "$TMP/probe.txt" "$TMP/probe.err"; }

# The same source with a wrong FFmpeg major is refused with the reason.
sed 's/LIBAVCODEC_VERSION_MAJOR,/LIBAVCODEC_VERSION_MAJOR + 1,/' \
    "$DCV_TOP_SRCDIR/tests/oot/oot-plugin.c" >"$TMP/oot-wrong.c"
# shellcheck disable=SC2086
check "plugin with another FFmpeg major compiles" \
    "$CC" -std=c11 -shared -fPIC -fvisibility=hidden $dcv_cflags $av_cflags \
    -o "$TMP/plugins/oot-wrong.so" "$TMP/oot-wrong.c"
run_probe >"$TMP/probe2.txt" 2>&1
check "wrong FFmpeg major refused with the reason" \
    grep -q "oot-wrong.so: refused: built against libavcodec" "$TMP/probe2.txt"

done_testing
