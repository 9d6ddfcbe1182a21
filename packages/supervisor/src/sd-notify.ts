/**
 * systemd notifications (sd_notify(3) protocol) sent from the supervisor's own pid.
 *
 * Why not `systemd-notify`: a message from a child process is accepted only with
 * NotifyAccess=all, and that costs the unit its security rating; after the
 * privilege drop `systemd-notify --pid=` is refused too. Why not libsystemd's
 * sd_notify(): it opens the socket anew on each call, so once we are no longer
 * root a path socket in a root-only directory is out of reach, and it needs
 * libsystemd.so installed. So: libc's socket/connect/send through koffi (prebuilt,
 * nothing compiled on the target). The datagram socket is opened and connected
 * once, at creation, while still root; a connected socket keeps working after
 * setuid, whatever the path's permissions. The kernel attaches our pid to each
 * datagram (systemd sets SO_PASSCRED), which is what NotifyAccess=main checks.
 *
 * Sending never throws: each call returns the Error (or null), the caller logs it.
 */
import { nativeLibc } from './libc.js';

/** What the supervisor tells systemd. Every method returns the send error, or null. */
export interface Notifier {
  /** True when NOTIFY_SOCKET was set: we run under a service manager that listens. */
  readonly enabled: boolean;
  /** READY=1: every worker serves; a client connecting now gets its welcome. */
  ready(status?: string): Error | null;
  /** RELOADING=1: a rolling reload begins; follow it with ready(). */
  reloading(status?: string): Error | null;
  /** STOPPING=1: a graceful stop begins. */
  stopping(status?: string): Error | null;
  /** STATUS=: one line for `systemctl status`. */
  status(text: string): Error | null;
  /** WATCHDOG=1: we are alive; send every watchdogIntervalMs while workers answer. */
  watchdog(): Error | null;
  /** Half of WATCHDOG_USEC when the watchdog is ours (WATCHDOG_PID absent or our pid), else null. */
  readonly watchdogIntervalMs: number | null;
  /** Closes the socket; later sends return an error. Idempotent. */
  close(): void;
}

export interface NotifierOptions {
  /**
   * Remove NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env` once read, as
   * sd_notify's unset_environment does, so that workers forked later neither see nor
   * inherit the way to the service manager. Default: true when env is process.env.
   */
  readonly unsetEnvironment?: boolean;
  /** Our pid, for WATCHDOG_PID (tests). Default process.pid. */
  readonly pid?: number;
}

// Linux values (x86, arm, riscv, ppc, loongarch; not mips/sparc/alpha, which smegchat doesn't target).
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const MSG_DONTWAIT = 0x40;
const SUN_PATH_MAX = 108;

interface Libc {
  readonly socket: (domain: number, type: number, protocol: number) => number;
  readonly connect: (fd: number, addr: Buffer, len: number) => number;
  readonly send: (fd: number, buf: Buffer, len: number, flags: number) => number;
  readonly close: (fd: number) => number;
  readonly errno: () => number;
  readonly errnoNames: ReadonlyMap<number, string>;
}

let libc: Libc | undefined;

/** Loads koffi and libc on first use only: without NOTIFY_SOCKET nothing native is loaded. */
function loadLibc(): Libc {
  if (libc) return libc;
  const { koffi, lib } = nativeLibc();
  const errnoNames = new Map<number, string>();
  for (const [name, value] of Object.entries(koffi.os.errno)) errnoNames.set(value, name);
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    connect: lib.func('int connect(int fd, const void *addr, uint32_t len)'),
    send: lib.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
    close: lib.func('int close(int fd)'),
    errno: () => koffi.errno(),
    errnoNames,
  };
  return libc;
}

/** struct sockaddr_un for NOTIFY_SOCKET: '@name' is abstract (leading NUL, exact length), else a path. */
export function notifySocketAddress(socketPath: string): Buffer {
  const abstract = socketPath.startsWith('@');
  const name = Buffer.from(abstract ? socketPath.slice(1) : socketPath);
  if (!abstract && !socketPath.startsWith('/')) {
    throw new TypeError(`NOTIFY_SOCKET must be an absolute path or start with @, got ${JSON.stringify(socketPath)}`);
  }
  // A path needs room for its terminating NUL; an abstract name has the leading one.
  if (name.length + 1 > SUN_PATH_MAX) throw new TypeError(`NOTIFY_SOCKET is longer than ${SUN_PATH_MAX - 1} bytes`);
  const addr = Buffer.alloc(2 + 1 + name.length);
  addr.writeUInt16LE(AF_UNIX, 0); // sa_family_t is host order; every Linux target we build for is little-endian
  if (abstract) name.copy(addr, 3);
  else name.copy(addr, 2);
  // An abstract address is exactly its length, trailing bytes would be part of the name;
  // a path address may include its NUL, which the kernel accepts.
  return addr;
}

function sysError(l: Libc, call: string, socketPath: string): NodeJS.ErrnoException {
  const errno = l.errno();
  const code = l.errnoNames.get(errno) ?? `errno ${errno}`;
  const err: NodeJS.ErrnoException = new Error(`sd_notify: ${call} ${socketPath}: ${code}`);
  err.code = code;
  err.errno = errno;
  err.syscall = call;
  return err;
}

/** A STATUS= value is one line: systemd would end it at the first newline. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/** CLOCK_MONOTONIC in µs (libuv's hrtime is CLOCK_MONOTONIC), as systemd ≥ 253 wants with RELOADING=1. */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}

class DisabledNotifier implements Notifier {
  readonly enabled = false;
  readonly watchdogIntervalMs = null;
  ready(): null {
    return null;
  }
  reloading(): null {
    return null;
  }
  stopping(): null {
    return null;
  }
  status(): null {
    return null;
  }
  watchdog(): null {
    return null;
  }
  close(): void {}
}

class SocketNotifier implements Notifier {
  readonly enabled = true;
  private fd = -1;
  /** Why the socket could not be opened; returned by every send until a reconnect works. */
  private openError: Error | null = null;
  private readonly addr: Buffer | null;
  private closed = false;

  constructor(
    private readonly socketPath: string,
    readonly watchdogIntervalMs: number | null,
  ) {
    try {
      this.addr = notifySocketAddress(socketPath);
    } catch (err) {
      this.addr = null;
      this.openError = err as Error;
      return;
    }
    this.open();
  }

  ready(status?: string): Error | null {
    return this.send(status === undefined ? 'READY=1' : `READY=1\nSTATUS=${oneLine(status)}`);
  }

  reloading(status?: string): Error | null {
    const msg = `RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`;
    return this.send(status === undefined ? msg : `${msg}\nSTATUS=${oneLine(status)}`);
  }

  stopping(status?: string): Error | null {
    return this.send(status === undefined ? 'STOPPING=1' : `STOPPING=1\nSTATUS=${oneLine(status)}`);
  }

  status(text: string): Error | null {
    return this.send(`STATUS=${oneLine(text)}`);
  }

  watchdog(): Error | null {
    return this.send('WATCHDOG=1');
  }

  close(): void {
    this.closed = true;
    if (this.fd >= 0) loadLibc().close(this.fd);
    this.fd = -1;
  }

  private open(): void {
    if (!this.addr) return;
    const l = loadLibc();
    const fd = l.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      this.openError = sysError(l, 'socket', this.socketPath);
      return;
    }
    if (l.connect(fd, this.addr, this.addr.length) < 0) {
      this.openError = sysError(l, 'connect', this.socketPath);
      l.close(fd);
      return;
    }
    this.fd = fd;
    this.openError = null;
  }

  private send(message: string): Error | null {
    if (this.closed) return new Error('sd_notify: notifier closed');
    // Not yet connected (the listener was missing at start): try again, it may be there now.
    if (this.fd < 0) this.open();
    if (this.fd < 0) return this.openError;
    const l = loadLibc();
    const buf = Buffer.from(message);
    // MSG_DONTWAIT: a full queue on systemd's side must not block the event loop;
    // MSG_NOSIGNAL: no SIGPIPE.
    if (l.send(this.fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL) === buf.length) return null;
    const err = sysError(l, 'send', this.socketPath);
    // The listener was recreated (systemd daemon-reexec): our connection points at the old
    // socket. Reconnect once; that can fail after the privilege drop for a protected path,
    // and then the error says so.
    if (err.code === 'ECONNREFUSED' || err.code === 'ENOTCONN') {
      l.close(this.fd);
      this.fd = -1;
      this.open();
      if (this.fd < 0) return this.openError;
      if (l.send(this.fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL) === buf.length) return null;
      return sysError(l, 'send', this.socketPath);
    }
    return err;
  }
}

/** Half the watchdog timeout, when the watchdog is meant for this process. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  const forPid = env['WATCHDOG_PID'];
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return null;
  // Half, as sd_watchdog_enabled(3) advises, and at least 1 ms so setInterval gets a real period.
  return Math.max(1, Math.floor(usec / 2000));
}

/**
 * The notifier for this process: a no-op when NOTIFY_SOCKET is unset (nothing native
 * loaded), else a socket connected now, before any privilege drop. Call it early.
 */
export function createNotifier(env: NodeJS.ProcessEnv = process.env, options: NotifierOptions = {}): Notifier {
  const socketPath = env['NOTIFY_SOCKET'];
  const pid = options.pid ?? process.pid;
  const interval = socketPath ? watchdogIntervalMs(env, pid) : null;
  if (options.unsetEnvironment ?? env === process.env) {
    delete env['NOTIFY_SOCKET'];
    delete env['WATCHDOG_USEC'];
    delete env['WATCHDOG_PID'];
  }
  if (!socketPath) return new DisabledNotifier();
  return new SocketNotifier(socketPath, interval);
}
