# distconvctl: the operator / submission CLI over the admin plane, with
# uploads and downloads on the data plane. Loads the transport plugin through
# core/net (never links libzmq). It compiles the job state table in
# (jobstate.c: the state names) rather than link the SQLite store's library.
# See tests/local.mk for the test conventions.

bin_PROGRAMS += cli/distconvctl
cli_distconvctl_SOURCES = cli/distconvctl.c cli/ctl.c cli/ctl.h cli/transfer.c cli/show.c \
	cli/storage.c cli/tokens.c \
	cli/adminc.c cli/adminc.h cli/ui.c cli/ui.h \
	core/coordinator/jobstate.c core/coordinator/jobstate.h
cli_distconvctl_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
cli_distconvctl_LDADD = core/xfer/libdcvdata.la core/xfer/libdcvxfer.la core/libdcvnet.la \
	core/libdcvproto.la core/libdcvloop.la core/libdcvplug.la core/libdcvbase.la \
	$(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm

# Usage and reachability always; the daemon parts need transport-zmq and
# skip themselves without it.
TESTS += tests/integration/cli.sh
EXTRA_DIST += tests/integration/cli.sh

# The pieces the CLI takes from the core instead of its own copies (the
# data endpoint over ipc, the state names): pure functions, no transport.
check_PROGRAMS += tests/unit/test_ctl_shared
TESTS += tests/unit/test_ctl_shared
tests_unit_test_ctl_shared_SOURCES = tests/unit/test_ctl_shared.c \
	core/coordinator/jobstate.c core/coordinator/jobstate.h
tests_unit_test_ctl_shared_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_ctl_shared_LDADD = core/libdcvnet.la core/libdcvproto.la core/libdcvloop.la \
	core/libdcvplug.la core/libdcvbase.la tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm
