TESTS += tests/integration/daemon.sh
EXTRA_DIST += tests/integration/daemon.sh
