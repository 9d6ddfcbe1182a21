/**
 * systemd passes its sockets without FD_CLOEXEC, as sd_listen_fds(3) must;
 * the supervisor marks them, so that no worker (nor anything a worker runs)
 * inherits the listening socket.
 */
import { nativeLibc } from './libc.js';

// Linux values, every architecture smegchat targets.
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** Returns the error, or null once the fd is close-on-exec. */
export function setCloseOnExec(fd: number): Error | null {
  try {
    const { koffi, lib } = nativeLibc();
    // fcntl is variadic; its third argument is one int here, which every Linux ABI passes like a fixed one.
    const fcntl = lib.func('int fcntl(int fd, int cmd, int arg)') as (fd: number, cmd: number, arg: number) => number;
    const flags = fcntl(fd, F_GETFD, 0);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return new Error(`fcntl(${fd}, F_SETFD): errno ${koffi.errno()}`);
    return null;
  } catch (err) {
    return err as Error;
  }
}
