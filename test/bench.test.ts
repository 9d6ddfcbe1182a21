/**
 * The bench's own sanity (issue 6), not smegchat's performance: `--quick`
 * runs, and on a tiny known load (10 clients on one board, 2 senders, 25
 * strokes each) every server gets exactly 500 deliveries counted, none twice,
 * and the clients of smegchat, the ws reference and the floor agree on the order. No
 * performance figure is asserted: timings on a shared machine are noise.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { TREE } from './lib/checkout.js';

// The bench starts smegchat from its own tree, which as root must be one the service user can read.
const BENCH = path.join(TREE, 'bench/run.js');
// Loaded at run time: the bench is built after the tests in `tsc -b`'s order.
const MEASURE_JS = new URL('../../bench/dist/measure.js', import.meta.url).href;
const HISTOGRAM_JS = new URL('../../bench/dist/histogram.js', import.meta.url).href;

interface QuickResult {
  expected: number;
  received: number;
  lost: number;
  duplicates: number;
  seqGaps: number;
  unexpectedCloses: number;
  sampledClients: number;
  disagreeing: number;
  firstProblem: string | null;
  ok: boolean;
}

interface OrderCheck {
  boards: number;
  sampledClients: number;
  disagreeing: number;
  strokesCompared: number;
}

function runQuick(client: 'raw' | 'ws'): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BENCH, '--quick', '--json', '--client', client],
      { cwd: TREE, timeout: 180_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('bench', () => {
  describe('--quick', () => {
    // The raw client is the generator's default; the ws package's client is the reference it is checked against.
    for (const client of ['raw', 'ws'] as const) {
      it(`counts every delivery exactly, once, in one order, on all four servers (${client} client)`, async () => {
        const { code, stdout, stderr } = await runQuick(client);
        const out = JSON.parse(stdout) as { quick: boolean; servers: Record<string, QuickResult> };
        assert.deepStrictEqual(Object.keys(out.servers).sort(), ['floor', 'smegchat', 'socketio', 'ws'], stderr);
        for (const [kind, r] of Object.entries(out.servers)) {
          const why = `${kind}: ${JSON.stringify(r)}\n${stderr}`;
          assert.strictEqual(r.expected, 2 * 25 * 10, why);
          assert.strictEqual(r.received, 500, why);
          assert.strictEqual(r.lost, 0, why);
          assert.strictEqual(r.duplicates, 0, why);
          assert.strictEqual(r.seqGaps, 0, why);
          assert.strictEqual(r.unexpectedCloses, 0, why);
          assert.strictEqual(r.sampledClients, 10, why);
          assert.strictEqual(r.firstProblem, null, why);
          if (kind !== 'socketio') assert.strictEqual(r.disagreeing, 0, why);
          assert.strictEqual(r.ok, true, why);
        }
        assert.strictEqual(code, 0, stderr);
      });
    }
  });

  describe('checkOrder', () => {
    it('counts a client that saw two strokes swapped, and ignores strokes not every client got', async () => {
      const { checkOrder } = (await import(MEASURE_JS)) as {
        checkOrder: (s: { board: number; keys: number[] }[]) => OrderCheck;
      };
      const r = checkOrder([
        { board: 0, keys: [1, 2, 3, 4] },
        { board: 0, keys: [1, 2, 3] }, // lost 4: not disorder
        { board: 0, keys: [2, 1, 3, 4] }, // swapped
        { board: 1, keys: [9] }, // alone on its board: nothing to compare
      ]);
      assert.deepStrictEqual(r, { boards: 1, sampledClients: 3, disagreeing: 1, strokesCompared: 3 });
    });
  });

  describe('LatencyHistogram', () => {
    it('reports percentiles within its 1 % bucket width', async () => {
      const { LatencyHistogram } = (await import(HISTOGRAM_JS)) as {
        LatencyHistogram: new () => { record(us: number): void; percentileUs(p: number): number; maxUs: number };
      };
      const h = new LatencyHistogram();
      for (let us = 1; us <= 100_000; us++) h.record(us);
      for (const [p, exact] of [
        [0.5, 50_000],
        [0.99, 99_000],
      ] as const) {
        const got = h.percentileUs(p);
        assert.ok(got >= exact && got <= exact * 1.011, `p${p * 100}: ${got} for ${exact}`);
      }
      assert.strictEqual(h.maxUs, 100_000);
    });
  });
});
