#!/usr/bin/env bash
# Installs smegchat as a systemd service from this checkout, or removes it.
#
#   sudo ./deploy/install.sh                  # install or upgrade (idempotent)
#   sudo ./deploy/install.sh --uninstall      # remove the program, unit and system files
#   sudo ./deploy/install.sh --uninstall --purge   # ... and config, history and logs
#
# Options: --prefix DIR (default /usr), --destdir DIR (or $DESTDIR: stage into a tree,
# run nothing), --node PATH (the node binary the service runs; default: node on PATH),
# --no-restart (an upgrade leaves a running service alone). Needs no network: the
# checkout's own node_modules (npm ci) are copied and pruned to production ones.
set -euo pipefail
umask 022

PREFIX=/usr
DESTDIR=${DESTDIR:-}
NODE=""
ACTION=install
PURGE=0
RESTART=1
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
    --prefix=*) PREFIX=${1#*=} ;;
    --destdir) DESTDIR=${2:?--destdir needs a directory}; shift ;;
    --destdir=*) DESTDIR=${1#*=} ;;
    --node) NODE=${2:?--node needs a path}; shift ;;
    --node=*) NODE=${1#*=} ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    --no-restart) RESTART=0 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
  shift
done
case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, got $PREFIX" ;; esac
PREFIX=${PREFIX%/}
DESTDIR=${DESTDIR%/}
[ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ] && die "run as root (or stage with --destdir DIR)"
((PURGE)) && [ "$ACTION" != uninstall ] && die "--purge goes with --uninstall"

# Where things go, as the running system sees them; $DESTDIR is prepended on writing.
LIBDIR=$PREFIX/lib/smegchat
BINDIR=$PREFIX/bin
UNITDIR=$PREFIX/lib/systemd/system
SYSUSERSDIR=$PREFIX/lib/sysusers.d
TMPFILESDIR=$PREFIX/lib/tmpfiles.d
DOCDIR=$PREFIX/share/doc/smegchat
CONFDIR=/etc/smegchat
LOGROTATEDIR=/etc/logrotate.d
UNIT=smegchat.service
SOCKET=smegchat.socket
SOCKET_CHANGED=0

# Only act on the live system when installing into it and systemd runs it.
live() { [ -z "$DESTDIR" ]; }
systemd_runs() { live && [ -d /run/systemd/system ]; }

uninstall() {
  if systemd_runs && systemctl cat "$UNIT" >/dev/null 2>&1; then
    say "stopping and disabling $UNIT and $SOCKET"
    systemctl disable --now "$UNIT" "$SOCKET" >/dev/null 2>&1 || systemctl stop "$UNIT" "$SOCKET" || true
  fi
  local f
  for f in "$BINDIR/smegchat" "$BINDIR/smegctl" "$UNITDIR/$UNIT" "$UNITDIR/$SOCKET" "$SYSUSERSDIR/smegchat.conf" \
           "$TMPFILESDIR/smegchat.conf" "$LOGROTATEDIR/smegchat"; do
    if [ -e "$DESTDIR$f" ] || [ -L "$DESTDIR$f" ]; then rm -f "$DESTDIR$f"; say "removed $f"; fi
  done
  for f in "$LIBDIR" "$DOCDIR"; do
    if [ -e "$DESTDIR$f" ]; then rm -rf "$DESTDIR$f"; say "removed $f"; fi
  done
  systemd_runs && systemctl daemon-reload
  if ((PURGE)); then
    for f in "$CONFDIR" /var/lib/smegchat /var/log/smegchat; do
      if [ -e "$DESTDIR$f" ]; then rm -rf "$DESTDIR$f"; say "purged $f"; fi
    done
    # A system user is not deleted: a uid freed and reused later would own whatever
    # files of smegchat's are left (backups, copies). `userdel smegchat` if you are sure.
    say "kept the user and group smegchat (remove them with userdel smegchat if you are sure)"
  else
    say "kept $CONFDIR, /var/lib/smegchat (board history) and /var/log/smegchat; --purge removes them"
  fi
}

find_node() {
  NODE=${NODE:-$(command -v node || true)}
  [ -n "$NODE" ] || die "no node on PATH: install Node.js 20 or newer, or pass --node PATH"
  NODE=$(readlink -f "$NODE")
  [ -x "$NODE" ] || die "$NODE is not executable"
  "$NODE" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || die "$NODE is older than Node.js 20"
  # The unit has ProtectHome=yes: a node under /home or /root (nvm) is invisible to it.
  case "$NODE" in /home/*|/root/*|/run/user/*) die "$NODE is in a home directory, which the service cannot see (ProtectHome=yes): install node system-wide or pass --node" ;; esac
}

install_program() {
  if [ ! -f "$SRC/package-lock.json" ] || [ ! -d "$SRC/node_modules" ]; then die "$SRC has no node_modules: run npm ci there first"; fi
  if [ ! -f "$SRC/packages/supervisor/dist/smegchat-cli.js" ]; then
    [ -x "$SRC/node_modules/.bin/tsc" ] || die "$SRC is not built and has no TypeScript to build it: run npm ci there"
    say "building $SRC"
    (cd "$SRC" && node_modules/.bin/tsc -b)
  fi

  # Stage beside the target (same file system), then swap: a failed copy leaves the old
  # program in place, and a rerun starts from scratch.
  local target=$DESTDIR$LIBDIR stage=$DESTDIR$LIBDIR.new old=$DESTDIR$LIBDIR.old
  rm -rf "$stage" "$old"
  mkdir -p "$stage"
  say "copying the program from $SRC"
  # tar keeps the workspace symlinks (node_modules/@smegchat/* -> ../../packages/*) and modes.
  (cd "$SRC" && tar -cf - --exclude='*.tsbuildinfo' --exclude='packages/*/src/*.ts' \
      --exclude='packages/*/tsconfig*.json' --exclude='node_modules/.cache' \
      package.json package-lock.json packages node_modules) | tar -C "$stage" -xf -
  rm -rf "$stage/packages"/*/node_modules/.cache
  # Dev dependencies out, offline: npm only compares the tree with the lock file here.
  # Its own log directory, removed after: nothing written to root's ~/.npm.
  (cd "$stage" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error \
      --logs-dir="$stage/.npm-logs" >/dev/null) || die "npm prune failed in $stage"
  rm -rf "$stage/.npm-logs"
  mkdir -p "$stage/bin"
  local name
  for name in smegchat smegctl; do
    # A wrapper with the node found now: systemd's PATH may not have it, and a #!/usr/bin/env
    # line would pick whatever node comes first on it.
    printf '#!/bin/sh\nexec '"'%s' '%s'"' "$@"\n' "$NODE" "$LIBDIR/packages/supervisor/bin/$name.js" > "$stage/bin/$name"
    chmod 755 "$stage/bin/$name"
  done
  "$NODE" -e 'require("fs").accessSync(process.argv[1])' "$stage/packages/supervisor/bin/smegchat.js"
  chown -R root:root "$stage" 2>/dev/null || true
  chmod -R u+rwX,go+rX,go-w "$stage"
  if [ -e "$target" ]; then mv "$target" "$old"; fi
  mv "$stage" "$target"
  rm -rf "$old"
  say "installed the program in $LIBDIR (node: $NODE)"

  mkdir -p "$DESTDIR$BINDIR"
  for name in smegchat smegctl; do
    ln -sfn "$LIBDIR/bin/$name" "$DESTDIR$BINDIR/$name"
  done
  say "linked $BINDIR/smegchat and $BINDIR/smegctl"
}

# The socket unit's ListenStream= for the config's "port" (smegchat's default 8080) and
# "host" (none: every interface, IPv6 and IPv4). systemd takes addresses, not names.
listen_stream() {
  "$NODE" -e '
    try {
      const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const port = c.port ?? 8080, host = c.host, ip = require("net").isIP(host ?? "");
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"port" must be 1 to 65535, got ${JSON.stringify(port)}`);
      if (host !== undefined && ip === 0) throw new Error(`"host" must be an IP address for the socket unit, got ${JSON.stringify(host)}`);
      console.log(host === undefined ? `${port}` : ip === 6 ? `[${host}]:${port}` : `${host}:${port}`);
    } catch (err) {
      console.log(err.message);
      process.exit(1);
    }
  ' "$1"
}

install_system_files() {
  local d=$SRC/deploy listen old_socket=""
  install -D -m 644 /dev/stdin "$DESTDIR$UNITDIR/$UNIT" \
    < <(sed -e "s#^ExecStart=/usr/bin/smegchat #ExecStart=$BINDIR/smegchat #" \
            -e "s#^Documentation=file:/usr/share/doc/smegchat/#Documentation=file:$DOCDIR/#" "$d/smegchat.service")
  install -D -m 644 "$d/sysusers.d/smegchat.conf" "$DESTDIR$SYSUSERSDIR/smegchat.conf"
  install -D -m 644 "$d/logrotate.d/smegchat" "$DESTDIR$LOGROTATEDIR/smegchat"
  install -D -m 644 "$d/README.md" "$DESTDIR$DOCDIR/README.md"
  install -D -m 644 "$d/config.example.json" "$DESTDIR$DOCDIR/config.example.json"
  # Before socket activation the directories came from tmpfiles.d; the unit makes them now.
  rm -f "$DESTDIR$TMPFILESDIR/smegchat.conf"
  # The admin's config is never overwritten.
  if [ -e "$DESTDIR$CONFDIR/config.json" ]; then
    say "kept $CONFDIR/config.json (the example is in $DOCDIR)"
  else
    install -D -m 644 "$d/config.example.json" "$DESTDIR$CONFDIR/config.json"
    say "installed $CONFDIR/config.json"
  fi
  # The port lives in the socket unit: written from the config at every install.
  listen=$(listen_stream "$DESTDIR$CONFDIR/config.json") || die "$CONFDIR/config.json: $listen"
  [ -e "$DESTDIR$UNITDIR/$SOCKET" ] && old_socket=$(cat "$DESTDIR$UNITDIR/$SOCKET")
  install -D -m 644 /dev/stdin "$DESTDIR$UNITDIR/$SOCKET" \
    < <(sed -e "s#^ListenStream=.*#ListenStream=$listen#" \
            -e "s#^Documentation=file:/usr/share/doc/smegchat/#Documentation=file:$DOCDIR/#" "$d/smegchat.socket")
  [ "$old_socket" = "$(cat "$DESTDIR$UNITDIR/$SOCKET")" ] || SOCKET_CHANGED=1
  say "installed $UNITDIR/$UNIT, $UNITDIR/$SOCKET (ListenStream=$listen), sysusers.d and logrotate.d entries"
}

apply_system_files() {
  live || { say "staged in $DESTDIR; run systemd-sysusers on the target"; return; }
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers "$SYSUSERSDIR/smegchat.conf"
  elif ! getent passwd smegchat >/dev/null; then
    # No systemd-sysusers (another init): the same user by hand.
    getent group smegchat >/dev/null || groupadd --system smegchat
    useradd --system --gid smegchat --home-dir /var/lib/smegchat --no-create-home \
      --shell /usr/sbin/nologin --comment "smegchat whiteboard and chat server" smegchat
  fi
  # Under systemd the unit makes them (StateDirectory=, LogsDirectory=); for another init, here.
  systemd_runs || install -d -m 0750 -o smegchat -g smegchat /var/lib/smegchat /var/log/smegchat
  say "user smegchat: $(id smegchat)"
  if systemd_runs; then
    systemctl daemon-reload
    if systemctl -q is-active "$UNIT"; then
      if ((RESTART)); then
        # Workers respawned later would load the new code beside the old supervisor.
        if ! systemctl -q is-active "$SOCKET" || ((SOCKET_CHANGED)); then
          # The port moves: to the socket unit (from a unit that bound it itself), or to a new
          # address. The old holder lets go first, so this once new connections are refused.
          say "stopping $UNIT, then starting it with $SOCKET on the new program"
          systemctl stop "$UNIT" "$SOCKET"
          systemctl start "$UNIT"
        else
          say "restarting the running $UNIT on the new program (the port stays open in $SOCKET)"
          systemctl restart "$UNIT"
        fi
      else
        say "$UNIT still runs the old program: systemctl restart $UNIT"
        ((SOCKET_CHANGED)) && say "$SOCKET listens elsewhere now: systemctl stop $UNIT $SOCKET && systemctl start $UNIT"
      fi
    else
      if ((SOCKET_CHANGED)) && systemctl -q is-active "$SOCKET"; then systemctl restart "$SOCKET"; fi
      say "next: systemctl enable --now $UNIT && smegctl status"
    fi
    # Enabled before there was a socket unit: enable it too (enable does so through Also=).
    if systemctl -q is-enabled "$UNIT" 2>/dev/null; then systemctl enable -q "$SOCKET"; fi
  fi
}

case "$ACTION" in
  uninstall) uninstall ;;
  install)
    find_node
    # A config the socket unit cannot be written from is refused before anything changes.
    if [ -e "$DESTDIR$CONFDIR/config.json" ]; then
      listen=$(listen_stream "$DESTDIR$CONFDIR/config.json") || die "$CONFDIR/config.json: $listen"
    fi
    install_program
    install_system_files
    apply_system_files
    ;;
esac
