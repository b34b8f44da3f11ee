# Hardware encode path area (issue 5): shared hw frames/upload helpers and
# their tests.

# The hardware frames module (device, frames pool, upload / pass-through)
# and the open-failure mapping, part of the plugins' helper library.
plugins_common_libdcvenc_la_SOURCES += \
	plugins/common/hwframes.c plugins/common/hwframes.h \
	plugins/common/hwopen.c plugins/common/hwopen.h

# hwframes.c against a real Vulkan device (lavapipe on machines without a
# GPU; skipped where no Vulkan device can be created), and the -EBUSY
# mapping.
check_PROGRAMS += tests/unit/test_hwframes
TESTS += tests/unit/test_hwframes
tests_unit_test_hwframes_SOURCES = tests/unit/test_hwframes.c
tests_unit_test_hwframes_CFLAGS = $(AM_CFLAGS) $(AVCODEC_CFLAGS) -I$(top_srcdir)/tests \
	-I$(top_srcdir)/plugins/common
tests_unit_test_hwframes_LDADD = tests/libtap.la plugins/common/libdcvenc.la $(AVCODEC_LIBS)
