#!/usr/bin/env bash
# bench/runtime.sh [--runs N] [--skip-podman]
#
# glassbox-runtime as an OCI runtime, against runc and crun on the same
# bundle, in ONE hyperfine invocation:
#
#   <rt>-run     <rt> --root $TMP/<rt> run -b BUNDLE ID
#                (create + start + wait + delete of `true`)
#   <rt>-cycle   sh -c '<rt> create -b BUNDLE ID && <rt> start ID && <rt> delete -f ID'
#                (the three calls a caller such as conmon or containerd's shim
#                makes; `sh` is the same constant cost in every row)
#
# crun 1.8 refuses a hybrid cgroup v1 + v2 host (/sys/fs/cgroup/unified): there
# it runs as `unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec crun ...'`,
# and that wrapper around `true` is timed too ("crun-wrapper") so it can be
# subtracted. Prints medians and the glassbox-runtime/runc and
# glassbox-runtime/crun ratios of the medians.
#
# Then memory (VmRSS from /proc/PID/status):
#   - the process each runtime leaves between `create` and `start` (the
#     container's first process waiting on the exec fifo: glassbox-runtime's
#     clone, `runc init`, crun's);
#   - what stays after `start`: glassbox-runtime, runc and crun all exit (the
#     waiting process has exec'd the program), so the number is how many of
#     their processes are left (0 expected);
#   - the monitor that stays with a detached container: conmon under
#     `podman --runtime glassbox-runtime run -d` (podman's monitor, the same
#     whatever the runtime), and glassbox's own monitor under
#     `glassbox run -d` (the container's parent: glassbox-monitor once it
#     has handed over), with its PSS too (shared pages split among their
#     users: what one more monitor costs the machine).
#
# The bundle is target/bench/runtime-bundle: busybox-rootfs.tar and `runc
# spec` with args ["true"], terminal false. All state (runtime roots,
# podman's storage with a private CONTAINERS_CONF, glassbox's root) lives in
# a temp dir removed on exit, with the cgroups the runs made. Writes
# target/bench/runtime.json (hyperfine) and target/bench/runtime-rss.txt.
#
# Needs root, hyperfine, runc, crun, python3; podman and conmon for the
# conmon row (--skip-podman leaves it out). Builds target/release first
# unless GLASSBOX_BENCH_NO_BUILD=1.
#
# set -euo pipefail: a half-failed setup would time errors, not containers.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
runs=30
skip_podman=0
while (($#)); do
    case $1 in
    --runs) runs=${2:?}; shift ;;
    --skip-podman) skip_podman=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
log() { printf '[bench] %s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { echo "error: needs root (runtimes create namespaces and cgroups)" >&2; exit 1; }
for t in hyperfine runc crun unshare python3; do
    command -v "$t" >/dev/null || { echo "error: $t not installed" >&2; exit 1; }
done
if ((!skip_podman)); then
    command -v podman >/dev/null || { echo "error: podman not installed (or --skip-podman)" >&2; exit 1; }
fi

out=$repo/target/bench
bundle=$out/runtime-bundle
mkdir -p "$out"
scripts/fixtures >/dev/null 2>&1 || scripts/fixtures
rootfs_tar=$repo/target/fixtures/busybox-rootfs.tar
if [[ ${GLASSBOX_BENCH_NO_BUILD:-0} != 1 ]]; then
    log "cargo build --release"
    cargo build --release -q
fi
gbrt=$repo/target/release/glassbox-runtime
gb=$repo/target/release/glassbox
[[ -x $gbrt && -x $gb ]] || { echo "error: $gbrt or $gb missing" >&2; exit 1; }

# ------------------------------------------------------------ temp state ---
tmp=$(mktemp -d /tmp/gb-bench-rt.XXXXXX)
id=gbrtbench$$
pm=(podman --root "$tmp/pm" --runroot "$tmp/pmrun" --runtime "$gbrt" --storage-driver vfs
    --cgroup-manager cgroupfs --events-backend none)
had_libpod_parent=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null | head -1 || true)

cleanup() {
    set +e
    local rt
    for rt in glassbox-runtime runc crun; do
        "$(rt_bin $rt)" --root "$tmp/$rt" delete -f "$id-$rt" >/dev/null 2>&1
        "$(rt_bin $rt)" --root "$tmp/$rt" delete -f "$id-$rt-rss" >/dev/null 2>&1
    done
    if ((!skip_podman)) && [[ -d $tmp/pm ]]; then
        CONTAINERS_CONF=$tmp/containers.conf "${pm[@]}" rm -af -t 0 >/dev/null 2>&1
        CONTAINERS_CONF=$tmp/containers.conf "${pm[@]}" system reset -f >/dev/null 2>&1
        if [[ -z $had_libpod_parent ]]; then
            for d in /sys/fs/cgroup/*/libpod_parent; do
                [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
            done
        fi
    fi
    [[ -d $tmp/gb ]] && "$gb" --root "$tmp/gb" rm -f "$id-gb" >/dev/null 2>&1
    # The OCI runs' cgroups: cgroupsPath /gbrtbench<pid>/<id>.
    for d in /sys/fs/cgroup/*/"$id"; do
        [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    local m
    for m in $(awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m"
    done
    rm -rf "$tmp"
}
rt_bin() { case $1 in glassbox-runtime) echo "$gbrt" ;; *) echo "$1" ;; esac; }
trap cleanup EXIT

# ---------------------------------------------------------------- bundle ---
rm -rf "$bundle"
mkdir -p "$bundle/rootfs"
tar -xf "$rootfs_tar" -C "$bundle/rootfs" --numeric-owner
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" "/$id/c" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
# every runtime's cgroup under one parent the clean-up knows
c["linux"]["cgroupsPath"] = sys.argv[2]
json.dump(c, open(p, "w"), indent=2)
EOF

. bench/lib.sh  # wrap (crun on a hybrid host), add

# ------------------------------------------------------------- commands ---
for rt in glassbox-runtime runc crun; do
    bin=$(rt_bin $rt)
    r="$bin --root $tmp/$rt"
    run="$r run -b $bundle $id-$rt"
    cycle="sh -c '$r create -b $bundle $id-$rt && $r start $id-$rt && $r delete -f $id-$rt'"
    if [[ $rt == crun ]]; then
        run=$(wrap "$run")
        cycle=$(wrap "sh -c \"$r create -b $bundle $id-$rt && $r start $id-$rt && $r delete -f $id-$rt\"")
    fi
    add "$rt-run" "$run"
    add "$rt-cycle" "$cycle"
done
((hybrid)) && add crun-wrapper "$(wrap true)"

for i in "${!cmds[@]}"; do
    sh -c "${cmds[$i]}" >/dev/null || { echo "error: '${names[$i]}' failed: ${cmds[$i]}" >&2; exit 1; }
done

# ---------------------------------------------------------------- timing ---
hf=()
for i in "${!cmds[@]}"; do hf+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/runtime.json" "${hf[@]}"

# ---------------------------------------------------------------- memory ---
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
rss_file=$out/runtime-rss.txt
: >"$rss_file"
for rt in glassbox-runtime runc crun; do
    bin=$(rt_bin $rt)
    c="$bin --root $tmp/$rt"
    cid=$id-$rt-rss
    if [[ $rt == crun ]]; then
        sh -c "$(wrap "$c create -b $bundle $cid")" >/dev/null
    else
        $c create -b "$bundle" "$cid" >/dev/null
    fi
    pid=$($c state "$cid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    echo "created-waiting $rt $(rss_kb "$pid")" >>"$rss_file"
    if [[ $rt == crun ]]; then
        sh -c "$(wrap "$c start $cid")"
    else
        $c start "$cid"
    fi
    sleep 0.2
    left=$(pgrep -c -f "^$bin --root $tmp/$rt" || true)
    echo "left-after-start $rt ${left:-0}" >>"$rss_file"
    if [[ $rt == crun ]]; then
        sh -c "$(wrap "$c delete -f $cid")"
    else
        $c delete -f "$cid"
    fi
done
if ((!skip_podman)); then
    printf '%s\n' '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' \
        '[engine]' 'cgroup_manager = "cgroupfs"' 'events_logger = "none"' >"$tmp/containers.conf"
    export CONTAINERS_CONF=$tmp/containers.conf
    "${pm[@]}" load -i "$repo/target/fixtures/busybox-docker.tar" >/dev/null
    "${pm[@]}" run -d --name "$id-pm" --network none busybox sleep 300 >/dev/null
    sleep 0.5
    conmon=$("${pm[@]}" inspect --format '{{.State.ConmonPid}}' "$id-pm")
    echo "monitor conmon $(rss_kb "$conmon") $(pss_kb "$conmon")" >>"$rss_file"
    left=$(pgrep -c -f "^$gbrt " || true)
    echo "left-under-podman glassbox-runtime ${left:-0}" >>"$rss_file"
    "${pm[@]}" rm -f -t 0 "$id-pm" >/dev/null
    unset CONTAINERS_CONF
fi
"$gb" --root "$tmp/gb" import "$rootfs_tar" busybox:latest >/dev/null
"$gb" --root "$tmp/gb" run -d --name "$id-gb" --network none busybox sleep 300 >/dev/null
sleep 0.5
cpid=$("$gb" --root "$tmp/gb" inspect --format '{{.State.Pid}}' "$id-gb")
mon=$(awk '/^PPid:/ {print $2}' "/proc/$cpid/status")
echo "monitor glassbox $(rss_kb "$mon") $(pss_kb "$mon") $(basename "$(readlink "/proc/$mon/exe")")" >>"$rss_file"
"$gb" --root "$tmp/gb" rm -f "$id-gb" >/dev/null

# ---------------------------------------------------------------- report ---
python3 - "$out/runtime.json" "$rss_file" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = lambda n: r[n]["median"] * 1000
print()
for n in r:
    print(f"{n:>24}: median {med(n):7.2f} ms  (mean {r[n]['mean']*1000:7.2f} ± {r[n]['stddev']*1000:5.2f})")
wrapper = med("crun-wrapper") if "crun-wrapper" in r else 0.0
print()
for kind in ("run", "cycle"):
    g, runc, crun = med(f"glassbox-runtime-{kind}"), med(f"runc-{kind}"), med(f"crun-{kind}")
    line = f"{kind:>5}: glassbox-runtime/runc = {g / runc:.2f}, glassbox-runtime/crun = {g / crun:.2f}"
    if wrapper:
        line += f", glassbox-runtime/(crun - wrapper) = {g / (crun - wrapper):.2f}"
    print(line)
print()
for line in open(sys.argv[2]):
    what, who, n, *more = line.split()
    if what == "monitor":
        pss, *exe = more
        shown = f"{who} ({exe[0]})" if exe else who
        print(f"{what:>18} {shown:<34} RSS {int(n) / 1024:6.2f} MB  PSS {int(pss) / 1024:6.2f} MB")
    elif what == "created-waiting":
        print(f"{what:>18} {who:<17} RSS {int(n) / 1024:6.2f} MB")
    else:
        print(f"{what:>18} {who:<17} {n} process(es)")
EOF
log "results: $out/runtime.json, $rss_file"
