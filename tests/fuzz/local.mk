# Protocol fuzzing (docs/testing.md). Each harness tests/fuzz/fuzz_<name>.c
# is built twice from the same source:
#   tests/fuzz/test_fuzz_<name>  with driver.c, in every build: a TAP test in
#                                `make check` (seeds + deterministic mutations)
#   tests/fuzz/fuzz-<name>       with libFuzzer, only with --enable-fuzzers
#                                (clang): `make fuzzers`, then scripts/fuzz
# plus the hostile-peer test: a raw libzmq client against a real coordinator.

FUZZ_NAMES = control data admin json xfer config
FUZZ_COMMON = tests/fuzz/fuzz_common.c tests/fuzz/fuzz.h
FUZZ_CF = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS) $(LIBCONFIG_CFLAGS)
FUZZ_LIBS = core/libdcvproto.la core/xfer/libdcvxfer.la core/libdcvplug.la core/libdcvbase.la \
	$(JSONC_LIBS) $(AV_LIBS) $(CRYPTO_LIBS) $(LIBCONFIG_LIBS) $(LIBS) -lm

check_PROGRAMS += tests/fuzz/test_fuzz_control tests/fuzz/test_fuzz_data \
	tests/fuzz/test_fuzz_admin tests/fuzz/test_fuzz_json tests/fuzz/test_fuzz_xfer \
	tests/fuzz/test_fuzz_config
TESTS += tests/fuzz/test_fuzz_control tests/fuzz/test_fuzz_data \
	tests/fuzz/test_fuzz_admin tests/fuzz/test_fuzz_json tests/fuzz/test_fuzz_xfer \
	tests/fuzz/test_fuzz_config

tests_fuzz_test_fuzz_control_SOURCES = tests/fuzz/driver.c tests/fuzz/fuzz_control.c $(FUZZ_COMMON)
tests_fuzz_test_fuzz_control_CFLAGS = $(FUZZ_CF) -DFZ_NAME=\"control\"
tests_fuzz_test_fuzz_control_LDADD = tests/libtap.la $(FUZZ_LIBS)
tests_fuzz_test_fuzz_data_SOURCES = tests/fuzz/driver.c tests/fuzz/fuzz_data.c $(FUZZ_COMMON)
tests_fuzz_test_fuzz_data_CFLAGS = $(FUZZ_CF) -DFZ_NAME=\"data\"
tests_fuzz_test_fuzz_data_LDADD = tests/libtap.la $(FUZZ_LIBS)
tests_fuzz_test_fuzz_admin_SOURCES = tests/fuzz/driver.c tests/fuzz/fuzz_admin.c $(FUZZ_COMMON)
tests_fuzz_test_fuzz_admin_CFLAGS = $(FUZZ_CF) -DFZ_NAME=\"admin\"
tests_fuzz_test_fuzz_admin_LDADD = tests/libtap.la $(FUZZ_LIBS)
tests_fuzz_test_fuzz_json_SOURCES = tests/fuzz/driver.c tests/fuzz/fuzz_json.c $(FUZZ_COMMON)
tests_fuzz_test_fuzz_json_CFLAGS = $(FUZZ_CF) -DFZ_NAME=\"json\"
tests_fuzz_test_fuzz_json_LDADD = tests/libtap.la $(FUZZ_LIBS)
tests_fuzz_test_fuzz_xfer_SOURCES = tests/fuzz/driver.c tests/fuzz/fuzz_xfer.c $(FUZZ_COMMON)
tests_fuzz_test_fuzz_xfer_CFLAGS = $(FUZZ_CF) -DFZ_NAME=\"xfer\"
tests_fuzz_test_fuzz_xfer_LDADD = tests/libtap.la $(FUZZ_LIBS)
tests_fuzz_test_fuzz_config_SOURCES = tests/fuzz/driver.c tests/fuzz/fuzz_config.c $(FUZZ_COMMON)
tests_fuzz_test_fuzz_config_CFLAGS = $(FUZZ_CF) -DFZ_NAME=\"config\"
tests_fuzz_test_fuzz_config_LDADD = tests/libtap.la $(FUZZ_LIBS)

EXTRA_DIST += tests/fuzz/corpus tests/fuzz/fuzz_libfuzzer.c tests/fuzz/fuzz.dict tests/fuzz/mkseeds.py
CLEANFILES += fuzz-crash-*.bin

# libFuzzer binaries: not part of `all` (a fuzz build only needs these and
# what they link); `make fuzzers` builds them.
if ENABLE_FUZZERS
FUZZ_PROGS = tests/fuzz/fuzz-control tests/fuzz/fuzz-data tests/fuzz/fuzz-admin \
	tests/fuzz/fuzz-json tests/fuzz/fuzz-xfer tests/fuzz/fuzz-config
EXTRA_PROGRAMS = $(FUZZ_PROGS)
CLEANFILES += $(FUZZ_PROGS)
FUZZ_LD = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_control_SOURCES = tests/fuzz/fuzz_libfuzzer.c tests/fuzz/fuzz_control.c $(FUZZ_COMMON)
tests_fuzz_fuzz_control_CFLAGS = $(FUZZ_CF)
tests_fuzz_fuzz_control_LDFLAGS = $(FUZZ_LD)
tests_fuzz_fuzz_control_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_data_SOURCES = tests/fuzz/fuzz_libfuzzer.c tests/fuzz/fuzz_data.c $(FUZZ_COMMON)
tests_fuzz_fuzz_data_CFLAGS = $(FUZZ_CF)
tests_fuzz_fuzz_data_LDFLAGS = $(FUZZ_LD)
tests_fuzz_fuzz_data_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_admin_SOURCES = tests/fuzz/fuzz_libfuzzer.c tests/fuzz/fuzz_admin.c $(FUZZ_COMMON)
tests_fuzz_fuzz_admin_CFLAGS = $(FUZZ_CF)
tests_fuzz_fuzz_admin_LDFLAGS = $(FUZZ_LD)
tests_fuzz_fuzz_admin_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_json_SOURCES = tests/fuzz/fuzz_libfuzzer.c tests/fuzz/fuzz_json.c $(FUZZ_COMMON)
tests_fuzz_fuzz_json_CFLAGS = $(FUZZ_CF)
tests_fuzz_fuzz_json_LDFLAGS = $(FUZZ_LD)
tests_fuzz_fuzz_json_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_xfer_SOURCES = tests/fuzz/fuzz_libfuzzer.c tests/fuzz/fuzz_xfer.c $(FUZZ_COMMON)
tests_fuzz_fuzz_xfer_CFLAGS = $(FUZZ_CF)
tests_fuzz_fuzz_xfer_LDFLAGS = $(FUZZ_LD)
tests_fuzz_fuzz_xfer_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_libfuzzer.c tests/fuzz/fuzz_config.c $(FUZZ_COMMON)
tests_fuzz_fuzz_config_CFLAGS = $(FUZZ_CF)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LD)
tests_fuzz_fuzz_config_LDADD = $(FUZZ_LIBS)
fuzzers: $(FUZZ_PROGS)
else
fuzzers:
	@echo "configure with --enable-fuzzers (clang with libFuzzer) to build the fuzzers" >&2; exit 1
endif
.PHONY: fuzzers

# The hostile peer: raw libzmq (any frame set can be sent), the project's
# codec for the valid messages it builds and reads.
TESTS += tests/integration/hostile-proto.sh
EXTRA_DIST += tests/integration/hostile-proto.sh tests/valgrind.supp
if ENABLE_TRANSPORT_ZMQ
check_PROGRAMS += tests/fuzz/hostile
tests_fuzz_hostile_SOURCES = tests/fuzz/hostile.c
tests_fuzz_hostile_CFLAGS = $(FUZZ_CF) $(ZMQ_CFLAGS)
tests_fuzz_hostile_LDADD = $(FUZZ_LIBS) $(ZMQ_LIBS)
endif
