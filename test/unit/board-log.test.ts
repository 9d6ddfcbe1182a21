/** Reading a board's log: only a torn tail is cut; every whole line proves itself or is reported bad. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { entryLine, logText, parseLog } from '@smegchat/supervisor/dist/engine/embedded/board-log.js';

const header = JSON.stringify({ v: 1, epoch: 'e1', created: 'x' });
const line = (seq: number): string => `tag\t${JSON.stringify({ t: 'chat', id: `m${seq}`, name: 'a', text: 'é', seq })}`;

describe('parseLog', () => {
  it('reads the header and every whole line', () => {
    const parsed = parseLog(`${header}\n${line(1)}\n${line(2)}\n`);
    assert.equal(parsed.header?.epoch, 'e1');
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

  it('says so when the first line is not a valid header, and still reads the lines after it', () => {
    assert.equal(parseLog('').header, null);
    assert.deepEqual(parseLog('not json\n').bad, [{ line: 1, why: 'not a valid header' }]);
    const noHeader = parseLog(`{"v":3,"epoch":"e"}\n${line(1)}\n`);
    assert.equal(noHeader.header, null);
    assert.equal(noHeader.entries.length, 1);
  });
});

describe('parseLog, version 2 (a CRC per line)', () => {
  const v2 = { v: 2, epoch: 'e2', created: 'x' } as const;
  const entry = (seq: number): { tag: string; frame: string } => ({
    tag: 'tag',
    frame: JSON.stringify({ t: 'chat', id: `m${seq}`, name: 'a', text: 'é', seq }),
  });
  const entries = [1, 2, 3, 4, 5].map(entry);

  it('reads back what logText wrote', () => {
    const parsed = parseLog(logText(v2, entries));
    assert.deepEqual(parsed?.entries, entries);
    assert.deepEqual(parsed?.bad, []);
    assert.equal(parsed?.truncated, 0);
  });

  it('reports one changed byte in a middle line as a bad line, and cuts nothing', () => {
    const text = logText(v2, entries);
    const at = text.indexOf('m3') + 1;
    const flipped = text.slice(0, at) + '7' + text.slice(at + 1);
    const parsed = parseLog(flipped);
    assert.deepEqual(parsed?.bad, [{ line: 4, why: 'checksum mismatch' }]);
    assert.deepEqual(
      parsed?.entries.map((e) => e.frame),
      [1, 2, 4, 5].map((n) => entry(n).frame),
    );
    assert.equal(parsed?.truncated, 0);
  });

  it('takes a whole last line with a bad checksum for corruption, not for a torn line', () => {
    const last = entryLine(entry(6)).replace(/[0-9a-f]{8}\n$/, '00000000\n');
    const parsed = parseLog(logText(v2, entries) + last);
    assert.deepEqual(parsed?.bad, [{ line: 7, why: 'checksum mismatch' }]);
    assert.equal(parsed?.truncated, 0);
  });

  it('cuts only bytes after the last newline', () => {
    const torn = entryLine(entry(6)).slice(0, 15);
    const parsed = parseLog(logText(v2, entries) + torn);
    assert.equal(parsed?.entries.length, 5);
    assert.deepEqual(parsed?.bad, []);
    assert.equal(parsed?.truncated, 15);
  });
});
