/**
 * GET /metrics against a real smegchat: the Prometheus text parsed strictly
 * and its figures checked against what the test did (clients, messages by
 * type, deliveries, joins, refusals, closes), a kill -9 counted as a restart
 * and a reload not, an answer while no worker can run, and the endpoint's
 * own limits (one path, one method, a few connections, silent ones dropped).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { BoardClient, stroke, upgradeRefusal } from './lib/client.js';
import { smegctl } from './lib/smegctl.js';
import { httpGet, parsePrometheus, scrape, scrapeUntil } from './lib/prometheus.js';
import { SMEGCHAT, isAlive, startSmegchat, until, type Smegchat } from './lib/smegchat.js';

function metricsPortOf(server: Smegchat): number {
  assert.ok(server.metricsPort !== null && server.metricsPort > 0, 'the ready line names the metrics port');
  return server.metricsPort;
}

describe('GET /metrics', () => {
  it('counts what the clients did: connections, messages by type, deliveries, joins, boards', async (t) => {
    const server = await startSmegchat(t, { workers: 2, args: ['--metrics', '127.0.0.1:0'] });
    const port = metricsPortOf(server);

    const idle = await scrape(port);
    assert.equal(idle.value('smegchat_workers', { state: 'ready' }), 2);
    assert.equal(idle.value('smegchat_connections'), 0);
    assert.equal(idle.value('smegchat_messages_total'), 0);
    assert.equal(idle.value('smegchat_worker_restarts_total'), 0);
    assert.equal(idle.types.get('smegchat_messages_total'), 'counter');
    assert.equal(idle.types.get('smegchat_join_duration_seconds'), 'histogram');
    // prom-client's default process metrics, for the supervisor.
    assert.ok((idle.value('process_resident_memory_bytes') ?? 0) > 10 << 20);
    assert.ok(idle.types.has('nodejs_eventloop_lag_seconds'));

    const board = [
      await BoardClient.open(server.port, 'graph'),
      await BoardClient.open(server.port, 'graph'),
      await BoardClient.open(server.port, 'graph'),
    ];
    const other = await BoardClient.open(server.port, 'other');
    t.after(() => Promise.all([...board, other].map((c) => c.close())));
    const sender = board[0]!;
    for (let i = 0; i < 5; i++) sender.send(stroke('m'));
    sender.send({ t: 'chat', id: 'c1', name: 'Ann', text: 'hello' });
    sender.send({ t: 'chat', id: 'c2', name: 'Ann', text: 'again' });
    sender.send({ t: 'clear', id: 'x1' });
    await Promise.all(board.map((c) => c.waitForSeq(8)));

    const s = await scrapeUntil(
      port,
      'every worker to have reported the deliveries',
      (m) => m.sum('smegchat_deliveries_total') === 8 * board.length && m.sum('smegchat_clients') === 4,
    );
    assert.equal(s.value('smegchat_messages_total'), 8);
    assert.equal(s.value('smegchat_messages_by_type_total', { type: 'stroke' }), 5);
    assert.equal(s.value('smegchat_messages_by_type_total', { type: 'chat' }), 2);
    assert.equal(s.value('smegchat_messages_by_type_total', { type: 'clear' }), 1);
    assert.equal(s.sum('smegchat_client_messages_received_total'), 8);
    assert.equal(s.value('smegchat_client_messages_received_total', { worker: String(sender.welcome.worker) }), 8);
    assert.equal(s.value('smegchat_connections'), 4);
    assert.equal(s.sum('smegchat_worker_connections'), 4);
    assert.equal(s.value('smegchat_boards'), 2);
    assert.equal(s.value('smegchat_boards_loaded'), 2);
    assert.ok((s.value('smegchat_history_bytes') ?? 0) > 0);
    // Every client joined once; the +Inf bucket holds them all, and the buckets never go down.
    assert.equal(s.value('smegchat_join_duration_seconds_count'), 4);
    const buckets = s.samples.filter((x) => x.name === 'smegchat_join_duration_seconds_bucket');
    assert.equal(buckets.at(-1)!.labels['le'], '+Inf');
    assert.equal(buckets.at(-1)!.value, 4);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'cumulative buckets');
    assert.ok((s.value('smegchat_join_duration_seconds_sum') ?? -1) >= 0);
    // No label anywhere names a board, a session or an address.
    for (const x of s.samples) {
      for (const [k, v] of Object.entries(x.labels)) {
        assert.ok(!['board', 'session', 'address', 'ip'].includes(k), `${x.name} has a label ${k}`);
        assert.ok(!['graph', 'other', sender.welcome.session, '127.0.0.1'].includes(v), `${x.name}{${k}="${v}"}`);
      }
    }
  });

  it('counts a kill -9 as a restart and a reload not, and answers while no worker can run', async (t) => {
    const server = await startSmegchat(t, { workers: 2, args: ['--metrics', '127.0.0.1:0'] });
    const port = metricsPortOf(server);
    const [victim] = server.workerPids();
    process.kill(victim!, 'SIGKILL');
    await until('the killed worker to be gone', () => !isAlive(victim!));
    let s = await scrapeUntil(
      port,
      'the crash replaced',
      (m) => m.value('smegchat_worker_restarts_total') === 1 && m.value('smegchat_workers', { state: 'ready' }) === 2,
    );
    assert.equal(s.value('smegchat_reloads_total', { result: 'ok' }), 0);

    const clients = [await BoardClient.open(server.port, 'reload'), await BoardClient.open(server.port, 'reload')];
    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const closes = await Promise.all(clients.map((c) => c.closed));
    assert.deepEqual(
      closes.map((c) => c.code),
      [1012, 1012],
    );
    s = await scrapeUntil(
      port,
      'the retired workers to have reported their closes',
      (m) => m.value('smegchat_clients_closed_total', { code: '1012' }) === 2,
    );
    assert.equal(s.value('smegchat_worker_restarts_total'), 1, 'a reload is not a crash');
    assert.equal(s.value('smegchat_reloads_total', { result: 'ok' }), 1);
    assert.equal(s.value('smegchat_workers', { state: 'ready' }), 2);

    // Every worker stopped dead: the supervisor still answers, from what it knows.
    const pids = server.workerPids();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    t.after(() => {
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
    });
    s = await scrape(port);
    assert.equal(s.value('smegchat_worker_restarts_total'), 1);
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  });

  it('counts refused connections by reason and closed clients by close code', async (t) => {
    const server = await startSmegchat(t, {
      workers: 1,
      args: ['--metrics', '127.0.0.1:0', '--max-connections-per-ip', '2', '--origins', 'https://ok.example'],
    });
    const port = metricsPortOf(server);
    const a = await BoardClient.open(server.port, 'codes', { origin: 'https://ok.example' });
    const b = await BoardClient.open(server.port, 'codes', { origin: 'https://ok.example' });
    assert.equal(await upgradeRefusal(server.port, '/ws/codes'), 503);
    a.sendRaw('{"t":"stroke",');
    b.sendRaw(Buffer.from([1, 2, 3]), true);
    assert.equal((await a.closed).code, 1007);
    assert.equal((await b.closed).code, 1003);
    // Room again once the worker has reported both sockets closed.
    await scrapeUntil(port, 'the closed sockets to be counted out', (m) => m.value('smegchat_connections') === 0);
    assert.equal(await upgradeRefusal(server.port, '/ws/codes'), 403, 'a wrong origin, once there is room');
    assert.equal(await upgradeRefusal(server.port, '/ws/no%20such'), 400);

    const s = await scrapeUntil(
      port,
      'the worker to report the closes and refusals',
      (m) => m.value('smegchat_connections_refused_total', { reason: 'origin' }) === 1 && m.sum('smegchat_clients_closed_total') === 2,
    );
    assert.equal(s.value('smegchat_connections_refused_total', { reason: 'max-per-address' }), 1);
    assert.equal(s.value('smegchat_connections_refused_total', { reason: 'bad-request' }), 1);
    assert.equal(s.value('smegchat_connections_refused_total', { reason: 'max-connections' }), 0);
    assert.equal(s.value('smegchat_clients_closed_total', { code: '1007' }), 1);
    assert.equal(s.value('smegchat_clients_closed_total', { code: '1003' }), 1);
    assert.equal(s.value('smegchat_connections'), 0);
  });

  it('serves only GET /metrics, to a few connections at once, and drops silent ones', async (t) => {
    const server = await startSmegchat(t, { workers: 1, args: ['--metrics', '127.0.0.1:0'] });
    const port = metricsPortOf(server);
    assert.equal((await httpGet(port, '/')).status, 404);
    assert.equal((await httpGet(port, '/metrics/x')).status, 404);
    const post = await httpGet(port, '/metrics', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET');
    const ok = await httpGet(port, '/metrics?name=x');
    assert.equal(ok.status, 200);
    assert.match(String(ok.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    parsePrometheus(ok.body);

    // Four silent connections take every place; a fifth is closed at once, unanswered.
    const silent: net.Socket[] = [];
    t.after(() => silent.forEach((s) => s.destroy()));
    for (let i = 0; i < 4; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined); // a reset when the timeout drops it
      await new Promise((r) => s.once('connect', r));
      silent.push(s);
    }
    const fifth = net.connect(port, '127.0.0.1');
    fifth.on('error', () => undefined); // closed at once: a reset, as often as not
    let answered = '';
    fifth.on('data', (d) => (answered += d.toString()));
    fifth.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => fifth.once('close', r));
    assert.equal(answered, '');
    // The silent ones are dropped when the header timeout runs out (5 s), and scrapes are served again.
    await Promise.all(silent.map((s) => new Promise((r) => (s.destroyed ? r(null) : s.once('close', r)))));
    assert.equal((await httpGet(port, '/metrics')).status, 200);
  });

  it('refuses a --metrics that is not HOST:PORT, or that cannot be bound, in one line', async (t) => {
    for (const bad of ['9464', ':9464', '127.0.0.1', '127.0.0.1:99999']) {
      const r = spawnSync(process.execPath, [SMEGCHAT, '--metrics', bad, '--workers', '1'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 78, `--metrics ${bad}: ${r.stderr}`);
      assert.match(r.stderr, /^smegchat: --metrics must be HOST:PORT[^\n]*\n$/);
    }
    const holder = net.createServer().listen(0, '127.0.0.1');
    t.after(() => holder.close());
    await new Promise((r) => holder.once('listening', r));
    const taken = (holder.address() as net.AddressInfo).port;
    const server = await startSmegchat(t, { workers: 1, args: ['--metrics', `127.0.0.1:${taken}`], waitReady: false });
    const exit = await server.exited;
    assert.equal(exit.code, 78);
    assert.match(
      server.stderr(),
      new RegExp(`^smegchat: cannot serve metrics on 127\\.0\\.0\\.1:${taken} \\(--metrics\\): already in use\\n$`),
    );
  });
});
