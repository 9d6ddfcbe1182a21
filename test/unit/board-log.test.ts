/** Reading a board's log: only a torn or invalid tail is cut. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseLog } from '@smegchat/supervisor/dist/engine/embedded/board-log.js';

const header = JSON.stringify({ v: 1, epoch: 'e1', created: 'x' });
const line = (seq: number): string => `tag\t${JSON.stringify({ t: 'chat', id: `m${seq}`, name: 'a', text: 'é', seq })}`;

describe('parseLog', () => {
  it('reads the header and every whole line', () => {
    const parsed = parseLog(`${header}\n${line(1)}\n${line(2)}\n`);
    assert.equal(parsed?.header.epoch, 'e1');
    assert.deepEqual(
      parsed?.entries.map((e) => e.tag),
      ['tag', 'tag'],
    );
    assert.equal(parsed?.truncated, 0);
  });

  it('counts a torn last line (no newline) as bytes to cut, in bytes not characters', () => {
    const torn = line(3).slice(0, 20) + 'é';
    const parsed = parseLog(`${header}\n${line(1)}\n${torn}`);
    assert.equal(parsed?.entries.length, 1);
    assert.equal(parsed?.truncated, Buffer.byteLength(torn));
  });

  it('returns null without a valid header', () => {
    assert.equal(parseLog(''), null);
    assert.equal(parseLog('not json\n'), null);
    assert.equal(parseLog('{"v":2,"epoch":"e"}\n'), null);
  });
});
