# dataplane: the data plane of docs/protocol.md §7 over core/net sockets.
#   core/xfer/libdcvdata.la      server.c (coordinator side: many transfers on
#                                one ROUTER, non-blocking) and client.c (one
#                                blocking DEALER: send_file, fetch_file, xstream
#                                range reads); both on the xfer/window.h credit
#                                state machines.
#   core/media/libdcvremoteio.la remote_io.c: an AVIOContext over a dcv_xstream
#                                (streamed input for the job process).
# Link them with what they sit on, e.g.
#   core/media/libdcvremoteio.la core/xfer/libdcvdata.la core/libdcvnet.la
#   core/xfer/libdcvxfer.la core/libdcvproto.la core/libdcvloop.la
#   core/libdcvplug.la core/libdcvbase.la $(JSONC_LIBS) $(AV_LIBS)

noinst_LTLIBRARIES += core/xfer/libdcvdata.la
core_xfer_libdcvdata_la_SOURCES = core/xfer/server.c core/xfer/server.h core/xfer/server_int.h \
	core/xfer/server_rx.c core/xfer/server_tx.c \
	core/xfer/client.c core/xfer/client.h
core_xfer_libdcvdata_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
core_xfer_libdcvdata_la_LIBADD = core/libdcvnet.la core/xfer/libdcvxfer.la core/libdcvproto.la \
	core/libdcvloop.la core/libdcvplug.la core/libdcvbase.la $(JSONC_LIBS) $(AV_LIBS)

noinst_LTLIBRARIES += core/media/libdcvremoteio.la
core_media_libdcvremoteio_la_SOURCES = core/media/remote_io.c core/media/remote_io.h
core_media_libdcvremoteio_la_CFLAGS = $(AM_CFLAGS) $(AV_CFLAGS)
core_media_libdcvremoteio_la_LIBADD = core/xfer/libdcvdata.la $(AV_LIBS)

if ENABLE_TRANSPORT_ZMQ
check_PROGRAMS += tests/unit/test_xsrv
TESTS += tests/unit/test_xsrv
tests_unit_test_xsrv_SOURCES = tests/unit/test_xsrv.c
tests_unit_test_xsrv_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_xsrv_LDADD = core/media/libdcvremoteio.la core/xfer/libdcvdata.la \
	core/libdcvnet.la core/xfer/libdcvxfer.la core/libdcvproto.la core/libdcvloop.la \
	core/libdcvplug.la core/libdcvbase.la tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm
endif
