/**
 * The whiteboard page (packages/page) and its static serving
 * (packages/worker/src/static-files.ts), against a real smegchat: a
 * supervisor and its workers on a port of their own, driven over raw HTTP and
 * through Debian's Chromium. No mocks: strokes cross real workers, a worker
 * is really SIGKILLed, a reload is a real `smegctl reload`.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  armOutageStroke,
  boardToClient,
  chatLines,
  choosePen,
  drawStroke,
  inkAt,
  launchBrowser,
  openBoard,
  outageStroke,
  sayInChat,
  strokeCounts,
  touchStroke,
  waitForChat,
  type PageState,
} from './lib/browser.js';
import {
  line,
  noErrors,
  openOnOtherWorker,
  seedBoard,
  smegctl,
  startWithBrowser,
  waitForIds,
  workerPid,
  type Pt,
} from './lib/board-pages.js';
import { REPO_ROOT } from './lib/scratch.js';
import { startSmegchat } from './lib/smegchat.js';

// ------------------------------------------------------------------ helpers

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request with the path sent exactly as given (fetch would normalise `..` away). */
function raw(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<RawResponse> {
  // Node's client frames a GET or DELETE body only when told how: say it, as a real client would.
  if (body !== undefined && headers['transfer-encoding'] === undefined)
    headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${method} ${target} in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

function mid(a: Pt, b: Pt): Pt {
  return [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
}

/** Every id exactly once on the page, and nothing confirmed twice at all. */
function assertExactlyOnce(s: PageState, ids: readonly string[], who: string): void {
  const counts = strokeCounts(s);
  for (const id of ids) assert.equal(counts.get(id), 1, `${who}: stroke ${id} seen ${counts.get(id) ?? 0} times`);
  const seqs = s.confirmed.map((c) => c.seq);
  assert.equal(new Set(seqs).size, seqs.length, `${who}: a seq seen twice`);
  const allIds = s.confirmed.map((c) => c.id);
  assert.equal(new Set(allIds).size, allIds.length, `${who}: a message applied twice`);
}

/** The pages agree on the board: the same messages in the same order. */
function assertSameBoard(states: PageState[], names: string[]): void {
  const key = (s: PageState) => s.confirmed.map((c) => `${c.seq}:${c.id}`);
  const first = key(states[0]!);
  for (let i = 1; i < states.length; i++) {
    const other = key(states[i]!);
    // A page opened later starts after the last clear; compare the common tail.
    const n = Math.min(first.length, other.length);
    assert.deepEqual(other.slice(-n), first.slice(-n), `${names[i]} and ${names[0]} differ`);
    assert.equal(states[i]!.lastSeq, states[0]!.lastSeq, `${names[i]} and ${names[0]} end at different seqs`);
  }
}

/**
 * A TCP relay on a port of its own, to a smegchat port that can change: the
 * page keeps its URL while the server behind it is replaced, as behind a
 * load balancer or after a restart on the same port.
 */
async function relay(t: TestContext, target: number): Promise<{ port: number; target: number }> {
  const sockets = new Set<net.Socket>();
  const state = { port: 0, target };
  const server = net.createServer((client) => {
    const upstream = net.connect(state.target, '127.0.0.1');
    for (const [s, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(s);
      s.on('error', () => other.destroy());
      s.on('close', () => {
        sockets.delete(s);
        other.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

// ------------------------------------------------------------------ static files

describe('static files', () => {
  it('serves the page at / and /b/BOARD: HTML, revalidated, with a strict CSP', async (t) => {
    const { port } = await startSmegchat(t, { workers: 1 });
    for (const target of ['/', '/b/some-board', '/b/Board_2/', '/?board=x', '/b/x?since=3']) {
      const r = await raw(port, 'GET', target);
      assert.equal(r.status, 200, target);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-cache');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.match(String(r.headers['content-security-policy']), /default-src 'none'; script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
      assert.match(r.body.toString(), /<canvas|id="board"/);
      const again = await raw(port, 'GET', target, { 'if-none-match': r.headers.etag! });
      assert.equal(again.status, 304);
      assert.equal(again.body.length, 0);
    }
    const head = await raw(port, 'HEAD', '/');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.ok(Number(head.headers['content-length']) > 1000);
  });

  it('serves versioned assets as immutable, with their types, gzipped when asked', async (t) => {
    const { port } = await startSmegchat(t, { workers: 1 });
    const html = (await raw(port, 'GET', '/')).body.toString();
    const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    const map = /"@smegchat\/protocol":\s*"(\/assets\/[^"]+)"/.exec(html);
    assert.ok(map, 'the import map names the protocol module');
    assets.push(map[1]!);
    const want: Record<string, string> = {
      '.js': 'text/javascript; charset=utf-8',
      '.css': 'text/css; charset=utf-8',
      '.svg': 'image/svg+xml',
    };
    assert.ok(assets.some((a) => a.endsWith('/app/main.js')) && assets.some((a) => a.endsWith('.css')));
    for (const a of new Set(assets)) {
      const r = await raw(port, 'GET', a);
      assert.equal(r.status, 200, a);
      assert.equal(r.headers['content-type'], want[path.extname(a)], a);
      assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable', a);
      assert.ok(r.headers.etag);
    }
    // Every module the page imports is served: follow the imports from main.js.
    const seen = new Set<string>();
    const queue = assets.filter((a) => a.endsWith('.js'));
    while (queue.length > 0) {
      const a = queue.pop()!;
      if (seen.has(a)) continue;
      seen.add(a);
      const r = await raw(port, 'GET', a);
      assert.equal(r.status, 200, `${a} (imported)`);
      for (const m of r.body.toString().matchAll(/from '(\.[^']+)'/g)) queue.push(new URL(m[1]!, `http://x${a}`).pathname);
    }
    assert.ok(seen.size >= 8, `the page loads its modules (${seen.size})`);

    const main = assets.find((a) => a.endsWith('/app/main.js'))!;
    const plain = await raw(port, 'GET', main);
    const zipped = await raw(port, 'GET', main, { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.equal(zipped.headers.vary, 'Accept-Encoding');
    assert.ok(zipped.body.length < plain.body.length);
    assert.deepEqual(gunzipSync(zipped.body), plain.body);
    const refused = await raw(port, 'GET', main, { 'accept-encoding': 'gzip;q=0' });
    assert.equal(refused.headers['content-encoding'], undefined);

    // An old page asking for another version (during a rolling reload) gets the current file, not cached.
    const stale = await raw(port, 'GET', main.replace(/\/assets\/[^/]+\//, '/assets/oldversion1/'));
    assert.equal(stale.status, 200);
    assert.equal(stale.headers['cache-control'], 'no-cache');
  });

  it('serves nothing but the page: no traversal, no listing, no sources or files beside it', async (t) => {
    const { port } = await startSmegchat(t, { workers: 1 });
    const html = (await raw(port, 'GET', '/')).body.toString();
    const version = /\/assets\/([^/]+)\//.exec(html)![1]!;
    const targets = [
      '/index.html',
      '/assets/',
      `/assets/${version}/`,
      `/assets/${version}/app/`,
      `/assets/${version}/app/main.d.ts`,
      `/assets/${version}/app/main.js.map`,
      `/assets/${version}/protocol/index.d.ts`,
      `/assets/${version}/../../package.json`,
      `/assets/${version}/app/../../../../../../etc/passwd`,
      `/assets/${version}/app/%2e%2e/%2e%2e/package.json`,
      `/assets/${version}/%2e%2e%2fpackage.json`,
      `/assets/${version}/index.html`,
      `/assets/${version}/static/style.css`,
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/static/index.html',
      '/dist/main.js',
      '/package.json',
      '/b/',
      '/b/bad%2fname',
      '/b/..',
      `/b/${'x'.repeat(65)}`,
      '/b/a/b',
      '/favicon.ico',
      '//etc/passwd',
      '/\\..\\..\\etc\\passwd',
    ];
    for (const target of targets) {
      const r = await raw(port, 'GET', target);
      assert.equal(r.status, 404, target);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', target);
      assert.doesNotMatch(r.body.toString(), /root:|"name"|<html/i, target);
    }
    const absolute = await raw(port, 'GET', 'http://127.0.0.1/etc/passwd');
    assert.ok(absolute.status === 400 || absolute.status === 404, `absolute-form target: ${absolute.status}`);
  });

  it('refuses other methods (405), request bodies (413) and huge URLs (414)', async (t) => {
    const { port } = await startSmegchat(t, { workers: 1 });
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await raw(port, method, '/', { 'content-type': 'text/plain' }, 'x'.repeat(1000));
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
      assert.equal(r.headers.connection, 'close');
    }
    const withBody = await raw(port, 'GET', '/', { 'content-type': 'text/plain' }, 'hello');
    assert.equal(withBody.status, 413);
    const chunked = await raw(port, 'GET', '/', { 'transfer-encoding': 'chunked' }, 'hello');
    assert.equal(chunked.status, 413);
    const long = await raw(port, 'GET', `/b/x?${'a'.repeat(4000)}`);
    assert.equal(long.status, 414);
    // The worker still serves after all that.
    assert.equal((await raw(port, 'GET', '/')).status, 200);
  });
});

// ------------------------------------------------------------------ the page in Chromium

describe('the whiteboard page in Chromium', () => {
  it('shows a stroke drawn on one worker on a page served by another, and a chat line', async (t) => {
    const { base, browser } = await startWithBrowser(t);
    const a = await openBoard(browser, base, 'pair', { width: 1280, height: 800 });
    // Another window size: the board's coordinates do not depend on it.
    const b = await openOnOtherWorker(browser, base, 'pair', a, { width: 820, height: 640 });
    const [sa, sb] = [await a.state(), await b.state()];
    assert.notEqual(sa.worker, sb.worker);
    t.diagnostic(`pages on workers ${sa.worker} and ${sb.worker}`);

    const path1: Pt[] = [...line([200, 200], [700, 200]), ...line([700, 200], [700, 700]).slice(1)];
    await choosePen(a, '#e03131', 10);
    await drawStroke(a, path1);
    const mine = (await a.waitFor('the stroke confirmed', (s) => s.pending.length === 0 && !s.drawing)).created;
    assert.ok(mine.length >= 1);
    await waitForIds(a, mine, 'the drawing page'); // painted, not only confirmed
    await waitForIds(b, mine, 'the other page');
    for (const p of [mid([200, 200], [700, 200]), mid([700, 200], [700, 700]), [450, 200] as Pt, [700, 450] as Pt]) {
      assert.ok(await inkAt(b, p[0], p[1], '#e03131'), `red ink at ${p} on the other worker's page`);
      assert.ok(await inkAt(a, p[0], p[1], '#e03131'), `red ink at ${p} on the drawing page`);
    }
    assert.ok(!(await inkAt(b, 1200, 800, '#e03131')), 'no red far from the stroke');

    await sayInChat(b, 'hello from the other worker');
    const name = (await b.state()).name;
    await a.waitFor('the chat line', (s) => s.confirmed.some((c) => c.t === 'chat'));
    await waitForChat(a, [`${name}: hello from the other worker`]);
    await b.page.waitForSelector('#chat-lines li:not(.pending)', { timeout: 10_000 });
    assert.equal(await a.page.textContent('#status-text'), `Live · worker ${sa.worker}`);
    noErrors(a, b);
  });

  it('shows the whole board to a page opened later, thousands of strokes drawn in a few frames', async (t) => {
    // The seeding client below sends faster than any person draws.
    const { base, browser, server } = await startWithBrowser(t, ['--rate', '100000', '--rate-burst', '100000']);
    const a = await openBoard(browser, base, 'later');
    const colours = ['#1e1e24', '#e03131', '#2f9e44', '#1971c2'] as const;
    const marks: { colour: string; at: Pt }[] = [];
    for (const [i, colour] of colours.entries()) {
      await choosePen(a, colour, 10);
      const y = 150 + i * 200;
      await drawStroke(a, line([150, y], [1450, y], 8));
      marks.push({ colour, at: [800, y] });
    }
    await sayInChat(a, 'before you came');
    await waitForChat(a, [`${(await a.state()).name}: before you came`]);
    const drawn = (await a.waitFor('all confirmed', (s) => s.pending.length === 0 && !s.drawing)).created;

    const late = await openBoard(browser, base, 'later', { width: 1024, height: 700 });
    await waitForIds(late, drawn, 'the late page');
    for (const m of marks) assert.ok(await inkAt(late, m.at[0], m.at[1], m.colour), `${m.colour} at ${m.at}`);
    assert.deepEqual(await chatLines(late), [`${(await a.state()).name}: before you came`]);
    assertSameBoard([await a.state(), await late.state()], ['first page', 'late page']);

    // A large board: 3000 strokes of 24 points, sent straight to the server.
    const n = 3000;
    await seedBoard(server.port, 'big', n);
    const t0 = Date.now();
    const big = await openBoard(browser, base, 'big');
    await big.waitFor(`${n} strokes painted`, (s) => s.strokes === n && s.backlog === 0, 60_000);
    t.diagnostic(`a board of ${n} strokes opened and painted in ${Date.now() - t0} ms`);
    assert.ok(await inkAt(big, 20 + 5 * 9, 20 + 479 * 2, '#1971c2', 4), 'the last column of strokes is painted');
    noErrors(a, late, big);
  });

  it('loses nothing when the worker of a drawing page is killed: every stroke on every page exactly once', async (t) => {
    const { base, browser, server } = await startWithBrowser(t);
    const a = await openBoard(browser, base, 'crash');
    const b = await openOnOtherWorker(browser, base, 'crash', a, { width: 1000, height: 700 });
    const victim = await workerPid(server, (await a.state()).worker!);

    await choosePen(a, '#2f9e44', 10);
    await drawStroke(a, line([100, 100], [600, 100]));
    // Whatever instant the link drops at, this stroke is drawn right then.
    await armOutageStroke(a, line([100, 900], [1500, 900], 12));

    // A long stroke, in segments: some confirmed before the kill, some sent
    // but never confirmed (the worker is frozen first, so they are certainly
    // in flight when it dies), the rest drawn while the page is cut off.
    const zigzag: Pt[] = Array.from({ length: 40 }, (_, i) => [100 + i * 35, i % 2 ? 300 : 700] as const);
    const client = (p: Pt) => boardToClient(a, p[0], p[1]);
    const beforeLong = (await a.state()).created.length;
    const [x0, y0] = await client(zigzag[0]!);
    await a.page.mouse.move(x0, y0);
    await a.page.mouse.down();
    let i = 1;
    const drawTo = async (end: number) => {
      for (; i < end; i++) {
        const [x, y] = await client(zigzag[i]!);
        await a.page.mouse.move(x, y, { steps: 5 });
      }
    };
    await drawTo(12);
    await a.waitFor('part of the long stroke confirmed', (s) => s.confirmed.some((c) => s.created.indexOf(c.id) >= beforeLong));
    process.kill(victim, 'SIGSTOP');
    await drawTo(20);
    await a.waitFor('segments sent to the frozen worker', (s) => s.link === 'live' && s.pending.length > 0);
    process.kill(victim, 'SIGKILL');
    for (; i < zigzag.length; i++) {
      const [x, y] = await client(zigzag[i]!);
      await a.page.mouse.move(x, y, { steps: 5 });
    }
    await a.page.mouse.up();
    await drawStroke(a, line([900, 100], [1500, 100]));

    const after = await a.waitFor(
      'the page to resume with nothing pending',
      (s) => s.link === 'live' && s.welcomes >= 2 && s.pending.length === 0 && !s.drawing,
      30_000,
    );
    const outage = await outageStroke(a);
    assert.ok(outage.fired && outage.ids.length > 0, 'a stroke was drawn while the link was down');
    assert.notEqual(outage.link, 'live');
    assert.ok(after.lastClose !== null, 'the page saw its connection close');
    const ids = after.created;
    assert.ok(ids.length >= 6, `strokes drawn: ${ids.length}`);
    t.diagnostic(`${ids.length} stroke messages drawn, ${after.resent} sent again after the resume`);
    assert.ok(after.resent > 0, 'what the dead worker had received unconfirmed was sent again');

    const c = await openBoard(browser, base, 'crash');
    const states: PageState[] = [];
    for (const [p, who] of [
      [a, 'the drawing page'],
      [b, 'the page on the other worker'],
      [c, 'a page opened after'],
    ] as const) {
      const s = await waitForIds(p, ids, who);
      assertExactlyOnce(s, ids, who);
      states.push(s);
    }
    assertSameBoard(states, ['drawing page', 'other page', 'late page']);
    for (const p of [a, b, c]) {
      assert.ok(await inkAt(p, 800, 900, '#2f9e44'), 'the outage stroke is painted');
      assert.ok(await inkAt(p, 1200, 100, '#2f9e44'), 'the stroke after the kill is painted');
    }
    noErrors(b, c);
  });

  it('reconnects by itself through smegctl reload and shows the strokes drawn during it', async (t) => {
    const { base, browser, server } = await startWithBrowser(t);
    const a = await openBoard(browser, base, 'reload');
    const b = await openOnOtherWorker(browser, base, 'reload', a);
    await choosePen(a, '#7048e8', 10);
    await choosePen(b, '#f08c00', 10);
    await drawStroke(a, line([100, 100], [700, 100]));
    await drawStroke(b, line([100, 200], [700, 200]));
    await armOutageStroke(a, line([100, 800], [700, 800], 10));
    await armOutageStroke(b, line([900, 800], [1500, 800], 10));

    let reloaded = false;
    const reload = smegctl(server, 'reload').finally(() => (reloaded = true));
    // Keep drawing on both pages for as long as the reload runs (bounded).
    let k = 0;
    for (; !reloaded && k < 60; k++) {
      const y = 300 + (k % 20) * 20;
      const x = k < 20 ? 100 : k < 40 ? 600 : 1100;
      await drawStroke(k % 2 ? b : a, line([x, y], [x + 300, y], 4), 2);
    }
    await reload;
    t.diagnostic(`${k} strokes drawn while the reload ran`);

    const states: PageState[] = [];
    const ids: string[] = [];
    for (const p of [a, b]) {
      const s = await p.waitFor(
        'the page back live with nothing pending',
        (s) => s.link === 'live' && s.welcomes >= 2 && s.pending.length === 0 && !s.drawing,
        30_000,
      );
      assert.equal(s.lastClose?.code, 1012, 'the reload closed the page with 1012');
      const outage = await outageStroke(p);
      assert.ok(outage.fired && outage.ids.length > 0, 'a stroke was drawn while the link was down');
      ids.push(...s.created);
    }
    const c = await openBoard(browser, base, 'reload');
    for (const [p, who] of [
      [a, 'first page'],
      [b, 'second page'],
      [c, 'page opened after'],
    ] as const) {
      const s = await waitForIds(p, ids, who);
      assertExactlyOnce(s, ids, who);
      states.push(s);
    }
    assertSameBoard(states, ['first page', 'second page', 'late page']);
    for (const p of [a, b, c]) {
      assert.ok(await inkAt(p, 400, 800, '#7048e8'), "the first page's outage stroke is painted");
      assert.ok(await inkAt(p, 1200, 800, '#f08c00'), "the second page's outage stroke is painted");
    }
    noErrors(a, b, c);
  });

  it('wipes and redraws the whole board when the server cannot resume it (a new epoch after a power cut)', async (t) => {
    const first = await startSmegchat(t, { workers: 2 });
    const front = await relay(t, first.port);
    const browser = await launchBrowser(t);
    const base = `http://127.0.0.1:${front.port}`;
    const a = await openBoard(browser, base, 'epoch');
    await choosePen(a, '#1971c2', 10);
    for (const y of [200, 400, 600]) await drawStroke(a, line([200, y], [1400, y]));
    const before = await a.waitFor('all confirmed', (s) => s.pending.length === 0 && !s.drawing);

    // A power cut: supervisor and workers gone at once, and the machine
    // boots again (another boot id in the state file), so the restarted
    // server gives every board a new epoch and cannot serve a resume.
    const workers = first.workerPids();
    first.proc.kill('SIGKILL');
    for (const pid of workers) process.kill(pid, 'SIGKILL');
    await first.exited;
    await a.waitFor('the page to notice', (s) => s.link !== 'live');
    const stateFile = path.join(first.dataDir, 'state.json');
    writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(readFileSync(stateFile, 'utf8')), bootId: 'a-boot-before-the-power-cut' }));
    const second = await startSmegchat(t, { workers: 2, dataDir: first.dataDir });
    front.target = second.port;

    const after = await a.waitFor(
      'the page reset and redrawn',
      (s) => s.link === 'live' && s.resets === 1 && s.backlog === 0 && s.lastSeq === before.lastSeq,
      30_000,
    );
    assert.notEqual(after.epoch, before.epoch, 'a new epoch');
    assert.deepEqual(after.confirmed, before.confirmed, 'the board as it was, each message once');
    assert.equal(after.strokes, before.created.length);
    for (const y of [200, 400, 600]) assert.ok(await inkAt(a, 800, y, '#1971c2'), `the stroke at y=${y} redrawn`);

    await drawStroke(a, line([200, 800], [1400, 800]));
    const done = await a.waitFor('the new stroke confirmed', (s) => s.pending.length === 0 && !s.drawing);
    const late = await openBoard(browser, base, 'epoch');
    const seen = await waitForIds(late, done.created, 'a page opened after');
    assertExactlyOnce(seen, done.created, 'a page opened after');
    assertSameBoard([await a.state(), seen], ['reset page', 'late page']);
    noErrors(a, late);
  });

  it('draws with a finger on a phone, in the same place on a desktop; clear asks first, then empties every page', async (t) => {
    const { base, browser } = await startWithBrowser(t);
    const desk = await openBoard(browser, base, 'touch', { width: 1280, height: 800 });
    const phone = await openBoard(
      browser,
      base,
      'touch',
      { width: 390, height: 844 },
      { deviceScaleFactor: 3, hasTouch: true, isMobile: true },
    );
    const [deviceWidth, cssWidth] = (await phone.page.evaluate(
      '(() => { const c = document.getElementById("board-base"); return [c.width, c.getBoundingClientRect().width]; })()',
    )) as [number, number];
    assert.equal(deviceWidth, Math.round(cssWidth * 3), 'the canvas is sized in device pixels');

    await choosePen(phone, '#1971c2', 24);
    await touchStroke(phone, line([200, 500], [1400, 500], 25));
    const ids = (await phone.waitFor('the touch stroke confirmed', (s) => s.pending.length === 0 && !s.drawing && s.created.length > 0))
      .created;
    await waitForIds(phone, ids, 'the phone'); // painted, not only confirmed
    await waitForIds(desk, ids, 'the desktop page');
    for (const x of [300, 800, 1300]) {
      assert.ok(await inkAt(desk, x, 500, '#1971c2'), `the finger's stroke at ${x},500 on the desktop`);
      assert.ok(await inkAt(phone, x, 500, '#1971c2'), `the finger's stroke at ${x},500 on the phone`);
    }

    // The Clear button only asks; Cancel leaves the board as it is.
    await desk.page.click('#clear');
    await desk.page.waitForSelector('#clear-confirm', { state: 'visible' });
    await desk.page.click('#clear-no');
    await desk.page.waitForSelector('#clear-confirm', { state: 'hidden' });
    assert.equal((await desk.state()).pending.length, 0, 'Cancel sent nothing');
    assert.ok(await inkAt(desk, 800, 500, '#1971c2'));

    await desk.page.click('#clear');
    await desk.page.click('#clear-yes');
    for (const [p, who] of [
      [desk, 'desktop'],
      [phone, 'phone'],
    ] as const) {
      await p.waitFor(`the ${who} board cleared`, (s) => s.confirmed.at(-1)?.t === 'clear' && s.strokes === 0 && s.backlog === 0);
      assert.ok(!(await inkAt(p, 800, 500, '#1971c2', 6)), `no ink left on the ${who}`);
      await p.page.waitForSelector('#chat-lines li.note', { state: 'attached', timeout: 10_000 });
    }
    const late = await openBoard(browser, base, 'touch');
    const s = await late.waitFor('the replay', (s) => s.head !== null && s.backlog === 0);
    assert.equal(s.strokes, 0, 'a page opened after the clear sees an empty board');
    noErrors(desk, phone, late);
  });

  it('starts a new board at /, with its name in the URL, and keeps the name the user picked', async (t) => {
    const { base, browser } = await startWithBrowser(t);
    const p = await openBoard(browser, base, null);
    const board = /^\/b\/(board-[a-z0-9]{6})$/.exec(new URL(p.page.url()).pathname)?.[1];
    assert.ok(board, `the URL names the new board: ${p.page.url()}`);
    assert.equal((await p.state()).board, board);
    assert.equal(await p.page.textContent('#board-label'), board);
    const friend = await openBoard(browser, base, board);

    await p.page.fill('#name', 'Marie');
    await p.page.press('#name', 'Tab');
    await p.page.reload();
    await p.waitFor('live after the reload', (s) => s.link === 'live');
    assert.equal(await p.page.inputValue('#name'), 'Marie', 'the name is kept across loads');
    await sayInChat(p, 'same board, same name');
    await waitForChat(friend, ['Marie: same board, same name']);

    await p.page.goto(`${base}/?board=other_board`);
    await p.waitFor('live on the other board', (s) => s.link === 'live' && s.board === 'other_board');
    assert.equal(new URL(p.page.url()).pathname, '/b/other_board');
    noErrors(p, friend);
  });

  it('paces a burst of 600 messages under the rate limit of the server: none refused, each delivered once', async (t) => {
    const { base, browser } = await startWithBrowser(t);
    const a = await openBoard(browser, base, 'burst');
    const b = await openOnOtherWorker(browser, base, 'burst', a);
    // 600 lines submitted at once through the chat form: more than the
    // server's burst (400) allows, so only the page's own pacing saves the link.
    await a.page.evaluate(`(() => {
      const input = document.getElementById('chat-input');
      const form = document.getElementById('chat-form');
      for (let i = 0; i < 600; i++) {
        input.value = 'line ' + i;
        form.requestSubmit();
      }
    })()`);
    const s = await a.waitFor('all 600 confirmed', (s) => s.pending.length === 0 && s.confirmed.length === 600, 30_000);
    assert.equal(s.welcomes, 1, 'the link never dropped');
    assert.equal(s.lastClose, null);
    const other = await b.waitFor('all 600 on the other page', (s) => s.confirmed.length === 600, 30_000);
    assertSameBoard([s, other], ['sender', 'receiver']);
    // The panel keeps the last 500 lines on screen.
    const texts = (await chatLines(b)).map((l) => l.replace(/^[^:]*: /, ''));
    assert.deepEqual(
      texts,
      Array.from({ length: 500 }, (_, i) => `line ${i + 100}`),
      'in order, each once',
    );
    noErrors(a, b);
  });

  it('keeps a screenshot of a drawing for review (test/artifacts/page-screenshot.png)', async (t) => {
    const { base, browser } = await startWithBrowser(t);
    const a = await openBoard(browser, base, 'gallery');
    const b = await openOnOtherWorker(browser, base, 'gallery', a, { width: 1280, height: 800 });
    await b.page.fill('#name', 'ada');
    await b.page.press('#name', 'Tab');
    await a.page.fill('#name', 'grace');
    await a.page.press('#name', 'Tab');

    // A house, a sun and some grass, drawn with the mouse on page a.
    await choosePen(a, '#1e1e24', 4);
    await drawStroke(
      a,
      [
        [450, 800],
        [450, 500],
        [700, 320],
        [950, 500],
        [950, 800],
        [450, 800],
      ],
      8,
    );
    await choosePen(a, '#1971c2', 4);
    await drawStroke(
      a,
      [
        [620, 800],
        [620, 640],
        [780, 640],
        [780, 800],
      ],
      8,
    );
    await choosePen(a, '#e03131', 10);
    await drawStroke(
      a,
      [
        [520, 560],
        [600, 560],
        [600, 620],
        [520, 620],
        [520, 560],
      ],
      6,
    );
    await choosePen(a, '#f08c00', 24);
    const sun: Pt[] = Array.from(
      { length: 33 },
      (_, i) => [1250 + 90 * Math.cos((i / 32) * 2 * Math.PI), 220 + 90 * Math.sin((i / 32) * 2 * Math.PI)] as const,
    );
    await drawStroke(a, sun, 3);
    await choosePen(a, '#2f9e44', 10);
    const grass: Pt[] = Array.from({ length: 60 }, (_, i) => [100 + i * 24, 850 + (i % 2 ? -40 : 0)] as const);
    await drawStroke(a, grass, 3);
    await choosePen(a, '#7048e8', 4);
    const wave: Pt[] = Array.from({ length: 50 }, (_, i) => [120 + i * 6, 250 + 60 * Math.sin(i / 5)] as const);
    await drawStroke(a, wave, 2);

    await sayInChat(a, 'drew us a house');
    await sayInChat(b, 'nice, the sun is from another worker too');
    const ids = (await a.waitFor('all confirmed', (s) => s.pending.length === 0 && !s.drawing)).created;
    await waitForIds(b, ids, 'the viewing page');
    await waitForChat(b, ['grace: drew us a house', 'ada: nice, the sun is from another worker too']);
    await b.page.locator('#chat-lines li.pending').first().waitFor({ state: 'detached', timeout: 10_000 });

    const dir = path.join(REPO_ROOT, 'test', 'artifacts');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'page-screenshot.png');
    await b.page.screenshot({ path: file });
    t.diagnostic(`screenshot: ${path.relative(REPO_ROOT, file)}`);
    noErrors(a, b);
  });
});
