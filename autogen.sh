#!/bin/sh
# Regenerate the build system (configure, Makefile.in) from a git checkout.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf -fi
# automake ships the TAP test driver but does not copy it by itself.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/
