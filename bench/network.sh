#!/usr/bin/env bash
# bench/network.sh [--runs N] [--seconds S] [--no-build]
#
# Networking cost, glassbox against podman in the same run:
#
#  1. start latency of `run --rm busybox true`: glassbox on its default
#     bridge (bridge, veth pair, address, route, /etc/hosts: the whole
#     plumbing), glassbox with --network none, podman on its default bridge
#     (CNI), with --network none and with --network slirp4netns (one
#     hyperfine run);
#  2. many short HTTP requests (wrk, one thread, 8 connections, S seconds,
#     a new TCP connection per request: busybox httpd closes each one) from
#     the host to 127.0.0.1:PORT, published with -p 127.0.0.1:PORT:80 onto
#     busybox httpd in a container: glassbox (nft DNAT in the output chain,
#     route_localnet, the bridge), podman --network slirp4netns -p (its
#     user-space port forwarder) and, as the floor, podman --network host
#     (httpd bound to the host's 127.0.0.1 directly, no NAT at all).
#
# podman's default bridge (the same plumbing as glassbox's: bridge, veth
# pair, NAT rules) is measured in a network namespace the script makes for
# it (`ip netns add`, entered with nsenter so /sys and its cgroups stay the
# host's). This podman (4.3) uses CNI, whose bridge, portmap and firewall
# plugins add chains to the `ip filter` and `ip nat` tables: there they land
# in that namespace's own ruleset, never the host's, and the namespace goes
# with everything in it at the end. CNI's network list and its IP allocator's
# files are under the temporary directory too (not /etc/cni, /var/lib/cni).
# glassbox's bridge runs there as well, from its own store, so the two
# bridges are compared on the same footing (an empty ruleset); its host
# namespace row is kept beside it.
#
# Everything runs from a temporary directory, removed on exit however we
# exit: glassbox's store with its own nft table, default bridge and subnet
# (a 10.123.240-254.0/24 no host route uses; ip_forward left alone), podman's --root/--runroot and a
# private CONTAINERS_CONF (this host: cgroup v1 and no CAP_SYS_RESOURCE, so
# cgroupfs, runc and the default_ulimits podman needs). Both import the
# busybox fixture ($GLASSBOX_FIXTURES/busybox-docker.tar): nothing is
# pulled. Traffic goes to 127.0.0.1 only. At the end the script checks that
# the host's links and nft tables are as they were before it started.
#
# Needs root, hyperfine, podman, wrk (installed with apt-get when missing)
# and slirp4netns (likewise; podman's slirp4netns rows are left out without it).
# glassbox is target/release/glassbox (or $GLASSBOX_BENCH_BIN), built with `cargo build --release`
# (whatever profile settings the environment gives: say so with the numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
runs=20
seconds=5
build=1
while (($#)); do
    case $1 in
    --runs) runs=${2:?}; shift ;;
    --seconds) seconds=${2:?}; shift ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
log() { printf '[bench] %s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || { echo "error: needs root (bridges, veths, nft)" >&2; exit 1; }
for t in wrk slirp4netns; do
    if ! command -v $t >/dev/null; then
        log "installing $t (apt-get install $t)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $t >/dev/null ||
            log "could not install $t"
    fi
done
for t in hyperfine podman wrk python3 nft ip; do
    command -v $t >/dev/null || { echo "error: $t not installed" >&2; exit 1; }
done
have_slirp=0
command -v slirp4netns >/dev/null && have_slirp=1
fixtures=${GLASSBOX_FIXTURES:-$repo/target/fixtures}
archive=$fixtures/busybox-docker.tar
[[ -f $archive ]] || { echo "error: $archive missing (scripts/fixtures makes it)" >&2; exit 1; }
if ((build)); then
    log "cargo build --release"
    cargo build --release -q
fi
gb_bin=${GLASSBOX_BENCH_BIN:-$repo/target/release/glassbox}
[[ -x $gb_bin ]] || { echo "error: $gb_bin missing" >&2; exit 1; }
unset GLASSBOX_DEFAULT_NETWORK GLASSBOX_ROOT

# ------------------------------------------------------------ temp state ---
tmp=$(mktemp -d /tmp/gb-netbench.XXXXXX)
tag=$$
table=gbbench$tag
bridge=gbb$tag
gb=("$gb_bin" --root "$tmp/gb")
pm=(podman --root "$tmp/pm" --runroot "$tmp/pmrun")
# The bridges' namespace: both engines' bridges, veths and NAT rules live in it.
netns=gbbench$tag
in_ns=(nsenter --net=/run/netns/$netns)
gbns=("$gb_bin" --root "$tmp/gbns")
# What podman (or this script) could leave on the host: podman/CNI links and
# the host's own firewall tables (other glassbox stores' bridges and tables,
# e.g. other test runs, come and go meanwhile and are not compared).
podman_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(cni-podman|podman|veth)' | sort || true; }
host_tables() { nft list tables | grep -v ' gb' | sort; for t in nat filter; do nft -s list table ip $t 2>/dev/null; done; }
links_before=$(podman_links)
# podman makes its cgroupfs parent (libpod_parent) on first use: if it was
# not there before, the clean-up removes it (empty cgroups only).
had_libpod_parent=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null | head -1 || true)
tables_before=$(host_tables)
# A subnet no host route uses (another glassbox store may be using one of these).
subnet=
for i in $(seq 240 254); do
    ip route | grep -q "^10\.123\.$i\.0/24 " || { subnet=10.123.$i.0/24; break; }
done
[[ -n $subnet ]] || { echo "error: no free 10.123.240-254.0/24 for the bench's bridge" >&2; exit 1; }

cleanup() {
    set +e
    local id m
    for id in $("${gb[@]}" ps -aq --no-trunc 2>/dev/null); do "${gb[@]}" rm -f "$id" >/dev/null 2>&1; done
    if [[ -e /run/netns/$netns ]]; then
        for id in $("${in_ns[@]}" "${gbns[@]}" ps -aq --no-trunc 2>/dev/null); do "${in_ns[@]}" "${gbns[@]}" rm -f "$id" >/dev/null 2>&1; done
        "${in_ns[@]}" "${pm[@]}" rm -af -t 0 >/dev/null 2>&1
        # Its bridges, veths and nft tables go with it.
        ip netns del "$netns"
    fi
    "${pm[@]}" rm -af -t 0 >/dev/null 2>&1
    ip link del "$bridge" 2>/dev/null
    nft delete table ip "$table" 2>/dev/null
    if [[ -z $had_libpod_parent ]]; then
        for d in /sys/fs/cgroup/*/libpod_parent; do
            [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
    fi
    # Overlays of either engine left under the temp dir: deepest first.
    for m in $(awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m"
    done
    rm -rf "$tmp"
    local links_after tables_after
    links_after=$(podman_links)
    tables_after=$(host_tables)
    if [[ $links_after == "$links_before" && $tables_after == "$tables_before" ]] &&
        ! ip link show "$bridge" >/dev/null 2>&1 && ! nft list table ip "$table" >/dev/null 2>&1 &&
        [[ ! -e /run/netns/$netns ]]; then
        log "clean: bench bridge, table and namespace gone; podman links, nft tables and ip nat/filter rules as before"
    else
        log "WARNING: the host changed:"
        diff <(echo "$links_before") <(echo "$links_after") >&2
        diff <(echo "$tables_before") <(echo "$tables_after") >&2
    fi
}
trap cleanup EXIT

for store in gb gbns; do
    mkdir -p "$tmp/$store"
    cat >"$tmp/$store/config.toml" <<EOF
[network]
nft_table = "$table"
default_bridge = "$bridge"
default_subnet = "$subnet"
ip_forward = false
EOF
done
# CNI's network list: the package's default bridge, with the IP allocator's
# files (host-local's dataDir) moved under $tmp.
mkdir -p "$tmp/cni.d" "$tmp/cni"
python3 - "$tmp/cni" >"$tmp/cni.d/87-podman-bridge.conflist" <<'EOF'
import json, sys
print(json.dumps({"cniVersion": "0.4.0", "name": "podman", "plugins": [
    {"type": "bridge", "bridge": "cni-podman0", "isGateway": True, "ipMasq": True,
     "hairpinMode": True,
     "ipam": {"type": "host-local", "dataDir": sys.argv[1], "routes": [{"dst": "0.0.0.0/0"}],
              "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": True}},
    {"type": "firewall"}, {"type": "tuning"}]}, indent=1))
EOF
cat >"$tmp/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
[network]
network_backend = "cni"
network_config_dir = "$tmp/cni.d"
CONF
export CONTAINERS_CONF=$tmp/containers.conf
ip netns add "$netns"
ip -n "$netns" link set lo up

log "loading the busybox fixture into the stores"
"${gb[@]}" load -q -i "$archive" >/dev/null
"${gbns[@]}" load -q -i "$archive" >/dev/null
"${pm[@]}" load -q -i "$archive" >/dev/null
image=docker.io/library/busybox:latest

# A free port on 127.0.0.1 (asked of the kernel, then released).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
page='mkdir -p /www && echo hello-from-the-bench > /www/index.html && exec httpd -f -p'

# ------------------------------------------------------------ start latency ---
names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
add "glassbox bridge" "${gb[*]} run --rm $image true"
add "glassbox none" "${gb[*]} run --rm --network none $image true"
add "glassbox bridge (netns)" "${in_ns[*]} ${gbns[*]} run --rm $image true"
add "podman bridge (netns)" "${in_ns[*]} ${pm[*]} run --rm $image true"
add "podman none" "${pm[*]} run --rm --network none $image true"
((have_slirp)) && add "podman slirp4netns" "${pm[*]} run --rm --network slirp4netns $image true"
for i in "${!cmds[@]}"; do
    sh -c "${cmds[$i]}" || { echo "error: '${names[$i]}' failed: ${cmds[$i]}" >&2; exit 1; }
done
hf=()
for i in "${!cmds[@]}"; do hf+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
mkdir -p target/bench
hyperfine -N --warmup 3 --runs "$runs" --export-json target/bench/network-start.json "${hf[@]}"

# --------------------------------------------------------------- HTTP load ---
wait_http() { # PORT: until the page answers (10 s at most)
    local i
    for i in $(seq 100); do
        curl -sf --max-time 2 "http://127.0.0.1:$1/" >/dev/null && return 0
        sleep 0.1
    done
    echo "error: nothing answers on 127.0.0.1:$1" >&2
    curl -sv --max-time 3 "http://127.0.0.1:$1/" >&2 || true
    "${gb[@]}" ps -a >&2 || true
    "${gb[@]}" logs web >&2 || true
    nft list table ip "$table" >&2 || true
    return 1
}
declare -A rps lat
load() { # NAME PORT
    wait_http "$2"
    local out
    out=$(wrk -t1 -c8 -d"${seconds}s" --latency "http://127.0.0.1:$2/")
    echo "--- $1 (127.0.0.1:$2)"
    echo "$out" | grep -E 'Latency  |Requests/sec|requests in|errors'
    rps[$1]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    lat[$1]=$(echo "$out" | awk '$1 == "50%" {print $2}')
}
p=$(free_port)
"${gb[@]}" run -d --name web -p "127.0.0.1:$p:80" $image sh -c "$page 80 -h /www" >/dev/null
load "glassbox -p" "$p"
"${gb[@]}" rm -f web >/dev/null
if ((have_slirp)); then
    p=$(free_port)
    "${pm[@]}" run -d --name web --network slirp4netns -p "127.0.0.1:$p:80" $image sh -c "$page 80 -h /www" >/dev/null
    load "podman slirp4netns -p" "$p"
    "${pm[@]}" rm -f -t 0 web >/dev/null
fi
p=$(free_port)
"${pm[@]}" run -d --name webhost --network host $image sh -c "$page 127.0.0.1:$p -h /www" >/dev/null
load "podman host (no NAT)" "$p"
"${pm[@]}" rm -f -t 0 webhost >/dev/null

# ------------------------------------------------------------------ ratios ---
{
    for k in "${!rps[@]}"; do printf '%s\t%s\t%s\n' "$k" "${rps[$k]}" "${lat[$k]}"; done
} >"$tmp/http.tsv"
python3 - target/bench/network-start.json "$tmp/http.tsv" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["mean"] * 1000
med = lambda n: r[n]["median"] * 1000
print("\nstart latency (run --rm busybox true):")
for n in r:
    print(f"  {n:>24}: mean {ms(n):7.1f} ms ± {r[n]['stddev']*1000:5.1f}, median {med(n):7.1f} ms")
ratio = lambda g, other: print(f"  {g} / {other} = {ms(g) / ms(other):.3f} (medians {med(g) / med(other):.3f})")
ratio("glassbox bridge (netns)", "podman bridge (netns)")
g = "glassbox bridge"
for other in ("podman bridge (netns)", "podman none", "podman slirp4netns"):
    if other in r:
        ratio(g, other)
print(f"  glassbox bridge - glassbox none = {ms(g) - ms('glassbox none'):.1f} ms (the bridge plumbing)")
http = {}
for line in open(sys.argv[2]):
    name, rps, p50 = line.rstrip("\n").split("\t")
    http[name] = (float(rps), p50)
print("\nHTTP through 127.0.0.1 (wrk -t1 -c8, a connection per request):")
for n, (rps, p50) in sorted(http.items()):
    print(f"  {n:>22}: {rps:9.1f} requests/s, median latency {p50}")
g = http.get("glassbox -p")
for other in ("podman slirp4netns -p", "podman host (no NAT)"):
    if g and other in http:
        print(f"  glassbox -p / {other} = {g[0] / http[other][0]:.2f} (requests/s)")
EOF
cp "$tmp/http.tsv" target/bench/network-http.tsv
log "results: target/bench/network-start.json, target/bench/network-http.tsv"
