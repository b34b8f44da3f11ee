#!/bin/sh
# `distconvd --job SPEC` on its own (normally the worker runs it): a SPEC it
# cannot use is refused with a message naming the problem and a non-zero
# exit, before anything is started or written.
. "$DCV_TOP_SRCDIR/tests/lib.sh"

: >"$TMP/empty.conf"
# The SPECs' data endpoint is tcp where nobody listens: no CURVE keys here.
DISTCONV_SECURITY_MODE=none; export DISTCONV_SECURITY_MODE
JOB="0123456789abcdef0123456789abcdef"

"$DISTCONVD" -c "$TMP/empty.conf" --job 'not json' >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 2 ]; ok $? "malformed SPEC exits 2 (got $rc)"
grep -q "SPEC: not valid JSON" "$TMP/err"; ok $? "malformed SPEC: the error says so"
[ ! -s "$TMP/out" ]; ok $? "malformed SPEC: no job line on stdout"

"$DISTCONVD" -c "$TMP/empty.conf" --job '{"job_id":"xyz","attempt":1}' >"$TMP/out" 2>"$TMP/err"
[ $? -eq 2 ] && grep -q "SPEC.job_id" "$TMP/err"; ok $? "a bad field is named (SPEC.job_id)"

SPEC='{"job_id":"'$JOB'","attempt":1,"session":"s1","input":{"kind":"path","path":"/x.mkv"},"data_endpoint":"tcp://127.0.0.1:1","chunk_max":65536,"credit_chunks":4,"stall_ms":1000,"profile":{},"work_dir":"relative"}'
"$DISTCONVD" -c "$TMP/empty.conf" --job "$SPEC" >"$TMP/out" 2>"$TMP/err"
[ $? -eq 2 ] && grep -q "SPEC.work_dir" "$TMP/err"; ok $? "a relative work dir is refused"

"$DISTCONVD" -c "$TMP/empty.conf" --job >"$TMP/out" 2>&1
[ $? -eq 2 ] && grep -q "missing argument" "$TMP/out"; ok $? "--job without SPEC is a usage error"

# A valid SPEC whose input does not exist: one fail line (code input), exit
# 1, and the work dir it was given is gone afterwards.
mkdir "$TMP/w"
SPEC='{"job_id":"'$JOB'","attempt":2,"session":"s1","input":{"kind":"path","path":"'$TMP'/none.mkv"},"data_endpoint":"tcp://127.0.0.1:1","chunk_max":65536,"credit_chunks":4,"stall_ms":1000,"profile":{"codec":"h264"},"work_dir":"'$TMP'/w"}'
"$DISTCONVD" -c "$TMP/empty.conf" --job "$SPEC" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ]; ok $? "missing input exits 1 (got $rc)"
python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert lines[-1]["event"] == "fail", lines
assert lines[-1]["code"] == "input" and lines[-1]["job_id"] == sys.argv[2] and lines[-1]["attempt"] == 2, lines
assert "none.mkv" in lines[-1]["message"], lines
' "$TMP/out" "$JOB"
ok $? "missing input: a fail line with code input, the fence and the path"
[ $? -eq 0 ] || sed 's/^/# /' "$TMP/out" "$TMP/err"
[ ! -e "$TMP/w" ]; ok $? "the work dir is removed"
head -n1 "$TMP/err" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["level"] and d["msg"]'
ok $? "logs are JSON lines on stderr (for the worker to re-log)"

# A deadline already past: fail with code timeout, not retryable.
mkdir "$TMP/w2"
SPEC='{"job_id":"'$JOB'","attempt":1,"session":"s1","input":{"kind":"path","path":"'$TMP'/none.mkv"},"data_endpoint":"tcp://127.0.0.1:1","chunk_max":65536,"credit_chunks":4,"stall_ms":1000,"profile":{},"work_dir":"'$TMP'/w2","deadline_ms":1000}'
"$DISTCONVD" -c "$TMP/empty.conf" --job "$SPEC" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && python3 -c '
import json, sys
l = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert l["event"] == "fail" and l["code"] == "timeout" and l["retryable"] is False, l
' "$TMP/out"
ok $? "a passed deadline: fail timeout, not retryable (rc $rc)"

done_testing
