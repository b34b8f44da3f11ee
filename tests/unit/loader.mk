# loader area: plugin loader + child-process probe tests.
#
# tests/plugins/testplug.c is compiled once per variant below; each variant
# differs from "good" in the one thing its test is about (see the -D list at
# the top of testplug.c). check_LTLIBRARIES with -rpath makes libtool build
# real shared objects, in tests/plugins/.libs/tp-*.so.

DCV_TP_CFLAGS = $(DCV_PLUGIN_CC) $(AVCODEC_CFLAGS)
DCV_TP_LDFLAGS = $(DCV_PLUGIN_LINK) -rpath /nowhere
DCV_TP_SOURCES = tests/plugins/testplug.c tests/plugins/testplug.h

check_LTLIBRARIES += tests/plugins/tp-good.la
tests_plugins_tp_good_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_good_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=good
tests_plugins_tp_good_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_good_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-twin.la
tests_plugins_tp_twin_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_twin_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=good
tests_plugins_tp_twin_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_twin_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-bad-magic.la
tests_plugins_tp_bad_magic_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_bad_magic_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=bad-magic -DTP_MAGIC=0x12345678u
tests_plugins_tp_bad_magic_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_bad_magic_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-abi2.la
tests_plugins_tp_abi2_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_abi2_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=abi2 -DTP_ABI_MAJOR=2
tests_plugins_tp_abi2_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_abi2_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-newer-minor.la
tests_plugins_tp_newer_minor_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_newer_minor_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=newer-minor -DTP_ABI_MINOR=99
tests_plugins_tp_newer_minor_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_newer_minor_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-short-header.la
tests_plugins_tp_short_header_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_short_header_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=short-header -DTP_SHORT_HEADER
tests_plugins_tp_short_header_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_short_header_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-bad-kind.la
tests_plugins_tp_bad_kind_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_bad_kind_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=bad-kind -DTP_KIND=7
tests_plugins_tp_bad_kind_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_bad_kind_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-bad-flags.la
tests_plugins_tp_bad_flags_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_bad_flags_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=bad-flags -DTP_FLAGS=4
tests_plugins_tp_bad_flags_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_bad_flags_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-wrong-ffmpeg.la
tests_plugins_tp_wrong_ffmpeg_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_wrong_ffmpeg_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=wrong-ffmpeg -DTP_AVCODEC=LIBAVCODEC_VERSION_MAJOR+1
tests_plugins_tp_wrong_ffmpeg_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_wrong_ffmpeg_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-no-ffmpeg.la
tests_plugins_tp_no_ffmpeg_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_no_ffmpeg_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=no-ffmpeg -DTP_AVCODEC=0 -DTP_AVUTIL=0
tests_plugins_tp_no_ffmpeg_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_no_ffmpeg_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-bad-name.la
tests_plugins_tp_bad_name_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_bad_name_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=Bad_Name
tests_plugins_tp_bad_name_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_bad_name_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-ops-null.la
tests_plugins_tp_ops_null_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_ops_null_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=ops-null -DTP_OPS_NULL
tests_plugins_tp_ops_null_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_ops_null_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-ops-short.la
tests_plugins_tp_ops_short_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_ops_short_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=ops-short -DTP_OPS_SIZE=8
tests_plugins_tp_ops_short_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_ops_short_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-missing-op.la
tests_plugins_tp_missing_op_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_missing_op_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=missing-op -DTP_NO_RECEIVE
tests_plugins_tp_missing_op_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_missing_op_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-no-fini.la
tests_plugins_tp_no_fini_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_no_fini_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=no-fini -DTP_NO_FINI
tests_plugins_tp_no_fini_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_no_fini_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-null-query.la
tests_plugins_tp_null_query_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_null_query_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=null-query -DTP_NULL_QUERY
tests_plugins_tp_null_query_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_null_query_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-no-query.la
tests_plugins_tp_no_query_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_no_query_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=no-query -DTP_NO_QUERY
tests_plugins_tp_no_query_la_CFLAGS = $(DCV_TP_CFLAGS)
# exports a symbol of its own instead of dcv_plugin_query_v1
tests_plugins_tp_no_query_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared -no-undefined -rpath /nowhere

check_LTLIBRARIES += tests/plugins/tp-transport.la
tests_plugins_tp_transport_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_transport_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=tx-test -DTP_TRANSPORT
tests_plugins_tp_transport_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_transport_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-init-fail.la
tests_plugins_tp_init_fail_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_init_fail_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=initfail -DTP_INIT_FAIL
tests_plugins_tp_init_fail_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_init_fail_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-crash.la
tests_plugins_tp_crash_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_crash_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=crash -DTP_PROBE_CRASH
tests_plugins_tp_crash_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_crash_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-hang.la
tests_plugins_tp_hang_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_hang_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=hang -DTP_PROBE_HANG
tests_plugins_tp_hang_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_hang_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-nohw.la
tests_plugins_tp_nohw_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_nohw_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=nohw -DTP_PROBE_NOHW
tests_plugins_tp_nohw_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_nohw_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-badcaps.la
tests_plugins_tp_badcaps_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_badcaps_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=badcaps -DTP_PROBE_BADCAPS
tests_plugins_tp_badcaps_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_badcaps_la_LDFLAGS = $(DCV_TP_LDFLAGS)

check_LTLIBRARIES += tests/plugins/tp-spawn.la
tests_plugins_tp_spawn_la_SOURCES = $(DCV_TP_SOURCES)
tests_plugins_tp_spawn_la_CPPFLAGS = $(AM_CPPFLAGS) -DTP_ID=spawn -DTP_PROBE_SPAWN
tests_plugins_tp_spawn_la_CFLAGS = $(DCV_TP_CFLAGS)
tests_plugins_tp_spawn_la_LDFLAGS = $(DCV_TP_LDFLAGS)

DCV_LOADER_TEST_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
DCV_LOADER_TEST_LDADD = tests/libtap.la core/libdcvplug.la core/libdcvbase.la \
	$(JSONC_LIBS) $(AV_LIBS) $(LIBS)

check_PROGRAMS += tests/unit/test_loader
TESTS += tests/unit/test_loader
tests_unit_test_loader_SOURCES = tests/unit/test_loader.c tests/plugins/testplug.h
tests_unit_test_loader_CFLAGS = $(DCV_LOADER_TEST_CFLAGS)
tests_unit_test_loader_LDADD = $(DCV_LOADER_TEST_LDADD)

check_PROGRAMS += tests/unit/test_probe
TESTS += tests/unit/test_probe
tests_unit_test_probe_SOURCES = tests/unit/test_probe.c
tests_unit_test_probe_CFLAGS = $(DCV_LOADER_TEST_CFLAGS)
tests_unit_test_probe_LDADD = $(DCV_LOADER_TEST_LDADD)

# `distconvd --probe` without the daemon, for the out-of-tree plugin test.
check_PROGRAMS += tests/unit/dcv-probe-tool
tests_unit_dcv_probe_tool_SOURCES = tests/unit/probe-tool.c
tests_unit_dcv_probe_tool_CFLAGS = $(DCV_LOADER_TEST_CFLAGS)
tests_unit_dcv_probe_tool_LDADD = core/libdcvplug.la core/libdcvbase.la \
	$(JSONC_LIBS) $(AV_LIBS) $(LIBS)

# A third-party plugin built from the installed header and .pc alone.
TESTS += tests/integration/oot-plugin.sh
EXTRA_DIST += tests/integration/oot-plugin.sh tests/oot/oot-plugin.c
