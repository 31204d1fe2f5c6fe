#!/usr/bin/env python3
"""Build OCI image layouts by hand from rootfs tarballs (for test fixtures).

    mkoci.py image LAYOUT TAG ROOTFS.tar [--arch amd64] [--variant v8]
                   [--cmd sh ... | --cmd-json '["prog","--flag"]'] [--label k=v ...]
                   [--layer MORE.tar ...] [--expose 6379/tcp ...]
                   [--volume /data ...] [--workdir /data]
        One image: the gzip'd rootfs as the layer (then each --layer on top,
        as a Dockerfile's RUN layers would be), a config whose diff_ids are
        the sha256 of the uncompressed tars, an OCI manifest, and an
        entry in LAYOUT/index.json annotated with org.opencontainers.image.ref.name=TAG
        (so `skopeo copy oci:LAYOUT:TAG ...` finds it).

    mkoci.py index LAYOUT TAG SRC_TAG [SRC_TAG ...]
        An image index (multi-platform "manifest list") over images already in
        the layout, each entry's platform taken from its config; tagged TAG.
        Push it with `skopeo copy --all oci:LAYOUT:TAG ...`.

Why by hand and not with a build tool: the point of the fixtures is to know
exactly what bytes the registry serves. Everything is deterministic: gzip with
mtime 0 and no file name, JSON with sorted keys and no spaces, and a fixed
`created` date, so re-running gives the same digests.
"""
import argparse
import gzip
import hashlib
import json
import os
import sys

CREATED = "2024-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def put_blob(layout, data):
    """Store data under blobs/sha256/<hex> (atomically) and return its digest."""
    hexd = hashlib.sha256(data).hexdigest()
    d = os.path.join(layout, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, hexd)
    if not os.path.exists(p):
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.replace(p + ".tmp", p)
    return "sha256:" + hexd


def get_blob(layout, digest):
    with open(os.path.join(layout, "blobs", *digest.split(":", 1)), "rb") as f:
        return f.read()


def load_index(layout):
    os.makedirs(layout, exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    p = os.path.join(layout, "index.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}


def tag_in_index(layout, tag, desc):
    """Point TAG at desc in index.json, replacing any previous entry with that tag."""
    idx = load_index(layout)
    idx["manifests"] = [
        m for m in idx["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag
    ]
    idx["manifests"].append(dict(desc, annotations={REF_NAME: tag}))
    p = os.path.join(layout, "index.json")
    with open(p + ".tmp", "wb") as f:
        f.write(dumps(idx))
    os.replace(p + ".tmp", p)


def find_tag(layout, tag):
    for m in load_index(layout)["manifests"]:
        if m.get("annotations", {}).get(REF_NAME) == tag:
            return m
    sys.exit(f"mkoci: tag {tag!r} not in {layout}/index.json")


def cmd_image(a):
    diff_ids, layers, history = [], [], []
    for path in [a.rootfs] + (a.layer or []):
        with open(path, "rb") as f:
            tar = f.read()
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        layer = gzip.compress(tar, compresslevel=6, mtime=0)
        layers.append({"mediaType": MT_LAYER_GZ, "digest": put_blob(a.layout, layer),
                       "size": len(layer)})
        history.append({"created": CREATED,
                        "created_by": f"glassbox scripts/fixtures: {os.path.basename(path)}"})

    cmd = json.loads(a.cmd_json) if a.cmd_json else (a.cmd or ["sh"])
    cfg = {
        "created": CREATED,
        "architecture": a.arch,
        "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    if a.expose:
        cfg["config"]["ExposedPorts"] = {p: {} for p in a.expose}
    if a.volume:
        cfg["config"]["Volumes"] = {v: {} for v in a.volume}
    if a.workdir:
        cfg["config"]["WorkingDir"] = a.workdir
    if a.variant:
        cfg["variant"] = a.variant
    if a.label:
        cfg["config"]["Labels"] = dict(l.split("=", 1) for l in a.label)
    cfg_bytes = dumps(cfg)
    cfg_digest = put_blob(a.layout, cfg_bytes)

    manifest = dumps({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
        "layers": layers,
    })
    desc = {"mediaType": MT_MANIFEST, "digest": put_blob(a.layout, manifest), "size": len(manifest)}
    tag_in_index(a.layout, a.tag, desc)
    print(desc["digest"])


def cmd_index(a):
    entries = []
    for src in a.src_tags:
        desc = find_tag(a.layout, src)
        man = json.loads(get_blob(a.layout, desc["digest"]))
        cfg = json.loads(get_blob(a.layout, man["config"]["digest"]))
        platform = {"architecture": cfg["architecture"], "os": cfg["os"]}
        if cfg.get("variant"):
            platform["variant"] = cfg["variant"]
        entries.append({"mediaType": desc["mediaType"], "digest": desc["digest"],
                        "size": desc["size"], "platform": platform})
    index = dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries})
    desc = {"mediaType": MT_INDEX, "digest": put_blob(a.layout, index), "size": len(index)}
    tag_in_index(a.layout, a.tag, desc)
    print(desc["digest"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    im = sub.add_parser("image")
    im.add_argument("layout")
    im.add_argument("tag")
    im.add_argument("rootfs")
    im.add_argument("--arch", default="amd64")
    im.add_argument("--variant")
    im.add_argument("--cmd", nargs="+")
    im.add_argument("--label", action="append")
    im.add_argument("--cmd-json", help="Cmd as a JSON array (for words starting with -)")
    im.add_argument("--layer", action="append", help="another layer tar, on top")
    im.add_argument("--expose", action="append", help="ExposedPorts entry, e.g. 6379/tcp")
    im.add_argument("--volume", action="append", help="Volumes entry, e.g. /data")
    im.add_argument("--workdir")
    ix = sub.add_parser("index")
    ix.add_argument("layout")
    ix.add_argument("tag")
    ix.add_argument("src_tags", nargs="+")
    a = ap.parse_args()
    (cmd_image if a.what == "image" else cmd_index)(a)


if __name__ == "__main__":
    main()
