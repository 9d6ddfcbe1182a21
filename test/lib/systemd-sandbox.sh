#!/usr/bin/env bash
# A throw-away systemd for smegchat's tests: systemd runs as PID 1 in new PID, mount,
# UTS, IPC and cgroup namespaces, on an overlay of this machine's root whose writes go
# to a tmpfs. The network namespace is the host's, so tests reach the service on
# loopback. Nothing of the host changes: not its /tmp, not its units, not its files.
#
#   systemd-sandbox.sh boot BASE     boot; BASE (an empty directory) holds the state; returns once running
#                                    ($SANDBOX_SHARE: directories, colon-separated, seen read-only inside)
#   systemd-sandbox.sh run BASE CMD…  run CMD inside (as root, in all its namespaces)
#   systemd-sandbox.sh teardown BASE power it off (SIGKILL if it will not), clean up
#
# Needs root, systemd, util-linux (unshare, nsenter) and overlayfs. Every wait is bounded.
set -euo pipefail

die() { echo "systemd-sandbox: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must be root"
cmd=${1:-}; BASE=${2:-}
if [ -z "$cmd" ] || [ -z "$BASE" ]; then die "usage: $0 boot|run|teardown BASE [CMD…]"; fi
BASE=$(readlink -f "$BASE")
[ -d "$BASE" ] || die "$BASE is not a directory"

sdpid() { cat "$BASE/sdpid" 2>/dev/null || true; }
ns() { nsenter -t "$(sdpid)" -m -p -u -i -C -- "$@"; }

# This host mounts cgroup2 at /sys/fs/cgroup/unified (hybrid) or at /sys/fs/cgroup (unified).
cgroup_root() {
  if [ -d /sys/fs/cgroup/unified ] && [ -f /sys/fs/cgroup/unified/cgroup.procs ]; then echo /sys/fs/cgroup/unified
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo /sys/fs/cgroup
  else die "no cgroup2 hierarchy mounted"; fi
}

boot() {
  [ -z "$(ls -A "$BASE")" ] || die "$BASE must be empty"
  chmod 755 "$BASE"
  local cg
  cg="$(cgroup_root)/smegchat-sandbox-$$-$RANDOM"
  echo "$cg" > "$BASE/cgroup"
  mkdir "$cg"

  # PID 1's bootstrap: an overlay root, the API file systems systemd expects, then pivot.
  cat > "$BASE/pid1.sh" <<'PID1'
#!/bin/bash
set -euo pipefail
BASE="$1"; M="$BASE/mnt"; mkdir -p "$M"
mount -t tmpfs -o mode=755 smegchat-sandbox "$M"
mkdir -p "$M/upper" "$M/work" "$M/root"; R="$M/root"
# lowerdir=/ holds no submounts: /proc, /sys, /dev, /run are mounted fresh below.
mount -t overlay overlay -o "lowerdir=/,upperdir=$M/upper,workdir=$M/work" "$R"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
# Most of /proc/sys is the host kernel's (and the network namespace is shared): read-only.
mount --bind "$R/proc/sys" "$R/proc/sys"; mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev"
for n in null zero full random urandom tty; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"; ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o nosuid,nodev tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
: > "$BASE/console.log"; touch "$R/dev/console"; mount --bind "$BASE/console.log" "$R/dev/console"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"   # the sandbox's own /tmp, never the host's
# Directories the tests share in, read-only, at the same path: the overlay of / misses any
# on another mount, and the sandbox's /tmp would hide any under the host's.
IFS=: read -r -a shares <<< "${SANDBOX_SHARE:-}"
for d in "${shares[@]}"; do
  [ -n "$d" ] || continue
  mkdir -p "$R$d"; mount --bind "$d" "$R$d"; mount -o remount,bind,ro "$R$d"
done
E="$R/etc/systemd/system"
# Boot a target of our own, so nothing the host image enables starts here; and mask what
# would start anyway and reach past the namespaces into the host kernel (sysctl, modules,
# binfmt), or is just slow.
cat > "$E/smegchat-sandbox.target" <<EOF
[Unit]
Description=smegchat test sandbox
Requires=basic.target
After=basic.target
AllowIsolate=yes
EOF
for u in e2scrub_reap.service systemd-timesyncd.service systemd-pstore.service systemd-random-seed.service \
         apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
         logrotate.timer man-db.timer getty@tty1.service console-getty.service remote-fs.target \
         systemd-networkd.service systemd-resolved.service \
         systemd-sysctl.service systemd-modules-load.service systemd-binfmt.service \
         proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount sys-kernel-debug.mount \
         sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount; do ln -sf /dev/null "$E/$u"; done
# Debian's tmp.conf would empty /tmp at boot: harmless on our tmpfs, but slow and pointless.
ln -sf /dev/null "$R/etc/tmpfiles.d/tmp.conf"
mkdir -p "$R/.oldroot"; cd "$R"; pivot_root . .oldroot; umount -l /.oldroot; rmdir /.oldroot
export container=smegchat-sandbox
exec /lib/systemd/systemd --system --unit=smegchat-sandbox.target </dev/null >/dev/console 2>&1
PID1
  chmod 755 "$BASE/pid1.sh"

  # setsid: the sandbox must not die with the shell that booted it; the cgroup keeps its
  # processes apart from the host's, and the cgroup namespace makes it systemd's root.
  setsid bash -c "echo \$\$ > '$cg/cgroup.procs'; exec unshare --pid --fork --mount --uts --ipc --cgroup --propagation private '$BASE/pid1.sh' '$BASE'" \
    > "$BASE/unshare.log" 2>&1 < /dev/null &
  local upid=$! pid="" state=""
  echo "$upid" > "$BASE/upid"
  for _ in $(seq 1 100); do
    pid=$(awk '{print $1}' "/proc/$upid/task/$upid/children" 2>/dev/null || true)
    [ -n "$pid" ] && break
    kill -0 "$upid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$pid" ] || { cat "$BASE/unshare.log" >&2; die "systemd did not start"; }
  echo "$pid" > "$BASE/sdpid"
  for _ in $(seq 1 200); do   # 20 s at most
    state=$(ns systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$state" != running ]; then
    ns systemctl --failed --no-pager >&2 2>/dev/null || true
    tail -20 "$BASE/console.log" >&2 2>/dev/null || true
    die "sandbox systemd is '$state', not running"
  fi
  echo "$pid"
}

teardown() {
  set +e
  local pid upid cg
  pid=$(sdpid); upid=$(cat "$BASE/upid" 2>/dev/null); cg=$(cat "$BASE/cgroup" 2>/dev/null)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    ns systemctl poweroff --no-block >/dev/null 2>&1 || kill -s SIGRTMIN+4 "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"   # PID 1 of its namespace: takes everything in it along
  fi
  if [ -n "$upid" ]; then
    for _ in $(seq 1 50); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$cg" ] && [ -d "$cg" ]; then
    find "$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$cg" 2>/dev/null
  fi
  # The overlay and its tmpfs lived in the sandbox's mount namespace: gone with it.
  rm -rf "${BASE:?}"/*
  return 0
}

case "$cmd" in
  boot) boot ;;
  run) shift 2; [ -n "$(sdpid)" ] || die "no sandbox in $BASE"; ns "$@" ;;
  teardown) teardown ;;
  *) die "unknown command $cmd" ;;
esac
