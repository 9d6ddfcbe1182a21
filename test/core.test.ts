/**
 * The working core end to end: real supervisor, real workers, real sockets
 * on loopback, real signals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SequencedMessage } from '@smegchat/protocol';
import { BoardClient, stroke } from './lib/client.js';
import { probeOnce } from './lib/prober.js';
import { isAlive, startSmegchat, until, type Smegchat } from './lib/smegchat.js';
import { smegctl } from './lib/smegctl.js';

/** Opens clients until every worker has some, bounded. */
async function clientsOnEveryWorker(server: Smegchat, board: string, count: number, workers: number): Promise<BoardClient[]> {
  const clients: BoardClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await BoardClient.open(server.port, board));
  const seen = new Set(clients.map((c) => c.welcome.worker));
  assert.equal(seen.size, workers, `clients landed on workers ${[...seen].join(',')}`);
  return clients;
}

/** What a client should hold: the content of each message, by seq. */
function contents(board: readonly SequencedMessage[]): string[] {
  return board.map((m) => JSON.stringify(m));
}

describe('relay across workers', () => {
  it('delivers every stroke to every client on every worker, in one order', async (t) => {
    const server = await startSmegchat(t, { workers: 3 });
    const clients = await clientsOnEveryWorker(server, 'relay', 30, 3);
    // Strokes from clients on every worker, interleaved.
    let sent = 0;
    for (let round = 0; round < 5; round++) {
      for (const c of clients) {
        c.send(stroke(`w${c.welcome.worker}`));
        sent++;
      }
    }
    await Promise.all(clients.map((c) => c.waitForSeq(sent, 20_000)));
    const reference = contents(clients[0]!.board);
    assert.equal(reference.length, sent);
    assert.deepEqual(
      clients[0]!.board.map((m) => m.seq),
      Array.from({ length: sent }, (_, i) => i + 1),
    );
    for (const c of clients) assert.deepEqual(contents(c.board), reference);
    // A client joining now gets the same board.
    const late = await BoardClient.open(server.port, 'relay');
    await late.waitForSeq(sent);
    assert.deepEqual(contents(late.board), reference);
    assert.equal(late.welcome.seq, sent);
  });

  it('keeps boards apart', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const a = await BoardClient.open(server.port, 'alpha');
    const b = await BoardClient.open(server.port, 'beta');
    a.send(stroke('a'));
    await a.waitForSeq(1);
    b.send(stroke('b'));
    await b.waitForSeq(1);
    assert.equal(a.board.length, 1);
    assert.equal(b.board.length, 1);
    assert.notEqual(a.board[0]!.id, b.board[0]!.id);
  });

  it('clear empties the board for everyone, and for later joiners', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const a = await BoardClient.open(server.port, 'clr');
    const b = await BoardClient.open(server.port, 'clr');
    a.send(stroke());
    a.send(stroke());
    await b.waitForSeq(2);
    b.send({ t: 'clear', id: 'clear-1' });
    await a.waitForSeq(3);
    a.send(stroke());
    await a.waitForSeq(4);
    await b.waitForSeq(4);
    assert.deepEqual(
      a.board.map((m) => m.t),
      ['clear', 'stroke'],
    );
    const late = await BoardClient.open(server.port, 'clr');
    await late.waitForSeq(4);
    assert.deepEqual(contents(late.board), contents(a.board));
    // Resuming from before the clear still yields the same board.
    const resumed = await BoardClient.open(server.port, 'clr', { since: 1, epoch: a.welcome.epoch });
    await resumed.waitForSeq(4);
    assert.deepEqual(contents(resumed.board), contents(a.board));
  });
});

describe('resume', () => {
  it('replays exactly what followed since, and never applies a resent id twice', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const a = await BoardClient.open(server.port, 'res');
    for (let i = 0; i < 5; i++) a.send(stroke());
    await a.waitForSeq(5);
    const b = await BoardClient.open(server.port, 'res', { since: 3, epoch: a.welcome.epoch });
    await b.waitForSeq(5);
    assert.deepEqual(
      b.board.map((m) => m.seq),
      [4, 5],
    );
    assert.equal(b.welcome.reset, false);

    // The same id sent again on the same session is not applied again.
    const again = a.board[4]!;
    const c = await BoardClient.open(server.port, 'res', { since: 5, epoch: a.welcome.epoch, session: a.welcome.session });
    c.send({ t: 'stroke', id: again.id, color: '#000000', width: 1, points: [[0, 0]] });
    c.send(stroke('after'));
    await c.waitForSeq(6);
    assert.deepEqual(
      c.board.map((m) => m.id),
      [c.board[0]!.id],
    );
    assert.notEqual(c.board[0]!.id, again.id);
    // Another session may use the same id: it is a different message.
    const d = await BoardClient.open(server.port, 'res', { since: 6, epoch: a.welcome.epoch });
    d.send({ t: 'stroke', id: again.id, color: '#000000', width: 1, points: [[0, 0]] });
    await d.waitForSeq(7);
  });

  it('says reset when the epoch differs or since is ahead of the history', async (t) => {
    const server = await startSmegchat(t, { workers: 1 });
    const a = await BoardClient.open(server.port, 'rst');
    a.send(stroke());
    await a.waitForSeq(1);
    const wrongEpoch = await BoardClient.open(server.port, 'rst', { since: 1, epoch: 'nosuchepoch' });
    await wrongEpoch.waitForSeq(1);
    assert.equal(wrongEpoch.welcome.reset, true);
    assert.equal(wrongEpoch.board.length, 1);
    const ahead = await BoardClient.open(server.port, 'rst', { since: 99, epoch: a.welcome.epoch });
    await ahead.waitForSeq(1);
    assert.equal(ahead.welcome.reset, true);
  });
});

describe('worker crashes', () => {
  it('replaces a worker killed under load; its clients resume and nothing is lost or doubled', async (t) => {
    const server = await startSmegchat(t, { workers: 3 });
    const clients = await clientsOnEveryWorker(server, 'crash', 12, 3);
    const victimWorker = clients[0]!.welcome.worker;
    const victimPid = (await server.waitForLog((r) => r.msg === 'worker ready' && r['worker'] === victimWorker))['workerPid'] as number;
    // A real client reconnects and resumes by itself.
    for (const c of clients) c.autoResume();
    // A steady load from every client, before, during and after the kill.
    let stop = false;
    const load = (async () => {
      for (let round = 0; round < 400 && !stop; round++) {
        for (const c of clients) if (c.ws.readyState === c.ws.OPEN) c.send(stroke(`c${c.welcome.worker}`));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await clients[0]!.waitForSeq(50, 15_000);
    process.kill(victimPid, 'SIGKILL');
    const replaced = await server.waitForLog(
      (r) => r.msg === 'worker ready' && r['worker'] === victimWorker && r['workerPid'] !== victimPid,
    );
    assert.ok(isAlive(replaced['workerPid'] as number));
    await until(
      "the killed worker's clients to resume",
      () => clients.every((c) => c.ws.readyState === c.ws.OPEN && c.welcomes.length >= 1),
      15_000,
    );
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await load;
    // Everything sent was confirmed: wait until every client has seen the whole history.
    await until('all sends confirmed', () => clients.every((c) => c.unconfirmed.size === 0), 20_000);
    const head = Math.max(...clients.map((c) => c.lastSeq));
    await Promise.all(clients.map((c) => c.waitForSeq(head, 20_000)));
    const history = await BoardClient.open(server.port, 'crash');
    await history.waitForSeq(head);
    const reference = contents(history.board);
    const ids = history.board.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'an id was applied twice');
    for (const c of clients) assert.deepEqual(contents(c.board), reference);
    const sentIds = new Set(clients.flatMap((c) => c.received.map((m) => m.id)));
    for (const id of sentIds) assert.ok(ids.includes(id));
  });

  it('evens out long-lived connections again after a worker is replaced, losing nothing', async (t) => {
    const server = await startSmegchat(t, { workers: 3 });
    const clients = await clientsOnEveryWorker(server, 'even', 30, 3);
    for (const c of clients) c.autoResume();
    for (let i = 0; i < 10; i++) clients[i]!.send(stroke());
    await Promise.all(clients.map((c) => c.waitForSeq(10)));
    const victim = server.workerPids()[0]!;
    process.kill(victim, 'SIGKILL');
    // Each worker ends with its share, give or take the slack of 2 (the replacement included).
    const perWorker = (): number[] => {
      const counts = [0, 0, 0];
      for (const c of clients) if (c.ws.readyState === c.ws.OPEN) counts[c.welcome.worker - 1]!++;
      return counts;
    };
    await until(
      'connections spread evenly again',
      () => {
        const counts = perWorker();
        return counts.reduce((a, b) => a + b, 0) === 30 && counts.every((n) => n >= 8 && n <= 12);
      },
      20_000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${perWorker().join('/')}`);
    });
    // Moved clients resumed: every board still equals the history.
    clients[0]!.send(stroke());
    await Promise.all(clients.map((c) => c.waitForSeq(11)));
    const reference = contents(clients[0]!.board);
    for (const c of clients) assert.deepEqual(contents(c.board), reference);
  });

  it('serves on the same port after every worker is killed at once', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const before = await BoardClient.open(server.port, 'all');
    before.send(stroke());
    await before.waitForSeq(1);
    const pids = server.workerPids();
    assert.equal(pids.length, 2);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await until(
      'two new workers',
      () => {
        const now = server.workerPids();
        return now.length === 2 && now.every((p) => !pids.includes(p));
      },
      15_000,
    );
    const after = await BoardClient.open(server.port, 'all', { ms: 15_000 });
    await after.waitForSeq(1);
    after.send(stroke());
    await after.waitForSeq(2);
  });
});

describe('a worker killed with connections in its channel', () => {
  it('hands the connections it never took to another worker: none is lost', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const [stuck, other] = server.workerPids() as [number, number];
    // Stopped, it reads nothing from its channel: what is handed to it stays there, untaken.
    process.kill(stuck, 'SIGSTOP');
    t.after(() => {
      if (isAlive(stuck)) process.kill(stuck, 'SIGKILL');
    });
    const probes = Array.from({ length: 6 }, () => probeOnce(server.port, 20_000));
    const handedToStuck = async (): Promise<boolean> => {
      const r = await smegctl(['--control', server.control, 'status', '--json']);
      const status = JSON.parse(r.stdout) as { workers: { pid: number; connections: number }[] };
      return (status.workers.find((w) => w.pid === stuck)?.connections ?? 0) >= 2;
    };
    await until('connections handed to the stopped worker', handedToStuck, 10_000, 50);
    process.kill(stuck, 'SIGKILL');
    const outcomes = (await Promise.all(probes)).map((p) => p.outcome);
    assert.deepEqual(outcomes, Array(6).fill('served'));
    assert.ok(
      server.logs.some((r) => r.msg.startsWith('connections handed to the exited worker and never taken')),
      'the supervisor handed them on',
    );
    assert.ok(isAlive(other));
  });
});

describe('stop and start', () => {
  it('closes clients with 1001, exits 0, and a restart serves the whole board', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const a = await BoardClient.open(server.port, 'keep');
    for (let i = 0; i < 10; i++) a.send(stroke());
    a.send({ t: 'chat', id: 'chat-1', name: 'ann', text: 'still here?' });
    await a.waitForSeq(11);
    const workers = server.workerPids();
    const result = await server.stop('SIGTERM');
    assert.deepEqual(result, { code: 0, signal: null }, server.stderr());
    assert.equal((await a.closed).code, 1001);
    for (const pid of workers) assert.equal(isAlive(pid), false);

    const again = await startSmegchat(t, { workers: 2, dataDir: server.dataDir });
    const b = await BoardClient.open(again.port, 'keep');
    await b.waitForSeq(11);
    assert.deepEqual(contents(b.board), contents(a.board));
    assert.equal(b.welcome.epoch, a.welcome.epoch);
  });

  it('stops cleanly when Ctrl-C signals the whole process group', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const a = await BoardClient.open(server.port, 'ctrlc');
    // What a terminal does on Ctrl-C: SIGINT to every process of the group (the test runner's, here
    // the supervisor shares it, so signal each process of the server as the terminal would).
    for (const pid of [server.pid, ...server.workerPids()]) process.kill(pid, 'SIGINT');
    assert.deepEqual(await server.stop('SIGINT'), { code: 0, signal: null });
    assert.equal((await a.closed).code, 1001);
  });

  it('survives a kill -9 of the supervisor with the history intact', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const a = await BoardClient.open(server.port, 'k9');
    for (let i = 0; i < 20; i++) a.send(stroke());
    await a.waitForSeq(20);
    const workers = server.workerPids();
    await server.stop('SIGKILL');
    // Orphaned workers close their clients and exit by themselves.
    await until('orphaned workers to exit', () => workers.every((p) => !isAlive(p)), 10_000);
    const again = await startSmegchat(t, { workers: 1, dataDir: server.dataDir });
    const b = await BoardClient.open(again.port, 'k9', { since: 20, epoch: a.welcome.epoch });
    assert.equal(b.welcome.reset, false);
    assert.equal(b.welcome.seq, 20);
    await again.waitForLog(
      (r) => r.msg === 'the previous supervisor did not stop cleanly; history is intact (every write reached the page cache)',
    );
  });
});
