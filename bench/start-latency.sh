#!/usr/bin/env bash
# bench/start-latency.sh [--skip-glassbox] [--runs N]
#
# Container start latency: wall time of "start a container that runs `true`
# and wait for it to be gone", for glassbox, runc and crun, on the same busybox
# rootfs, in ONE hyperfine invocation (so all commands share the same machine
# state and the JSON holds everything). Prints glassbox/runc and glassbox/crun.
#
#   glassbox  target/release/glassbox --root $TMP/gb run --rm $GLASSBOX_BENCH_ARGS busybox true
#             (image imported beforehand from target/fixtures/busybox-rootfs.tar;
#              GLASSBOX_BENCH_ARGS defaults to "--network none", runc's netns
#              with only lo; set it to "" to measure the default bridge, which
#              bench/network.sh measures with its own bridge and clean-up)
#   runc      runc --root $TMP/runc run -b target/bench/bundle ID
#   crun      crun 1.8 refuses to start when a cgroup2 hierarchy is mounted
#             next to v1 (hybrid, /sys/fs/cgroup/unified), so on such hosts it
#             runs as   unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec crun ...'
#             and we also time that wrapper around `true` ("crun-wrapper") and a
#             bare `unshare -m true`, to report crun with the wrapper subtracted.
#
# The bundle is target/bench/bundle: rootfs = busybox-rootfs.tar, config.json =
# `runc spec` with args ["true"] and terminal false (runc's default
# namespaces: pid, net (lo only), ipc, uts, mount). All runtime state lives in
# a temp dir that is removed on exit, however we exit.
#
# Needs root, hyperfine, runc, crun (scripts/test installs them), and
# target/fixtures/busybox-rootfs.tar (built here via scripts/fixtures).
#
# set -euo pipefail: a benchmark whose setup half-failed would time errors,
# not container starts, and report nonsense ratios; stop at the first failure,
# treat unset variables as bugs, and let no pipeline hide a failing command.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
skip_glassbox=0
runs=30
while (($#)); do
    case $1 in
    --skip-glassbox) skip_glassbox=1 ;;
    --runs) runs=${2:?}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
log() { printf '[bench] %s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { echo "error: needs root (runc/crun create namespaces and cgroups)" >&2; exit 1; }
for t in hyperfine runc crun unshare python3; do
    command -v "$t" >/dev/null || { echo "error: $t not installed" >&2; exit 1; }
done

out=$repo/target/bench
bundle=$out/bundle
mkdir -p "$out"
scripts/fixtures >/dev/null 2>&1 || scripts/fixtures  # (re-run loudly on failure)
rootfs_tar=$repo/target/fixtures/busybox-rootfs.tar

# ------------------------------------------------------------ temp state ---
tmp=$(mktemp -d /tmp/gb-bench.XXXXXX)
runc_id=gb-bench-runc-$$
crun_id=gb-bench-crun-$$
gb=$repo/target/release/glassbox

cleanup() {
    set +e
    runc --root "$tmp/runc" delete -f "$runc_id" >/dev/null 2>&1
    crun --root "$tmp/crun" delete -f "$crun_id" >/dev/null 2>&1
    # glassbox mounts overlays under its root; unmount whatever is left there
    # (deepest first) so rm -rf never walks into a mounted filesystem.
    local m
    for m in $(awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m"
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------- bundle ---
# Rebuilt every time (it is tiny) so it always matches the fixture.
rm -rf "$bundle"
mkdir -p "$bundle/rootfs"
tar -xf "$rootfs_tar" -C "$bundle/rootfs" --numeric-owner
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"), indent=2)
EOF

# ------------------------------------------------------------- commands ---
. bench/lib.sh  # wrap (crun on a hybrid host), add

if ((!skip_glassbox)); then
    if [[ ${GLASSBOX_BENCH_NO_BUILD:-0} != 1 ]]; then
        log "cargo build --release"
        cargo build --release -q
    fi
    [[ -x $gb ]] || { echo "error: $gb missing (or use --skip-glassbox)" >&2; exit 1; }
    "$gb" --root "$tmp/gb" import "$rootfs_tar" busybox:latest >/dev/null
    # run's options go before the image: after it they would be the command.
    add glassbox "$gb --root $tmp/gb run --rm ${GLASSBOX_BENCH_ARGS---network none} busybox true"
fi
add runc "runc --root $tmp/runc run -b $bundle $runc_id"
add crun "$(wrap "crun --root $tmp/crun run -b $bundle $crun_id")"
if ((hybrid)); then
    add crun-wrapper "$(wrap true)"
    add unshare "unshare -m true"
fi

# One untimed run of each first: a broken command fails here with its own
# error message instead of as a hyperfine "non-zero exit code".
for i in "${!cmds[@]}"; do
    sh -c "${cmds[$i]}" || { echo "error: '${names[$i]}' failed: ${cmds[$i]}" >&2; exit 1; }
done

# ---------------------------------------------------------------- timing ---
hf=()
for i in "${!cmds[@]}"; do hf+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
# -N: no intermediate shell (hyperfine splits the command line itself), so
# there is no shell-spawn correction adding noise at millisecond scale.
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/start-latency.json" "${hf[@]}"

# ---------------------------------------------------------------- ratios ---
python3 - "$out/start-latency.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["mean"] * 1000
print()
for n in r:
    print(f"{n:>14}: {ms(n):7.2f} ms ± {r[n]['stddev']*1000:5.2f} (median {r[n]['median']*1000:7.2f})")
crun_net = ms("crun") - ms("crun-wrapper") if "crun-wrapper" in r else None
if crun_net is not None:
    print(f"{'crun - wrapper':>14}: {crun_net:7.2f} ms   (crun with the unshare/umount workaround subtracted)")
print()
if "glassbox" in r:
    g = ms("glassbox")
    print(f"glassbox / runc = {g / ms('runc'):.2f}")
    print(f"glassbox / crun = {g / ms('crun'):.2f}" + ("   (crun incl. wrapper)" if crun_net else ""))
    if crun_net:
        print(f"glassbox / (crun - wrapper) = {g / crun_net:.2f}")
else:
    print("(glassbox skipped)")
print(f"runc / crun = {ms('runc') / ms('crun'):.2f}" +
      (f",  runc / (crun - wrapper) = {ms('runc') / crun_net:.2f}" if crun_net else ""))
EOF
log "results: $out/start-latency.json"
