#!/usr/bin/env bash
# bench/pull.sh [--runs N]
#
# Pull throughput from a local registry: `glassbox pull` into a fresh root
# versus `skopeo copy docker://... oci:DIR` (download only), for
# library/busybox:latest (~1 MB layer) and library/debian:bookworm (~47 MB,
# if seeded), in one hyperfine run. glassbox's time includes unpacking the
# layers and checking their diff_ids, which skopeo does not do; the
# "glassbox-download" row pulls with the unpacked layer already present (its
# blob deleted), i.e. download + verify only.
#
# Uses $GLASSBOX_TEST_REGISTRY if set; otherwise starts a registry on port
# 5077 with scripts/registry, seeds it with scripts/fixtures, and stops it on
# exit. Needs hyperfine and skopeo (scripts/test installs them). Writes
# target/bench/pull.json.
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
for t in hyperfine skopeo; do command -v $t >/dev/null || { echo "error: $t not installed" >&2; exit 1; }; done
cargo build --release -q
gb=$PWD/target/release/glassbox
tmp=$(mktemp -d)
started=
cleanup() {
    if [[ -n $started ]]; then
        scripts/registry stop "$started" >/dev/null || true
        rm -rf "target/registry/$started"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
reg=${GLASSBOX_TEST_REGISTRY:-}
if [[ -z $reg ]]; then
    scripts/registry start 5077 >&2
    started=5077
    reg=127.0.0.1:5077
    scripts/fixtures --seed-registry "$reg" >&2
fi
images=(busybox:latest)
skopeo --insecure-policy inspect --tls-verify=false "docker://$reg/library/debian:bookworm" >/dev/null 2>&1 && images+=(debian:bookworm)
cmds=()
for img in "${images[@]}"; do
    name=${img%%:*}
    cmds+=(-n "glassbox $img" --prepare "rm -rf $tmp/gb-$name"
        "$gb --root $tmp/gb-$name pull -q $reg/library/$img")
    # download-only: a root that has the unpacked layers but neither the
    # index entry nor the big blobs, copied fresh before each run
    "$gb" --root "$tmp/tpl-$name" pull -q "$reg/library/$img" >/dev/null
    printf '{"schemaVersion":2,"manifests":[]}' >"$tmp/tpl-$name/index.json"
    find "$tmp/tpl-$name/blobs/sha256" -type f -size +100k -delete
    cmds+=(-n "glassbox-download $img" --prepare "sh -c 'rm -rf $tmp/dl-$name && cp -a $tmp/tpl-$name $tmp/dl-$name'"
        "$gb --root $tmp/dl-$name pull -q $reg/library/$img")
    cmds+=(-n "skopeo $img" --prepare "rm -rf $tmp/sk-$name"
        "skopeo --insecure-policy copy -q --src-tls-verify=false docker://$reg/library/$img oci:$tmp/sk-$name:x")
done
mkdir -p target/bench
hyperfine -N --warmup 1 --runs "$runs" --export-json target/bench/pull.json "${cmds[@]}"
