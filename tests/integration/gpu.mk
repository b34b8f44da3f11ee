# GPU scheduling area (issue 5): the test-only "fakegpu" encoder plugin
# (never installed) and the end-to-end tests it drives.

# fakegpu: H.264 through libx264 and libdcvenc, posing as a GPU with a
# session limit shared across processes (tests/plugins/fakegpu.c). A check
# module like the tp-*.la test plugins: built by `make check` into
# tests/plugins/.libs/fakegpu.so, never installed.
check_LTLIBRARIES += tests/plugins/fakegpu.la
tests_plugins_fakegpu_la_SOURCES = tests/plugins/fakegpu.c
tests_plugins_fakegpu_la_CFLAGS = $(DCVENC_CFLAGS)
tests_plugins_fakegpu_la_LDFLAGS = $(DCV_PLUGIN_LINK) -rpath /nowhere
tests_plugins_fakegpu_la_LIBADD = $(DCVENC_LIBADD)

# The startup benchmark (distconvd --benchmark, the worker's figures in
# HELLO) lives with the worker service.
core_worker_libdcvworker_la_SOURCES += core/worker/encbench.c core/worker/encbench.h

# fakegpu through the real plugin host: caps, sessions across processes,
# -EBUSY, real packets, the events log.
check_PROGRAMS += tests/unit/test_fakegpu
TESTS += tests/unit/test_fakegpu
tests_unit_test_fakegpu_SOURCES = tests/unit/test_fakegpu.c
tests_unit_test_fakegpu_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_fakegpu_LDADD = tests/libtap.la core/media/libdcvmedia.la core/libdcvplug.la \
	core/libdcvbase.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS)

TESTS += tests/integration/gpu-bench.sh
EXTRA_DIST += tests/integration/gpu-bench.sh

# The benchmark's fingerprint, cache and figures (no encoding).
check_PROGRAMS += tests/unit/test_encbench
TESTS += tests/unit/test_encbench
tests_unit_test_encbench_SOURCES = tests/unit/test_encbench.c
tests_unit_test_encbench_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_encbench_LDADD = core/worker/libdcvworker.la core/media/libdcvmedia.la \
	core/libdcvproto.la core/libdcvplug.la core/libdcvbase.la tests/libtap.la \
	$(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm

# GPU scheduling end to end (needs fakegpu; NVML part: libfakenvml).
TESTS += tests/integration/gpu-sched.sh
EXTRA_DIST += tests/integration/gpu-sched.sh

# Progress figures, ETA and the stall detector end to end (issue 12; the
# fakegpu's stall_file holds an encode).
TESTS += tests/integration/progress.sh
EXTRA_DIST += tests/integration/progress.sh
