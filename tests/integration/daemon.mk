TESTS += tests/integration/daemon.sh
EXTRA_DIST += tests/integration/daemon.sh
TESTS += tests/integration/cluster.sh
EXTRA_DIST += tests/integration/cluster.sh
TESTS += tests/integration/faults.sh
EXTRA_DIST += tests/integration/faults.sh tests/integration/cluster-lib.sh
TESTS += tests/integration/url-input.sh
EXTRA_DIST += tests/integration/url-input.sh
# scripts/test's stage logic (valgrind pre-flight) on a stub build dir.
TESTS += tests/integration/stages.sh
EXTRA_DIST += tests/integration/stages.sh
# The marked cluster blocks of README.md and docs/ run as written.
TESTS += tests/integration/docs.sh
EXTRA_DIST += tests/integration/docs.sh
# Misconfigured workers: one clear line on the side that can act (issue 11 A9).
TESTS += tests/integration/misconfig.sh tests/integration/waiting.sh tests/integration/http.sh \
	tests/integration/http-api.sh
EXTRA_DIST += tests/integration/misconfig.sh tests/integration/waiting.sh tests/integration/http.sh \
	tests/integration/http-api.sh
# The dashboard: compiled-in files, and the pages in headless Chromium.
TESTS += tests/integration/dashboard.sh
EXTRA_DIST += tests/integration/dashboard.sh tests/browser/cdp.py tests/browser/dashboard.py
CLEANFILES += tests/artifacts/dashboard-*.png tests/artifacts/dashboard-chromium.log
# GPU and worker figures of /metrics, and a worker's own (worker.http_bind).
TESTS += tests/integration/worker-metrics.sh
EXTRA_DIST += tests/integration/worker-metrics.sh
# House rules: every module named in docs/architecture.md, no .c over 1,000 lines.
TESTS += tests/integration/house.sh
EXTRA_DIST += tests/integration/house.sh

# Path inputs checked against the coordinator's record (issue 11, item 10).
TESTS += tests/integration/stale-mount.sh
EXTRA_DIST += tests/integration/stale-mount.sh
# A failed attempt keeps its job process's last log lines (issue 11, item 10).
TESTS += tests/integration/failure-log.sh
EXTRA_DIST += tests/integration/failure-log.sh
# Blob retention, rm and purge on the coordinator (issue 11 A8).
TESTS += tests/integration/retention.sh
EXTRA_DIST += tests/integration/retention.sh
