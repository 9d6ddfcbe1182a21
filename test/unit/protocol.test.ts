/** The parsers at every process boundary: what enters is either a typed message or refused. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  boardOfPagePath,
  CONTROL_VERSION,
  DEFAULT_LIMITS,
  IPC_VERSION,
  parseClientMessage,
  parseControlRequest,
  parseForkConfig,
  parseJoinUrl,
  parseSupervisorMessage,
  parseWorkerConfig,
  parseWorkerMessage,
} from '@smegchat/protocol';

const L = DEFAULT_LIMITS;
const reason = (text: string): string | null => {
  const p = parseClientMessage(text, L);
  return p.ok ? null : p.error.reason;
};

describe('client → worker (parseClientMessage)', () => {
  it('accepts the three messages and keeps only their own fields', () => {
    const p = parseClientMessage('{"t":"stroke","id":"a","color":"#00ff00","width":3,"points":[[1,2]],"evil":1}', L);
    assert.deepEqual(p.ok && p.value, { t: 'stroke', id: 'a', color: '#00ff00', width: 3, points: [[1, 2]] });
    assert.equal(reason('{"t":"chat","id":"a","name":"Ann","text":"hi"}'), null);
    assert.equal(reason('{"t":"clear","id":"a"}'), null);
  });

  it('names what is wrong, closing with 1007', () => {
    assert.equal(reason('nope'), 'not-json');
    assert.equal(reason('[1]'), 'not-object');
    assert.equal(reason('{"t":"clear"}'), 'bad-id');
    assert.equal(reason(`{"t":"clear","id":"${'x'.repeat(L.maxIdLength + 1)}"}`), 'bad-id');
    assert.equal(reason('{"t":"stroke","id":"a","color":"red","width":3,"points":[[1,2]]}'), 'bad-color');
    assert.equal(reason('{"t":"stroke","id":"a","color":"#000000","width":0,"points":[[1,2]]}'), 'bad-width');
    assert.equal(reason('{"t":"stroke","id":"a","color":"#000000","width":1,"points":[]}'), 'bad-points');
    assert.equal(reason('{"t":"stroke","id":"a","color":"#000000","width":1,"points":[[1e300,0]]}'), 'bad-points');
    assert.equal(reason('{"t":"chat","id":"a","name":"","text":"x"}'), 'bad-name');
    assert.equal(reason('{"t":"dance","id":"a"}'), 'bad-type');
    const p = parseClientMessage('nope', L);
    assert.equal(!p.ok && p.error.closeCode, 1007);
  });

  it('accepts undo and redo with target or targets, and erase with targets, as sent', () => {
    const u = parseClientMessage('{"t":"undo","id":"a","target":4,"x":1}', L);
    assert.deepEqual(u.ok && u.value, { t: 'undo', id: 'a', target: 4 });
    const r = parseClientMessage('{"t":"redo","id":"a","targets":[4,5]}', L);
    assert.deepEqual(r.ok && r.value, { t: 'redo', id: 'a', targets: [4, 5] });
    const e = parseClientMessage('{"t":"erase","id":"a","targets":[7]}', L);
    assert.deepEqual(e.ok && e.value, { t: 'erase', id: 'a', targets: [7] });
  });

  it('refuses targets that are not seqs, both fields, none, or too many', () => {
    for (const bad of [
      '{"t":"undo","id":"a"}',
      '{"t":"undo","id":"a","target":0}',
      '{"t":"undo","id":"a","target":1.5}',
      '{"t":"undo","id":"a","target":"3"}',
      '{"t":"redo","id":"a","target":1,"targets":[1]}',
      '{"t":"redo","id":"a","targets":[]}',
      '{"t":"erase","id":"a","target":3}',
      `{"t":"erase","id":"a","targets":[${Array.from({ length: L.maxTargets + 1 }, (_, i) => i + 1).join(',')}]}`,
    ]) {
      assert.equal(reason(bad), 'bad-target', bad.slice(0, 60));
    }
  });
});

describe('the WebSocket URL (parseJoinUrl) and the page URL (boardOfPagePath)', () => {
  it('reads board, since, epoch and session', () => {
    assert.deepEqual(parseJoinUrl(`/ws/b-1?since=5&epoch=abc&session=${'f'.repeat(32)}`), {
      board: 'b-1',
      since: 5,
      epoch: 'abc',
      session: 'f'.repeat(32),
    });
  });

  it('refuses what is malformed with a line saying why', () => {
    for (const url of ['/ws/', '/ws/a/b', '/ws/%zz', `/ws/${'a'.repeat(65)}`, '/ws/a?since=-1', '/ws/a?session=short', '/other']) {
      assert.equal(typeof parseJoinUrl(url), 'string', url);
    }
  });

  it('reads a board page path the same way on the server and in the page', () => {
    assert.equal(boardOfPagePath('/b/team'), 'team');
    assert.equal(boardOfPagePath('/b/team/'), 'team');
    assert.equal(boardOfPagePath('/b/te%2Dam'), 'te-am');
    assert.equal(boardOfPagePath('/b/'), null);
    assert.equal(boardOfPagePath('/b/a%zz'), null);
    assert.equal(boardOfPagePath('/b/not.valid'), null);
    assert.equal(boardOfPagePath('/x/team'), null);
  });
});

describe('worker → supervisor (parseWorkerMessage)', () => {
  const msg = { t: 'stroke', id: 'a', color: '#000000', width: 1, points: [[0, 0]] };
  const session = 'a'.repeat(32);

  it('accepts every kind', () => {
    assert.deepEqual(parseWorkerMessage({ t: 'ready', v: IPC_VERSION }, L), { t: 'ready', v: IPC_VERSION });
    assert.deepEqual(parseWorkerMessage({ t: 'standby', v: IPC_VERSION, extra: 1 }, L), { t: 'standby', v: IPC_VERSION });
    assert.equal(parseWorkerMessage({ t: 'standby' }, L), null);
    assert.deepEqual(parseWorkerMessage({ t: 'join', req: 1, board: 'b', since: 3, epoch: 'e', session }, L), {
      t: 'join',
      req: 1,
      board: 'b',
      since: 3,
      epoch: 'e',
      session,
    });
    assert.deepEqual(parseWorkerMessage({ t: 'leave', board: 'b' }, L), { t: 'leave', board: 'b' });
    assert.deepEqual(parseWorkerMessage({ t: 'stats', connections: 1, closed: ['::1'] }, L), {
      t: 'stats',
      connections: 1,
      closed: ['::1'],
    });
    assert.deepEqual(parseWorkerMessage({ t: 'pong', n: 4 }, L), { t: 'pong', n: 4 });
    assert.deepEqual(parseWorkerMessage({ t: 'drained' }, L), { t: 'drained' });
    assert.deepEqual(parseWorkerMessage({ t: 'took', id: 7 }, L), { t: 'took', id: 7 });
    assert.equal(parseWorkerMessage({ t: 'took', id: 'x' }, L), null);
    assert.deepEqual(parseWorkerMessage({ t: 'tls-request' }, L), { t: 'tls-request' });
    assert.deepEqual(parseWorkerMessage({ t: 'submit', items: [{ board: 'b', session, cid: 1, msg }] }, L), {
      t: 'submit',
      items: [{ board: 'b', session, cid: 1, msg }],
    });
  });

  it('drops what a worker must never send', () => {
    for (const bad of [
      null,
      'x',
      { t: 'nope' },
      { t: 'join', req: 1, board: '../etc' },
      { t: 'submit', items: [{ board: 'b', session: 'short', cid: 1, msg }] },
    ]) {
      assert.equal(parseWorkerMessage(bad, L), null, JSON.stringify(bad));
    }
  });

  it('turns an item that breaks limits tightened by a reload into a refusal for its sender', () => {
    const tight = { ...L, maxPoints: 0 };
    const parsed = parseWorkerMessage({ t: 'submit', items: [{ board: 'b', session, cid: 9, msg }] }, tight);
    assert.deepEqual(parsed, {
      t: 'submit',
      items: [],
      invalid: [{ cid: 9, id: 'a', code: 'bad-points', message: parsed?.t === 'submit' ? parsed.invalid?.[0]?.message : '' }],
    });
  });
});

const workerConfig = {
  id: 1,
  ipcVersion: IPC_VERSION,
  limits: L,
  logLevel: 'info',
  logFile: null,
  origins: null,
  tls: false,
  trustedProxies: [],
  host: 'h1',
  engineHealthy: true,
  drainTimeoutMs: 10_000,
};

describe('supervisor → worker (parseSupervisorMessage, parseWorkerConfig)', () => {
  it('accepts every kind and refuses what is malformed', () => {
    for (const ok of [
      { t: 'conn', id: 1 },
      { t: 'ping', n: 1 },
      { t: 'joined', req: 1, board: 'b', seq: 0, epoch: 'e', session: 's', reset: false, frames: [] },
      { t: 'refused', req: 1, code: 1013, reason: 'full' },
      { t: 'deliver', items: [{ board: 'b', seq: 1, frame: '{}' }] },
      { t: 'reject', items: [{ cid: 1, id: 'a', code: 'board-full', message: 'm' }] },
      { t: 'stop', code: 1012 },
      { t: 'shed', count: 2 },
      { t: 'reopen-log' },
      { t: 'config', limits: L, logLevel: 'info', origins: null, trustedProxies: ['10.0.0.0/8'] },
      { t: 'conn', id: 2, refuse: true },
      { t: 'tls', cert: '-----BEGIN CERTIFICATE-----', key: '-----BEGIN PRIVATE KEY-----' },
    ]) {
      assert.notEqual(parseSupervisorMessage(ok), null, JSON.stringify(ok));
    }
    // `refuse` is true or absent: anything else is a plain handover.
    assert.deepEqual(parseSupervisorMessage({ t: 'conn', id: 3, refuse: 'yes' }), { t: 'conn', id: 3 });
    for (const bad of [
      { t: 'conn' },
      { t: 'conn', id: -1 },
      { t: 'stop', code: 1000 },
      { t: 'deliver', items: [{ board: 'b', seq: 0, frame: '' }] },
      { t: 'shed', count: 0 },
      { t: 'config', limits: {}, logLevel: 'info', origins: null },
      { t: 'tls', cert: '', key: 'k' },
      { t: 'tls', cert: 'c' },
      { t: 'tls', cert: 'c', key: 'k'.repeat(1024 * 1024 + 1) },
    ]) {
      assert.equal(parseSupervisorMessage(bad), null, JSON.stringify(bad));
    }
  });

  it('reads a worker configuration or says in one line why not', () => {
    const config = workerConfig;
    assert.deepEqual(parseWorkerConfig(JSON.stringify(config)), config);
    assert.throws(() => parseWorkerConfig(undefined), /not set/);
    assert.throws(() => parseWorkerConfig('{'), /not JSON/);
    assert.throws(() => parseWorkerConfig(JSON.stringify({ ...config, id: 0 })), /not a valid worker configuration/);
    assert.throws(() => parseWorkerConfig(JSON.stringify({ ...config, tls: 'yes' })), /not a valid worker configuration/);
    assert.throws(() => parseWorkerConfig(JSON.stringify({ ...config, drainTimeoutMs: -1 })), /not a valid worker configuration/);
  });

  it("tells a spare's configuration from a worker's, and assigns a spare a whole worker configuration", () => {
    assert.deepEqual(parseForkConfig(JSON.stringify({ spare: true, ipcVersion: IPC_VERSION, id: 3 })), {
      spare: true,
      ipcVersion: IPC_VERSION,
    });
    assert.deepEqual(parseForkConfig(JSON.stringify(workerConfig)), workerConfig);
    assert.throws(() => parseForkConfig(JSON.stringify({ spare: true })), /not a valid spare configuration/);
    assert.throws(() => parseForkConfig(JSON.stringify({ spare: 'yes', ipcVersion: 1 })), /not a valid worker configuration/);
    assert.deepEqual(parseSupervisorMessage({ t: 'assign', config: workerConfig }), { t: 'assign', config: workerConfig });
    assert.equal(parseSupervisorMessage({ t: 'assign', config: { ...workerConfig, id: 0 } }), null, 'a spare is given a slot, 1..N');
    assert.equal(parseSupervisorMessage({ t: 'assign' }), null);
  });
});

describe('smegctl → supervisor (parseControlRequest)', () => {
  const v = CONTROL_VERSION;
  it('accepts the commands', () => {
    assert.deepEqual(parseControlRequest(JSON.stringify({ v, cmd: 'status' })), { v, cmd: 'status' });
    assert.deepEqual(parseControlRequest(JSON.stringify({ v, cmd: 'scale', workers: 3 })), { v, cmd: 'scale', workers: 3 });
  });

  it('answers anything else with one line', () => {
    assert.deepEqual(parseControlRequest('x'), { error: 'request is not JSON' });
    assert.match((parseControlRequest(JSON.stringify({ v: 99, cmd: 'status' })) as { error: string }).error, /version 99/);
    assert.match((parseControlRequest(JSON.stringify({ v, cmd: 'scale', workers: 999 })) as { error: string }).error, /from 1 to 256/);
    assert.match((parseControlRequest(JSON.stringify({ v, cmd: 'format-disk' })) as { error: string }).error, /unknown command/);
  });
});
