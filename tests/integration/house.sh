#!/bin/sh
# The house rules issue 11 set, kept by a test so they cannot drift:
# docs/architecture.md names every module under core/ and cli/, and no .c
# file there grows past 1,000 lines (split it by responsibility instead).
. "$DCV_TOP_SRCDIR/tests/lib.sh"

cd "$DCV_TOP_SRCDIR" || exit 1
missing="" big=""
for f in $(find core cli -name '*.c' | sort); do
    grep -q "$(basename "$f")" docs/architecture.md || missing="$missing $f"
    n=$(wc -l <"$f")
    [ "$n" -le 1000 ] || big="$big $f($n)"
done
[ -z "$missing" ]; ok $? "docs/architecture.md names every module${missing:+ (missing:$missing)}"
[ -z "$big" ]; ok $? "no .c file under core/ or cli/ is over 1,000 lines${big:+ (over:$big)}"
done_testing
