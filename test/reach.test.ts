/**
 * blockerOf: which component of a path keeps the service user out, decided
 * from mode bits as the kernel does (the first class that matches decides).
 * A pure decision, tested on made-up file systems.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { blockerOf } from '@smegchat/supervisor/dist/reach.js';

const DIR = fs.constants.S_IFDIR;
const FILE = fs.constants.S_IFREG;
const NOBODY = { uid: 65534, groups: [65534] };

type Entry = { mode: number; uid?: number; gid?: number };

/** A stat over a made-up tree: every entry root:root unless it says otherwise. */
function tree(entries: Record<string, Entry>): (p: string) => { mode: number; uid: number; gid: number } {
  return (p) => {
    const e = entries[p];
    if (e === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return { mode: e.mode, uid: e.uid ?? 0, gid: e.gid ?? 0 };
  };
}

describe('blockerOf', () => {
  const debian = {
    '/': { mode: DIR | 0o755 },
    '/root': { mode: DIR | 0o700 },
    '/root/smegchat': { mode: DIR | 0o755 },
    '/root/smegchat/main.js': { mode: FILE | 0o644 },
    '/srv': { mode: DIR | 0o755 },
    '/srv/smegchat': { mode: DIR | 0o755 },
    '/srv/smegchat/main.js': { mode: FILE | 0o644 },
    '/srv/smegchat/secret.js': { mode: FILE | 0o600 },
  };

  it("names root's 0700 home as what keeps nobody from a checkout in it", () => {
    assert.deepEqual(blockerOf('/root/smegchat/main.js', NOBODY, tree(debian)), { path: '/root', mode: 0o700, uid: 0, gid: 0 });
  });

  it('lets a readable checkout through, and names a file that is not readable', () => {
    assert.equal(blockerOf('/srv/smegchat/main.js', NOBODY, tree(debian)), null);
    assert.deepEqual(blockerOf('/srv/smegchat/secret.js', NOBODY, tree(debian)), {
      path: '/srv/smegchat/secret.js',
      mode: 0o600,
      uid: 0,
      gid: 0,
    });
  });

  it('needs search, not read, on directories: 0711 is enough', () => {
    const t = tree({ ...debian, '/root': { mode: DIR | 0o711 } });
    assert.equal(blockerOf('/root/smegchat/main.js', NOBODY, t), null);
    assert.equal(blockerOf('/root/smegchat', NOBODY, t), null);
  });

  it("takes the owner's bits for the owner, even where the others' would let them in", () => {
    const t = tree({ ...debian, '/srv/smegchat': { mode: DIR | 0o075, uid: 65534 } });
    assert.equal(blockerOf('/srv/smegchat/main.js', NOBODY, t)?.path, '/srv/smegchat');
  });

  it("takes the group's bits for a group the user holds after the drop, and only then", () => {
    const t = tree({ ...debian, '/root': { mode: DIR | 0o750, gid: 1000 } });
    assert.equal(blockerOf('/root/smegchat/main.js', { uid: 65534, groups: [1000] }, t), null);
    assert.equal(blockerOf('/root/smegchat/main.js', NOBODY, t)?.path, '/root');
  });

  it('gives no verdict on what does not exist or is not a directory: opening it says why', () => {
    assert.equal(blockerOf('/srv/smegchat/data/boards', NOBODY, tree(debian)), null);
    assert.equal(blockerOf('/srv/smegchat/main.js/data', NOBODY, tree(debian)), null);
  });
});
