# GPU-aware scheduling area (issue 5): scheduler additions, bench/sched.
# The scheduler itself stays in core/coordinator/sched.mk (libdcvsched.la,
# tests/unit/test_scheduler); bench/sched compiles core/coordinator/scheduler.c
# with bench/sched-driver.c on its own (bench/ is in EXTRA_DIST as a whole).
