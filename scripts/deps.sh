# Sourced by scripts/quickstart and scripts/test: install the Debian 12
# packages distconv needs to build and test, if any is missing.
DCV_DEPS="build-essential autoconf automake libtool pkg-config
  libconfig-dev libjson-c-dev libsqlite3-dev libzmq3-dev libssl-dev libmicrohttpd-dev
  libavformat-dev libavcodec-dev libavfilter-dev libavutil-dev libswscale-dev libswresample-dev
  ffmpeg python3"
# Only scripts/test's fuzz and valgrind stages need these (a quickstart
# user should not download a second compiler); mesa-vulkan-drivers gives
# test_hwframes a real (software, lavapipe) hardware-frames device;
# python3-zmq is bench/http's simulated workers (the bench stage runs it);
# chromium runs the dashboard in tests/integration/dashboard.sh.
DCV_TEST_DEPS="clang libclang-rt-14-dev valgrind xxd mesa-vulkan-drivers prometheus curl python3-zmq chromium"

dcv_install_deps() { # dcv_install_deps [PACKAGES]: default $DCV_DEPS
    missing=""
    for p in ${1:-$DCV_DEPS}; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "==> installing:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# dcv_build DIR [configure args...]: out-of-tree build in DIR
dcv_build() (
    dir=$1; shift
    [ -x "$DCV_SRC/configure" ] || (cd "$DCV_SRC" && ./autogen.sh) || return 1
    mkdir -p "$dir" && cd "$dir" || return 1
    if [ ! -f Makefile ] || [ "$DCV_SRC/configure" -nt Makefile ]; then
        "$DCV_SRC/configure" -q "$@" || return 1
    fi
    make -j"$(nproc)" >make.out 2>&1 || { tail -n 40 make.out; return 1; }
)
