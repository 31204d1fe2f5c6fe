#!/usr/bin/env bash
# bench/build.sh [--runs N]
#
# Build time of a five-step Dockerfile (FROM, COPY, RUN, ENV, CMD), cold
# (--no-cache: the RUN container, the layers, the configs) and fully cached
# (every step a cache hit), for `glassbox build` and `buildah bud --layers`
# on the same context and the same base image (busybox from the local
# registry, pulled by both before timing). One hyperfine run; prints the
# glassbox/buildah ratios and writes target/bench/build.json.
#
# buildah runs with a private CONTAINERS_CONF (this host's hybrid cgroups:
# cgroupfs manager, runc, the ulimits podman needs here) and its own
# --root/--runroot in a temporary directory, removed on exit with
# glassbox's root. Needs root, hyperfine, buildah (apt-get install buildah)
# and $GLASSBOX_TEST_REGISTRY (default 127.0.0.1:5000, seeded by
# scripts/fixtures --seed-registry).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10
while (($#)); do
    case $1 in
    --runs) runs=$2; shift ;;
    *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
    esac
    shift
done
for t in hyperfine buildah; do command -v $t >/dev/null || { echo "error: $t not installed" >&2; exit 1; }; done
reg=${GLASSBOX_TEST_REGISTRY:-127.0.0.1:5000}
cargo build --release -q
gb=$PWD/target/release/glassbox
tmp=$(mktemp -d)
trap 'buildah --root "$tmp/bh" --runroot "$tmp/bhrun" rm --all >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
cat >"$tmp/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
export CONTAINERS_CONF=$tmp/containers.conf
mkdir "$tmp/ctx"
head -c 65536 /dev/urandom >"$tmp/ctx/data.bin"
cat >"$tmp/ctx/Dockerfile" <<DF
FROM $reg/library/busybox:latest
COPY data.bin /data.bin
RUN cp /data.bin /copy && echo built > /built
ENV GREETING=hello
CMD ["cat", "/built"]
DF
bh=(buildah --root "$tmp/bh" --runroot "$tmp/bhrun" bud --tls-verify=false --pull=false -q)
# Base images in both stores, and one build each so the cached runs hit.
"$gb" --root "$tmp/gb" pull -q "$reg/library/busybox:latest" >/dev/null
buildah --root "$tmp/bh" --runroot "$tmp/bhrun" pull --tls-verify=false -q "$reg/library/busybox:latest" >/dev/null
"$gb" --root "$tmp/gb" build -q -t bench "$tmp/ctx" >/dev/null
"${bh[@]}" --layers -t bench "$tmp/ctx" >/dev/null
mkdir -p target/bench
hyperfine --warmup 1 --runs "$runs" --export-json target/bench/build.json \
    -n "glassbox cold" "$gb --root $tmp/gb build -q --no-cache -t bench $tmp/ctx" \
    -n "buildah cold" "${bh[*]} --layers --no-cache -t bench $tmp/ctx" \
    -n "glassbox cached" "$gb --root $tmp/gb build -q -t bench $tmp/ctx" \
    -n "buildah cached" "${bh[*]} --layers -t bench $tmp/ctx"
python3 - <<'PY'
import json
r = {x["command"]: x["median"] for x in json.load(open("target/bench/build.json"))["results"]}
for k in ("cold", "cached"):
    g, b = r[f"glassbox {k}"], r[f"buildah {k}"]
    print(f"{k:7} glassbox {g*1000:8.1f} ms  buildah {b*1000:8.1f} ms  ratio {g/b:.2f}")
PY
