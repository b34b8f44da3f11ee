# core: the daemon and its shared modules, split into small convenience
# libraries so each test links only what it exercises.

# config, logging, encode profile
noinst_LTLIBRARIES += core/libdcvbase.la
core_libdcvbase_la_SOURCES = core/clock.c core/clock.h core/errbuf.c core/errbuf.h core/rand.c core/rand.h core/log.c core/log.h core/config.c core/config.h \
	core/config_keys.c core/config_int.h \
	core/profile.c core/profile.h core/urlpolicy.c core/urlpolicy.h
core_libdcvbase_la_SOURCES += core/profile_json.c core/profile_json.h
core_libdcvbase_la_SOURCES += core/jsonutil.h core/http/httpaddr.c core/http/httpaddr.h
core_libdcvbase_la_SOURCES += core/pathutil.c core/pathutil.h core/perm.c core/perm.h
core_libdcvbase_la_CFLAGS = $(AM_CFLAGS) $(LIBCONFIG_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
core_libdcvbase_la_LIBADD = $(LIBCONFIG_LIBS) $(JSONC_LIBS) $(AV_LIBS)

# plugin loader and child-process probing
noinst_LTLIBRARIES += core/libdcvplug.la
core_libdcvplug_la_SOURCES = core/pluginhost.c core/pluginhost.h core/probe.c core/probe.h \
	core/caps_json.c core/caps_json.h
core_libdcvplug_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
core_libdcvplug_la_LIBADD = core/libdcvbase.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS)

bin_PROGRAMS += core/distconvd
core_distconvd_SOURCES = core/daemon.c
core_distconvd_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
core_distconvd_LDADD = core/worker/libdcvworker.la core/coordinator/libdcvcoord.la \
	core/coordinator/libdcvstore.la core/coordinator/libdcvsched.la \
	core/worker/libdcvrunner.la core/worker/libdcvtelemetry.la core/media/libdcvremoteio.la \
	core/xfer/libdcvdata.la core/media/libdcvmedia.la core/libdcvnet.la core/xfer/libdcvxfer.la \
	core/libdcvproto.la core/libdcvloop.la core/libdcvplug.la core/libdcvbase.la \
	$(JSONC_LIBS) $(AV_LIBS) $(SQLITE_LIBS) $(LIBS) -lm
