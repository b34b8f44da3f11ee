# coordinator service (core/coordinator/coord.h): control/data/admin ROUTERs,
# worker registry and liveness, dispatch through the pure scheduler, blob
# storage, the data-plane server callbacks and the admin verbs.
#   core/coordinator/libdcvcoord.la   coord.c (lifetime, sockets, tick) over
#                                     attempts, outbox, sessions, jobrec,
#                                     inputhash, registry, control, dispatch,
#                                     dataplane (coord_int.h), admin.c
#                                     (admin verbs), blobs.c (blob files),
#                                     retention.c (storage.keep_*, rm, purge,
#                                     the orphan sweep), admin_storage.c
# Link it with what it sits on, e.g.
#   core/coordinator/libdcvcoord.la core/coordinator/libdcvstore.la
#   core/coordinator/libdcvsched.la core/xfer/libdcvdata.la core/libdcvnet.la
#   core/xfer/libdcvxfer.la core/libdcvproto.la core/libdcvloop.la
#   core/libdcvplug.la core/libdcvbase.la $(SQLITE_LIBS) $(JSONC_LIBS) $(AV_LIBS)
# See tests/local.mk for the test conventions.

noinst_LTLIBRARIES += core/coordinator/libdcvcoord.la
core_coordinator_libdcvcoord_la_SOURCES = core/coordinator/coord.c core/coordinator/coord.h \
	core/coordinator/coord_int.h core/coordinator/attempts.c core/coordinator/attempts.h \
	core/coordinator/outbox.c core/coordinator/outbox.h core/coordinator/sessions.c \
	core/coordinator/sessions.h core/coordinator/jobrec.c core/coordinator/jobrec.h \
	core/coordinator/inputhash.c core/coordinator/inputhash.h core/coordinator/registry.c \
	core/coordinator/registry.h core/coordinator/control.c core/coordinator/control.h \
	core/coordinator/dispatch.c core/coordinator/dispatch.h core/coordinator/waits.c core/coordinator/waits.h core/coordinator/dataplane.c \
	core/coordinator/dataplane.h core/coordinator/admin.c core/coordinator/admin.h \
	core/coordinator/admin_int.h core/coordinator/admin_workers.c \
	core/coordinator/blobs.c core/coordinator/blobs.h core/coordinator/retention.c \
	core/coordinator/retention.h core/coordinator/admin_storage.c \
	core/coordinator/http.c core/coordinator/http.h core/coordinator/http_metrics.c \
	core/coordinator/http_auth.c core/coordinator/http_api.c core/coordinator/http_events.c \
	core/coordinator/tokens.c core/coordinator/tokens.h core/coordinator/admin_tokens.c \
	core/coordinator/stats.c core/coordinator/stats.h \
	core/coordinator/progress.c core/coordinator/progress.h
core_coordinator_libdcvcoord_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS) $(SQLITE_CFLAGS)
core_coordinator_libdcvcoord_la_LIBADD = core/http/libdcvhttp.la core/coordinator/libdcvstore.la \
	core/coordinator/libdcvsched.la core/xfer/libdcvdata.la core/libdcvnet.la \
	core/xfer/libdcvxfer.la core/libdcvproto.la core/libdcvloop.la core/libdcvplug.la \
	core/libdcvbase.la $(SQLITE_LIBS) $(JSONC_LIBS) $(AV_LIBS)

if ENABLE_TRANSPORT_ZMQ
check_PROGRAMS += tests/unit/test_coord
TESTS += tests/unit/test_coord
tests_unit_test_coord_SOURCES = tests/unit/test_coord.c
tests_unit_test_coord_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_coord_LDADD = core/coordinator/libdcvcoord.la core/coordinator/libdcvstore.la \
	core/coordinator/libdcvsched.la core/xfer/libdcvdata.la core/libdcvnet.la \
	core/xfer/libdcvxfer.la core/libdcvproto.la core/libdcvloop.la core/libdcvplug.la \
	core/libdcvbase.la tests/libtap.la $(SQLITE_LIBS) $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm
endif

# core/coordinator/progress.c alone: pure, no coordinator around it.
check_PROGRAMS += tests/unit/test_progress
TESTS += tests/unit/test_progress
tests_unit_test_progress_SOURCES = tests/unit/test_progress.c core/coordinator/progress.c \
	core/coordinator/progress.h
tests_unit_test_progress_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_progress_LDADD = tests/libtap.la $(JSONC_LIBS)
