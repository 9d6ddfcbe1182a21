/**
 * No core dump of smegchat: with TLS its processes hold the private key in
 * memory, and a core file would write it to disk. The unit sets LimitCORE=0;
 * this does the same for any other way of starting it (a terminal, --daemon,
 * another init): the supervisor sets both its limits to zero, and the workers
 * it forks inherit them, for good (a hard limit of 0 cannot be raised again
 * without privileges the workers never have).
 */
import { nativeLibc } from './libc.js';

/** RLIMIT_CORE on Linux (every architecture smegchat targets). */
const RLIMIT_CORE = 4;

/** Returns the error, or null once the limit is 0. */
export function disableCoreDumps(): Error | null {
  try {
    const { koffi, lib } = nativeLibc();
    const setrlimit = lib.func('int setrlimit(int resource, const void *rlim)') as (resource: number, rlim: Buffer) => number;
    // struct rlimit { rlim_t cur, max }: both 0; 16 bytes cover a 64-bit rlim_t, a 32-bit one reads the first 8.
    if (setrlimit(RLIMIT_CORE, Buffer.alloc(16)) !== 0) return new Error(`setrlimit(RLIMIT_CORE): errno ${koffi.errno()}`);
    return null;
  } catch (err) {
    return err as Error;
  }
}
