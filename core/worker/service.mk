# worker: the worker service (worker.c: lifetime, connection, admission, the
# tick; jobs.c: JOB/CANCEL and the job processes over the runner; hello.c:
# what HELLO says; outbox.c: messages to the coordinator, in order) and the
# job process it re-executes (`distconvd --job SPEC`: jobproc.c, with the
# SPEC and job-line codec in jobspec.c). One library; a program pulls only
# the objects it uses. http_metrics.c: its own /metrics (worker.http_bind).

noinst_LTLIBRARIES += core/worker/libdcvworker.la
core_worker_libdcvworker_la_SOURCES = core/worker/worker.c core/worker/worker.h \
	core/worker/worker_int.h core/worker/jobs.c core/worker/hello.c core/worker/outbox.c \
	core/worker/jobspec.c core/worker/jobspec.h core/worker/bgbench.c core/worker/bgbench.h \
	core/worker/jobproc.c core/worker/jobproc.h \
	core/worker/inputcheck.c core/worker/inputcheck.h \
	core/worker/logtail.c core/worker/logtail.h \
	core/worker/workdir.c core/worker/workdir.h core/worker/http_metrics.c
core_worker_libdcvworker_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
core_worker_libdcvworker_la_LIBADD = core/http/libdcvhttp.la core/worker/libdcvrunner.la \
	core/worker/libdcvtelemetry.la core/media/libdcvremoteio.la core/xfer/libdcvdata.la \
	core/media/libdcvmedia.la core/libdcvnet.la core/xfer/libdcvxfer.la core/libdcvproto.la core/libdcvloop.la \
	core/libdcvplug.la core/libdcvbase.la $(JSONC_LIBS) $(AV_LIBS) -lm

# The worker against a fake coordinator (a ROUTER and the real data-plane
# server in the test), running real job processes (core/distconvd --job).
if ENABLE_TRANSPORT_ZMQ
check_PROGRAMS += tests/unit/test_worker
TESTS += tests/unit/test_worker
tests_unit_test_worker_SOURCES = tests/unit/test_worker.c
tests_unit_test_worker_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_worker_LDADD = core/worker/libdcvworker.la core/http/libdcvhttp.la \
	core/worker/libdcvrunner.la \
	core/worker/libdcvtelemetry.la core/media/libdcvremoteio.la core/xfer/libdcvdata.la \
	core/media/libdcvmedia.la core/libdcvnet.la core/xfer/libdcvxfer.la core/libdcvproto.la \
	core/libdcvloop.la core/libdcvplug.la core/libdcvbase.la tests/libtap.la \
	$(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm
endif

# The job process on its own: SPEC validation, exit codes.
TESTS += tests/integration/jobproc.sh
EXTRA_DIST += tests/integration/jobproc.sh

# The tail of a job process's log a failed attempt carries (REJECT/FAIL.log_tail).
check_PROGRAMS += tests/unit/test_logtail
TESTS += tests/unit/test_logtail
tests_unit_test_logtail_SOURCES = tests/unit/test_logtail.c
tests_unit_test_logtail_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_logtail_LDADD = core/worker/libdcvworker.la core/libdcvproto.la \
	core/libdcvplug.la core/libdcvbase.la tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm
