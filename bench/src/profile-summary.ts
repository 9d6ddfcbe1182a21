/**
 * `node bench/dist/profile-summary.js DIR [TOP]`: where the time went in the
 * .cpuprofile files that `npm run bench -- --profile DIR` left (one per
 * smegchat process), as self and inclusive time per function, busy time only.
 * The bench is the tool the performance work is steered by; this is its
 * second half.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const NOT_BUSY = new Set(['(idle)', '(root)']);

function label(cf: CallFrame): string {
  const where = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|packages)\//, '$1/');
  return `${cf.functionName || '(anonymous)'} ${where}${where ? `:${cf.lineNumber + 1}` : ''}`;
}

function summarise(file: string, top: number): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    selfById.set(id, (selfById.get(id) ?? 0) + dt);
  });
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const [id, t] of selfById) {
    const node = byId.get(id)!;
    if (NOT_BUSY.has(node.callFrame.functionName)) continue;
    busy += t;
    const k = label(node.callFrame);
    self.set(k, (self.get(k) ?? 0) + t);
    // Each function counts once per sample, however often it recurs in the stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (NOT_BUSY.has(cf.functionName)) continue;
      const key = label(cf);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + t);
    }
  }
  const lines = [`== ${path.basename(file)}: ${(total / 1e6).toFixed(2)} s profiled, ${(busy / 1e6).toFixed(2)} s busy`];
  const rank = (m: Map<string, number>): string[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, t]) => `${((100 * t) / Math.max(1, busy)).toFixed(1).padStart(6)}%  ${k}`);
  lines.push('-- self (% of busy)', ...rank(self), '-- inclusive (% of busy)', ...rank(inclusive));
  return lines.join('\n');
}

const [dir, topText] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: node bench/dist/profile-summary.js DIR [TOP]   (DIR as given to npm run bench -- --profile DIR)\n');
  process.exit(2);
}
const top = Number(topText ?? 25);
const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
if (files.length === 0) {
  process.stderr.write(`profile-summary: no .cpuprofile in ${dir}\n`);
  process.exit(1);
}
for (const f of files.sort()) process.stdout.write(`${summarise(path.join(dir, f), top)}\n\n`);
