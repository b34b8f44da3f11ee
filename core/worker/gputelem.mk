# GPU telemetry area (issue 5): NVML through dlopen, and the test-only fake
# libnvidia-ml used by its tests.
#
# core/worker/nvml.c is part of libdcvtelemetry (telemetry.mk): the sampler
# queries it at each heartbeat. dlopen comes from $(LIBS) (configure's
# AC_SEARCH_LIBS), so nothing links NVML.
#
# tests/plugins/libfakenvml.la: check_LTLIBRARIES with -rpath makes libtool
# build a real shared object, tests/plugins/.libs/libfakenvml.so, which
# tests load through telemetry.nvml_library / DISTCONV_NVML_LIBRARY
# (tests/integration/cluster-lib.sh exports its path as FAKE_NVML).

check_LTLIBRARIES += tests/plugins/libfakenvml.la
tests_plugins_libfakenvml_la_SOURCES = tests/plugins/fakenvml.c
tests_plugins_libfakenvml_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
tests_plugins_libfakenvml_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-no-undefined -rpath /nowhere

TESTS += tests/integration/telemetry.sh
EXTRA_DIST += tests/integration/telemetry.sh tests/fixtures/telemetry
