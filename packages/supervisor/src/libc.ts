/**
 * libc, reached through koffi (prebuilt: nothing is compiled on the target),
 * for the few system calls Node has no API for. Loaded on first use only, so
 * a supervisor that needs none of them loads nothing native.
 */
import { createRequire } from 'node:module';

export interface NativeLibc {
  readonly koffi: typeof import('koffi');
  readonly lib: ReturnType<(typeof import('koffi'))['load']>;
}

let loaded: NativeLibc | undefined;

export function nativeLibc(): NativeLibc {
  if (loaded) return loaded;
  // createRequire keeps the load lazy and synchronous (a dynamic import() would be async).
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  let lib: NativeLibc['lib'];
  try {
    lib = koffi.load('libc.so.6');
  } catch {
    lib = koffi.load(null); // musl: libc's symbols are in the global namespace of node itself
  }
  loaded = { koffi, lib };
  return loaded;
}
