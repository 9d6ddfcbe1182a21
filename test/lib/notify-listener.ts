/**
 * A NOTIFY_SOCKET for tests: a unix datagram socket bound where the test says (a path,
 * or '@name' in the abstract namespace), read from the event loop (koffi's poll), with
 * SO_PASSCRED on so each message carries the sender's pid/uid/gid as systemd sees them:
 * NotifyAccess=main accepts a message only when that pid is the main pid.
 *
 * Not socat: socat writes datagrams to stdout with nothing between them, so
 * "READY=1" and "STATUS=…" sent separately would run together, and it hides the pid.
 */
import { createRequire } from 'node:module';

type Koffi = typeof import('koffi');

export interface NotifyMessage {
  /** The datagram as sent. */
  readonly raw: string;
  /** Its KEY=VALUE lines. */
  readonly fields: Readonly<Record<string, string>>;
  /** Sender's credentials, from SCM_CREDENTIALS. */
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** performance.now() when it was read. */
  readonly at: number;
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PASSCRED = 16;
const SCM_CREDENTIALS = 2;
const MSG_DONTWAIT = 0x40;
const DATA_MAX = 65536;
// struct msghdr / iovec / cmsghdr offsets on LP64 Linux.
const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const CONTROL_SIZE = 64;

interface Native {
  readonly koffi: Koffi;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  recvmsg(fd: number, msg: unknown, flags: number): number;
  close(fd: number): number;
}

let native: Native | undefined;
function load(): Native {
  if (native) return native;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const lib = koffi.load('libc.so.6');
  native = {
    koffi,
    socket: lib.func('int socket(int, int, int)'),
    bind: lib.func('int bind(int, const void *, uint32_t)'),
    setsockopt: lib.func('int setsockopt(int, int, int, const void *, uint32_t)'),
    recvmsg: lib.func('intptr_t recvmsg(int, void *, int)'),
    close: lib.func('int close(int)'),
  };
  return native;
}

function sockaddr(socketPath: string): Buffer {
  const abstract = socketPath.startsWith('@');
  const name = Buffer.from(abstract ? socketPath.slice(1) : socketPath);
  const addr = Buffer.alloc(3 + name.length);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, abstract ? 3 : 2);
  return addr;
}

function parse(raw: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of raw.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

export class NotifyListener {
  readonly messages: NotifyMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly mem: unknown;
  private readonly view: DataView;
  private readonly poll: { close(): void };
  private closed = false;

  private constructor(
    readonly socketPath: string,
    private readonly fd: number,
  ) {
    const n = load();
    // One native block: msghdr, iovec, control buffer, data buffer; it must be native
    // memory (not a Buffer) because msghdr holds pointers to the others.
    const size = MSGHDR_SIZE + IOVEC_SIZE + CONTROL_SIZE + DATA_MAX;
    this.mem = n.koffi.alloc('uint8_t', size);
    this.view = new DataView(n.koffi.view(this.mem, size));
    this.poll = n.koffi.node.poll(fd, { readable: true }, () => this.drain());
  }

  /** Binds a listener at socketPath (a path, or '@name' for the abstract namespace). */
  static open(socketPath: string): NotifyListener {
    const n = load();
    const fd = n.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket: errno ${n.koffi.errno()}`);
    const one = Buffer.alloc(4);
    one.writeInt32LE(1);
    const addr = sockaddr(socketPath);
    if (n.setsockopt(fd, SOL_SOCKET, SO_PASSCRED, one, 4) < 0 || n.bind(fd, addr, addr.length) < 0) {
      const errno = n.koffi.errno();
      n.close(fd);
      throw new Error(`binding ${socketPath}: errno ${errno}`);
    }
    return new NotifyListener(socketPath, fd);
  }

  private drain(): void {
    if (this.closed) return;
    const n = load();
    const base = n.koffi.address(this.mem) as bigint;
    const iov = base + BigInt(MSGHDR_SIZE);
    const control = iov + BigInt(IOVEC_SIZE);
    const data = control + BigInt(CONTROL_SIZE);
    const v = this.view;
    for (;;) {
      // (Re)fill the headers each time: the kernel writes msg_controllen and msg_flags back.
      for (let i = 0; i < MSGHDR_SIZE + IOVEC_SIZE + CONTROL_SIZE; i++) v.setUint8(i, 0);
      v.setBigUint64(16, iov, true); // msg_iov
      v.setBigUint64(24, 1n, true); // msg_iovlen
      v.setBigUint64(32, control, true); // msg_control
      v.setBigUint64(40, BigInt(CONTROL_SIZE), true); // msg_controllen
      v.setBigUint64(MSGHDR_SIZE, data, true); // iov_base
      v.setBigUint64(MSGHDR_SIZE + 8, BigInt(DATA_MAX), true); // iov_len
      const len = n.recvmsg(this.fd, this.mem, MSG_DONTWAIT);
      if (len < 0) break; // EAGAIN: drained
      const dataOff = MSGHDR_SIZE + IOVEC_SIZE + CONTROL_SIZE;
      const raw = Buffer.from(v.buffer, dataOff, len).toString('utf8');
      let pid = -1;
      let uid = -1;
      let gid = -1;
      const controlLen = Number(v.getBigUint64(40, true));
      const c = MSGHDR_SIZE + IOVEC_SIZE;
      if (controlLen >= 16 + 12 && v.getInt32(c + 8, true) === SOL_SOCKET && v.getInt32(c + 12, true) === SCM_CREDENTIALS) {
        pid = v.getInt32(c + 16, true);
        uid = v.getUint32(c + 20, true);
        gid = v.getUint32(c + 24, true);
      }
      this.messages.push({ raw, fields: parse(raw), pid, uid, gid, at: performance.now() });
    }
    for (const wake of this.waiters) wake();
  }

  /**
   * The first message from index `from` on that matches, waiting up to `ms` for it.
   * Resolves with its index too, so a test can look for what follows it.
   */
  waitFor(pred: (m: NotifyMessage) => boolean, ms: number, from = 0): Promise<{ message: NotifyMessage; index: number }> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = from; i < this.messages.length; i++) {
          const m = this.messages[i]!;
          if (pred(m)) {
            done();
            resolve({ message: m, index: i });
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        const seen = this.messages.slice(from).map((m) => JSON.stringify(m.raw));
        reject(new Error(`no matching notify message on ${this.socketPath} within ${ms} ms; saw: ${seen.join(', ') || 'nothing'}`));
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      const wake = (): void => void check();
      this.waiters.add(wake);
      check();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poll.close();
    const n = load();
    n.close(this.fd);
    n.koffi.free(this.mem);
  }
}
