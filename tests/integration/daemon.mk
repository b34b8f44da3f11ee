TESTS += tests/integration/daemon.sh
EXTRA_DIST += tests/integration/daemon.sh
TESTS += tests/integration/cluster.sh
EXTRA_DIST += tests/integration/cluster.sh
