#!/bin/sh
# Docs that execute (issue 11, item 12): the fenced shell blocks of README.md,
# docs/operations.md, docs/security.md and docs/api.md marked with
#     <!-- docs.sh: cluster=NAME host=HOST[,HOST...] -->
# on the line before the fence run as written against real daemons: a
# coordinator and workers on loopback, one cluster per NAME, its blocks in
# document order, each block once per HOST named (in that host's place),
# with `sh -e`: a command that fails fails its block. A doc change that
# breaks a command fails this test.
#
# THE RULE (the only changes to a block's text, also in docs/testing.md):
#  1. `/etc/distconv`, `/var/lib/distconv` become HOSTS/<host>/etc/distconv
#     and HOSTS/<host>/var/lib/distconv, where <host> is the block's host,
#     or HOST on a line `ssh HOST ...` (the command runs there);
#     `HOST:/path` (scp's notation) becomes HOSTS/HOST/path.
#  2. `/srv/media` and `/mnt/media` (the examples' shared storage, seen
#     under two names) both become one directory, SHARED.
#  3. `tcp://HOST:7400` and `:7401` become 127.0.0.1 and two free ports;
#     `127.0.0.1:7480` (the HTTP plane's default) a third free port, which
#     a coordinator or standalone daemon of the cluster listens on.
# HOSTS and SHARED are under this test's temp dir. Everything else is the
# host's environment, set up before a block runs and listed here:
#  - HOME is HOSTS/<host>/home (so `~` is that host's) and the working
#    directory; docs.sh puts the inputs the blocks name there (movie.mkv)
#    and in SHARED (a.mkv);
#  - PATH starts with shims: `distconvd` and `distconvctl` are the build's,
#    with the built-in defaults the rule maps (the configuration file,
#    state dir, key files, workers.d, admins.d under HOSTS/<host>; a
#    daemon's name is its host's name; a coordinator's default tcp
#    endpoints are the loopback ports of rule 3) unless the block sets them; `hostname` prints <host>; `ssh HOST
#    CMD` runs CMD in HOST's environment; `scp` copies (paths are local
#    after rule 1);
#  - DISTCONV_BENCHMARK=0, as in every test (the startup benchmark costs
#    seconds per worker).
# Between blocks docs.sh waits (at most 60 s) until every daemon a block
# started (with `&`) has written its pid file, as a person waits for a
# service to come up. After a cluster's blocks it checks what they promise:
# the workers online and the outputs they asked for.
. "$DCV_TOP_SRCDIR/tests/lib.sh"
. "$DCV_TOP_SRCDIR/tests/integration/cluster-lib.sh"

DOCS_T="$TMP/docs"
SHIM="$DOCS_T/shim"
mkdir -p "$SHIM"
DOCS="README.md docs/operations.md docs/security.md docs/api.md"

# --- the blocks --------------------------------------------------------------
# extract: one file per block, $DOCS_T/blocks/NNN-CLUSTER-FILE-LINE with the
# first line "HOSTS" and the block's text after it.
python3 - "$DCV_TOP_SRCDIR" "$DOCS_T/blocks" $DOCS <<'EOF'
import os, re, sys
src, out, docs = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(out)
mark = re.compile(r'^<!-- docs\.sh: cluster=([\w-]+) host=([\w.,-]+) -->\s*$')
n = 0
for doc in docs:
    lines = open(os.path.join(src, doc)).read().split("\n")
    i = 0
    while i < len(lines):
        m = mark.match(lines[i])
        i += 1
        if not m:
            continue
        if i >= len(lines) or lines[i].strip() != "```sh":
            sys.exit("%s:%d: a docs.sh mark must be followed by a ```sh fence" % (doc, i))
        start = i + 1
        j = start
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        n += 1
        name = "%03d-%s-%s-%d" % (n, m.group(1), doc.replace("/", "_"), start)
        with open(os.path.join(out, name), "w") as f:
            f.write(m.group(2).replace(",", " ") + "\n" + "\n".join(lines[start:j]) + "\n")
        i = j + 1
EOF
ok $? "marked blocks extracted"
for d in $DOCS; do
    n=$(ls "$DOCS_T/blocks" | grep -c -- "-$(echo "$d" | tr / _)-")
    [ "$n" -gt 0 ]; ok $? "$d has marked cluster blocks ($n)"
done

# rewrite FILE CLUSTER-DIR HOST: the rule above, printed
rewrite() {
    python3 - "$@" <<'EOF'
import re, sys
path, cdir, host = sys.argv[1], sys.argv[2], sys.argv[3]
ports = open(cdir + "/ports").read().split()
text = open(path).read().split("\n", 1)[1]
known = open(cdir + "/hostnames").read().split()
def root(h):
    return "%s/hosts/%s" % (cdir, h)
out = []
for line in text.split("\n"):
    m = re.match(r"\s*ssh\s+(\S+)\s", line)
    ctx = m.group(1) if m and m.group(1) in known else host
    line = re.sub(r"(^|[\s='\"(])(/etc/distconv|/var/lib/distconv)(?=[/\s'\")]|$)",
                  lambda m: m.group(1) + root(ctx) + m.group(2), line)
    line = re.sub(r"(^|[\s='\"(])/(srv|mnt)/media(?=[/\s'\"=)]|$)",
                  lambda m: m.group(1) + cdir + "/shared", line)
    line = re.sub(r"(?<![\w/.-])([\w.-]+):(/\S*)",
                  lambda m: (root(m.group(1)) + m.group(2)) if m.group(1) in known else m.group(0),
                  line)
    line = re.sub(r"\b127\.0\.0\.1:7480\b", "127.0.0.1:" + ports[2], line)
    line = re.sub(r"tcp://([\w.-]+):(7400|7401)\b",
                  lambda m: ("tcp://127.0.0.1:" + ports[int(m.group(2)) - 7400])
                  if m.group(1) in known else m.group(0), line)
    out.append(line)
sys.stdout.write("\n".join(out))
EOF
}

# --- the shims (PATH) ----------------------------------------------------------
# The default configuration file, /etc/distconv/distconvd.conf, is the host's
# (rule 1): given with -c unless the command names one; a missing default
# file means an empty one.
CONF_DEFAULT='case " $* " in *" -c "* | *" --config "* | *" --config="*) ;;
*) mkdir -p "$H/etc/distconv" && touch "$H/etc/distconv/distconvd.conf" &&
   set -- -c "$H/etc/distconv/distconvd.conf" "$@" ;;
esac'
cat >"$SHIM/distconvd" <<EOF
#!/bin/sh
# distconvd of the build; a service gets the mapped defaults and a log
H="\$DOCS_C/hosts/\$DOCS_HOST"
export DISTCONV_PLUGIN_DIR="\${DISTCONV_PLUGIN_DIR:-$DCV_TOP_BUILDDIR/stage/plugins}"
$CONF_DEFAULT
for a; do
    case \$a in --probe | --check-config | --transcode | --benchmark | --version | --help | -h | --job)
        exec "$DISTCONVD" "\$@" ;;
    esac
done
role=\${DISTCONV_ROLE:-standalone}
export DISTCONV_STATE_DIR="\${DISTCONV_STATE_DIR:-\$H/var/lib/distconv}"
export DISTCONV_NAME="\${DISTCONV_NAME:-\$DOCS_HOST}"
export DISTCONV_SECURITY_SECRET_KEY="\${DISTCONV_SECURITY_SECRET_KEY:-\$H/etc/distconv/keys/\$role.key}"
export DISTCONV_SECURITY_COORDINATOR_KEY="\${DISTCONV_SECURITY_COORDINATOR_KEY:-\$H/etc/distconv/keys/coordinator.pub}"
export DISTCONV_SECURITY_WORKERS_DIR="\${DISTCONV_SECURITY_WORKERS_DIR:-\$H/etc/distconv/workers.d}"
export DISTCONV_SECURITY_ADMINS_DIR="\${DISTCONV_SECURITY_ADMINS_DIR:-\$H/etc/distconv/admins.d}"
export DISTCONV_SECURITY_TOKEN_FILE="\${DISTCONV_SECURITY_TOKEN_FILE:-\$H/etc/distconv/token}"
if [ "\$role" = coordinator ]; then
    export DISTCONV_BIND="\${DISTCONV_BIND:-tcp://127.0.0.1:\$(sed -n 1p "\$DOCS_C/ports")}"
    export DISTCONV_DATA_BIND="\${DISTCONV_DATA_BIND:-tcp://127.0.0.1:\$(sed -n 2p "\$DOCS_C/ports")}"
fi
[ "\$role" = worker ] ||
    export DISTCONV_HTTP_BIND="\${DISTCONV_HTTP_BIND:-127.0.0.1:\$(sed -n 3p "\$DOCS_C/ports")}"
echo "\$\$ \$DOCS_HOST \$DISTCONV_STATE_DIR" >>"\$DOCS_C/daemons"
exec "$DISTCONVD" "\$@" >>"\$H/distconvd.log" 2>&1
EOF
cat >"$SHIM/distconvctl" <<EOF
#!/bin/sh
H="\$DOCS_C/hosts/\$DOCS_HOST"
export DISTCONV_PLUGIN_DIR="\${DISTCONV_PLUGIN_DIR:-$DCV_TOP_BUILDDIR/stage/plugins}"
$CONF_DEFAULT
export DISTCONV_STATE_DIR="\${DISTCONV_STATE_DIR:-\$H/var/lib/distconv}"
export DISTCONV_SECURITY_COORDINATOR_KEY="\${DISTCONV_SECURITY_COORDINATOR_KEY:-\$H/etc/distconv/keys/coordinator.pub}"
exec "$CTL" "\$@"
EOF
cat >"$SHIM/hostname" <<'EOF'
#!/bin/sh
echo "$DOCS_HOST"
EOF
cat >"$SHIM/scp" <<'EOF'
#!/bin/sh
# paths are local after the rule: a copy
while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
exec cp "$@"
EOF
cat >"$SHIM/ssh" <<'EOF'
#!/bin/sh
# ssh HOST CMD...: CMD in HOST's environment
h=$1; shift
DOCS_HOST=$h HOME="$DOCS_C/hosts/$h/home"; export DOCS_HOST HOME
cd "$HOME" && exec sh -c "$*"
EOF
chmod +x "$SHIM"/*

# run_block BLOCK CLUSTER-DIR HOST: the block, rewritten, in HOST's place
run_block() {
    rewrite "$1" "$2" "$3" >"$2/run.sh"
    (
        cd "$2/hosts/$3/home" &&
            env $(env | sed -n 's/^\(DISTCONV_[A-Z_]*\)=.*/-u \1/p') \
                DOCS_C="$2" DOCS_HOST="$3" HOME="$2/hosts/$3/home" PATH="$SHIM:$PATH" \
                DISTCONV_BENCHMARK=0 timeout 300 sh -e "$2/run.sh"
    ) >"$2/block.out" 2>&1
}
# daemons_up CLUSTER-DIR: every daemon started so far wrote its pid file
daemons_up() {
    [ -f "$1/daemons" ] || return 0
    while read -r pid host sd; do
        kill -0 "$pid" 2>/dev/null && [ "$(cat "$sd/distconvd.pid" 2>/dev/null)" = "$pid" ] || return 1
    done <"$1/daemons"
}
# ctl_on CLUSTER-DIR HOST ARGS...: distconvctl as a person on HOST runs it
ctl_on() {
    _c=$1 _h=$2; shift 2
    (cd "$_c/hosts/$_h/home" && env DOCS_C="$_c" DOCS_HOST="$_h" HOME="$_c/hosts/$_h/home" \
        "$SHIM/distconvctl" "$@")
}

# The harness itself: a command that fails in the middle of a block fails
# the block (sh -e), so a doc change that breaks one fails this test.
S="$DOCS_T/selftest"
mkdir -p "$S/hosts/h/home"
printf '1\n2\n3\n' >"$S/ports"
echo h >"$S/hostnames"
printf 'h\nmkdir -p /etc/distconv/keys\ndistconvctl keygen --nmae x --dir /etc/distconv/keys\ntrue\n' >"$S/block"
run_block "$S/block" "$S" h
[ $? -ne 0 ] && grep -q "$S/hosts/h/etc/distconv/keys" "$S/run.sh"
ok $? "self-check: a broken command in the middle of a block fails it"

# --- each cluster ----------------------------------------------------------------
gen_clip "$DOCS_T/movie.mkv" -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 \
    -f lavfi -i sine=frequency=440:duration=2 -c:v libx264 -preset ultrafast -c:a aac -shortest

for cluster in $(ls "$DOCS_T/blocks" | cut -d- -f2 | sort -u); do
    C="$DOCS_T/$cluster"
    mkdir -p "$C/shared"
    cp "$DOCS_T/movie.mkv" "$C/shared/a.mkv"
    echo "$(free_port) $(free_port) $(free_port)" | tr ' ' '\n' >"$C/ports"
    hosts=$(for b in "$DOCS_T/blocks"/*-"$cluster"-*; do head -n1 "$b"; done | tr ' ' '\n' | sort -u)
    echo "$hosts" >"$C/hostnames"
    for h in $hosts; do
        mkdir -p "$C/hosts/$h/home"
        cp "$DOCS_T/movie.mkv" "$C/hosts/$h/home/"
    done
    for b in "$DOCS_T/blocks"/*-"$cluster"-*; do
        where=$(basename "$b" | sed "s/^[0-9]*-$cluster-//; s/_/\//; s/-\([0-9]*\)$/:\1/")
        for h in $(head -n1 "$b"); do
            run_block "$b" "$C" "$h"
            r=$?
            ok $r "$where (cluster $cluster) runs as written on $h"
            if [ $r -ne 0 ]; then
                sed 's/^/#   | /' "$C/run.sh"
                sed 's/^/#   > /' "$C/block.out"
            fi
            # The daemons it started, if any, come up before the next block.
            wait_until 60 daemons_up "$C"
            r=$?
            [ $r -eq 0 ] || { ok 1 "the daemons started by $where are up"; cat "$C/daemons"; }
        done
        [ -f "$C/daemons" ] && PIDS="$PIDS $(cut -d' ' -f1 "$C/daemons" | tr '\n' ' ')"
    done
    # What the blocks promise.
    coord=$(head -n1 "$C/hostnames")
    [ -f "$C/daemons" ] && coord=$(awk '{print $2; exit}' "$C/daemons")
    # Workers: each host of a block starting one, and a standalone daemon's own.
    nw=$(for b in "$DOCS_T/blocks"/*-"$cluster"-*; do
        if grep -q 'DISTCONV_ROLE=worker' "$b" ||
            { grep -q 'distconvd.*&' "$b" && ! grep -q 'DISTCONV_ROLE=' "$b"; }; then
            head -n1 "$b"
        fi; done | wc -w)
    online() { ctl_on "$C" "$coord" workers --json >"$C/w.json" 2>/dev/null &&
        [ "$(jget "$C/w.json" "sum(1 for w in d['workers'] if w['state']=='online')")" = "$1" ]; }
    wait_until 30 online "$nw"
    ok $? "cluster $cluster: the $nw worker(s) its blocks started are online on $coord"
    for o in $(cat "$DOCS_T/blocks"/*-"$cluster"-* | sed -n 's/.*--wait -o \([^ ]*\).*/\1/p'); do
        f=$(find "$C/hosts" -name "$o" | head -n1)
        c=$([ -n "$f" ] && probe_field "$f" v:0 codec_name)
        [ -n "$c" ]; ok $? "cluster $cluster: $o written, video ${c:-missing}"
    done
    [ "$_tap_failed" -eq 0 ] || for l in "$C"/hosts/*/distconvd.log; do
        diag "== $l"; tail -n 20 "$l" | sed 's/^/#   /'; done
    stop_daemons
    PIDS=""
    left=$(cut -d' ' -f3 "$C/daemons" 2>/dev/null | while read -r sd; do
        [ -e "$sd/distconvd.pid" ] && echo "$sd"; done)
    [ -z "$left" ]; ok $? "cluster $cluster: each daemon removed its pid file when it stopped${left:+ (left: $left)}"
done
done_testing
