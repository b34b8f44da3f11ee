# telemetry: worker host sampling for HEARTBEAT and admission (DESIGN §9).
# Reads /proc and /sys under a root prefix, and NVML (nvml.c, dlopen) for
# GPUs; no threads. Uses core/proto.h's
# HEARTBEAT struct only as a type (no proto code), so it links base alone.

noinst_LTLIBRARIES += core/worker/libdcvtelemetry.la
core_worker_libdcvtelemetry_la_SOURCES = core/worker/telemetry.c core/worker/telemetry.h \
	core/worker/nvml.c core/worker/nvml.h
core_worker_libdcvtelemetry_la_LIBADD = core/libdcvbase.la -lm

check_PROGRAMS += tests/unit/test_telemetry
TESTS += tests/unit/test_telemetry
tests_unit_test_telemetry_SOURCES = tests/unit/test_telemetry.c
tests_unit_test_telemetry_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_telemetry_LDADD = core/worker/libdcvtelemetry.la core/libdcvproto.la \
	core/libdcvplug.la core/libdcvbase.la tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm
