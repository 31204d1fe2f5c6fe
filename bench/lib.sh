# bench/lib.sh: pieces the runtime benchmarks share (sourced, not run).

# wrap CMD...: the command as it must run for crun on this host. On a hybrid
# host (a cgroup2 mount beside v1) crun mistakes the v2 mount for the
# unified hierarchy, so it runs in a mount namespace without it; `hybrid`
# says whether that wrapper is in use (its own cost is measured apart).
if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
    wrap() { printf "unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec %s'" "$*"; }
    hybrid=1
else
    wrap() { printf '%s' "$*"; }
    hybrid=0
fi

# add NAME CMD: one row of the single hyperfine run.
names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
