/**
 * What the browser tests of the page share (test/page.test.ts,
 * test/page-view.test.ts): a smegchat and a browser per test, pages on
 * chosen workers, a board seeded straight over a WebSocket, and the waits
 * and checks they all make. Every wait is for a condition, bounded.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { parseServerMessage, type StrokeMessage } from '@smegchat/protocol';
import { launchBrowser, openBoard, type BoardPage, type PageState } from './browser.js';
import { SMEGCTL, startSmegchat, type Smegchat } from './smegchat.js';

export type Pt = readonly [number, number];

export async function startWithBrowser(t: TestContext, args: string[] = []): Promise<{ server: Smegchat; base: string; browser: Browser }> {
  const server = await startSmegchat(t, { workers: 2, args });
  const browser = await launchBrowser(t);
  return { server, base: `http://127.0.0.1:${server.port}`, browser };
}

export function smegctl(server: Smegchat, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SMEGCTL, '--control', server.control, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`smegctl ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

export async function workerPid(server: Smegchat, id: number): Promise<number> {
  const status = JSON.parse(await smegctl(server, 'status', '--json')) as { workers: { id: number; pid: number | null }[] };
  const pid = status.workers.find((w) => w.id === id)?.pid;
  assert.ok(typeof pid === 'number', `worker ${id} has a pid in smegctl status`);
  return pid;
}

/**
 * Opens pages on `board` until one is served by a worker other than
 * `other`'s. The supervisor balances on connection counts, so this takes one
 * or two tries; bounded, and the misses are closed.
 */
export async function openOnOtherWorker(
  browser: Browser,
  base: string,
  board: string,
  other: BoardPage,
  viewport?: { width: number; height: number },
  device?: Parameters<typeof openBoard>[4],
): Promise<BoardPage> {
  const taken = (await other.state()).worker;
  for (let i = 0; i < 8; i++) {
    const p = await openBoard(browser, base, board, viewport, device);
    if ((await p.state()).worker !== taken) return p;
    await p.page.context().close();
  }
  throw new Error(`8 pages in a row landed on worker ${taken}`);
}

/** A straight line of `n` points from a to b: the smoothed curve follows it exactly. */
export function line(a: Pt, b: Pt, n = 6): Pt[] {
  return Array.from({ length: n }, (_, i) => [a[0] + ((b[0] - a[0]) * i) / (n - 1), a[1] + ((b[1] - a[1]) * i) / (n - 1)] as const);
}

/** Waits until a page has every id in `ids` confirmed and its canvas fully painted. */
export function waitForIds(p: BoardPage, ids: readonly string[], what: string, ms = 20_000): Promise<PageState> {
  return p.waitFor(
    `${what}: all ${ids.length} strokes confirmed and painted`,
    (s) => {
      const seen = new Set(s.confirmed.map((c) => c.id));
      return s.link === 'live' && s.backlog === 0 && ids.every((id) => seen.has(id));
    },
    ms,
  );
}

/**
 * No script errors on the pages. Chromium logs each failed WebSocket attempt
 * as an error itself; during an outage those are expected (the page retries),
 * so they are not counted.
 */
export function noErrors(...pages: BoardPage[]): void {
  for (const p of pages) {
    assert.deepEqual(
      p.errors.filter((e) => !/WebSocket connection to .* failed/.test(e)),
      [],
      'the page logged errors',
    );
  }
}

/**
 * Where the seeded strokes lie: `n` zigzags of 24 points, 207 units long,
 * in columns of 480 rows two units apart, alternately orange and blue.
 */
export function seededStroke(i: number): { color: string; points: [number, number][] } {
  const y = 20 + (i % 480) * 2;
  const x0 = 20 + Math.floor(i / 480) * 250;
  const points = Array.from({ length: 24 }, (_, k) => [x0 + k * 9, y + (k % 2) * 3] as [number, number]);
  return { color: i % 2 ? '#1971c2' : '#f08c00', points };
}

/**
 * Sends `n` strokes ({@link seededStroke}) to `board` over one WebSocket and
 * waits for all their echoes. Faster than any person draws: the server must
 * run with a high `--rate` and `--rate-burst`.
 */
export async function seedBoard(port: number, board: string, n: number, ms = 60_000): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${board}`);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    let echoed = 0;
    const allEchoed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${echoed} of ${n} seeded strokes echoed in ${ms} ms`)), ms);
      ws.on('message', (data: Buffer) => {
        const m = parseServerMessage(data.toString());
        if (m !== null && m.t === 'stroke' && ++echoed === n) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (let i = 0; i < n; i++) {
      const msg: StrokeMessage = { t: 'stroke', id: `seed-${i}`, width: 3, ...seededStroke(i) };
      ws.send(JSON.stringify(msg));
    }
    await allEchoed;
  } finally {
    ws.close();
  }
}
