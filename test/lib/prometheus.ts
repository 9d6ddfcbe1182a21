/**
 * The Prometheus text exposition format, read strictly enough for tests: every
 * sample must belong to a family declared with # TYPE, names and labels must
 * be well formed, and values numbers. A scrape helper fetches /metrics.
 */
import http from 'node:http';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
  /** The value of one series (labels must match exactly); undefined if absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum over every series of a name whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (m === null) throw new Error(`malformed labels in: ${line}`);
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

/** The family a sample belongs to: histograms and summaries add suffixes to their name. */
function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (types.get(base) === 'histogram' || types.get(base) === 'summary') return base;
    }
  }
  return undefined;
}

export function parsePrometheus(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) throw new Error(`malformed comment: ${line}`);
      if (!NAME.test(m[2]!)) throw new Error(`malformed metric name: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!)) throw new Error(`unknown type: ${line}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`malformed sample: ${line}`);
    // Prometheus reads values as Go's ParseFloat does: NaN and Inf in any case (prom-client writes "Nan").
    const word = m[3]!.toLowerCase();
    const value = word === 'nan' ? NaN : word === '+inf' || word === 'inf' ? Infinity : word === '-inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && word !== 'nan') throw new Error(`malformed value: ${line}`);
    if (familyOf(m[1]!, types) === undefined) throw new Error(`sample of no declared family: ${line}`);
    samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value });
  }
  const matches = (s: Sample, name: string, labels: Record<string, string>, exact: boolean): boolean =>
    s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v) &&
    (!exact || Object.keys(s.labels).length === Object.keys(labels).length);
  return {
    types,
    samples,
    value: (name, labels = {}) => samples.find((s) => matches(s, name, labels, true))?.value,
    sum: (name, labels = {}) => samples.filter((s) => matches(s, name, labels, false)).reduce((a, s) => a + s.value, 0),
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP request to 127.0.0.1:port, bounded. */
export function httpGet(port: number, path: string, method = 'GET', ms = 10_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, timeout: ms }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${ms} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function scrape(port: number): Promise<Scrape> {
  const r = await httpGet(port, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.body}`);
  return parsePrometheus(r.body);
}

/** Scrapes until `cond` holds (workers report once a second), bounded; returns the scrape that satisfied it. */
export async function scrapeUntil(port: number, what: string, cond: (s: Scrape) => boolean, ms = 15_000): Promise<Scrape> {
  const deadline = Date.now() + ms;
  let last: Scrape | undefined;
  for (;;) {
    last = await scrape(port);
    if (cond(last)) return last;
    if (Date.now() > deadline) {
      const ours = last.samples.filter((s) => s.name.startsWith('smegchat_') && !s.name.includes('_bucket'));
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}; last scrape:\n${ours.map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
