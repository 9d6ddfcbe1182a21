/**
 * smegchat installed as a service in a sandbox systemd (sandbox.ts), and what a test
 * asks systemd about it.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Sandbox } from './sandbox.js';
import { REPO_ROOT } from './scratch.js';

export const UNIT = 'smegchat.service';

/** A port below 1024 free on the host's loopback (the sandbox shares the host's network). */
export async function freePrivilegedPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 600 + Math.floor(Math.random() * 400);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 600 and 999 on 127.0.0.1');
}

export async function show(sb: Sandbox, ...props: string[]): Promise<Record<string, string>> {
  const out = await sb.ok(['systemctl', 'show', ...props.flatMap((p) => ['-p', p]), UNIT]);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** systemctl start, which returns on READY=1; on failure the error carries the unit's journal. */
export async function start(sb: Sandbox): Promise<void> {
  const r = await sb.run(['systemctl', 'start', UNIT], 90_000);
  if (r.code === 0) return;
  const journal = await sb.run(['journalctl', '-u', UNIT, '-n', '30', '-o', 'cat', '--no-pager']);
  throw new Error(`systemctl start ${UNIT} exited ${r.code}: ${r.stderr}\n${journal.stdout}`);
}

export interface StatusJson {
  supervisor: { pid: number; uid: number; gid: number };
  /** `id` null: a warm spare. */
  workers: { id: number | null; pid: number | null; state: string }[];
}

export async function status(sb: Sandbox): Promise<StatusJson> {
  return JSON.parse(await sb.ok(['smegctl', 'status', '--json'], 20_000)) as StatusJson;
}

/**
 * Writes the example config on `port`, loopback only, 2 workers (and `extra`), then runs
 * install.sh, which keeps that config and writes the socket unit's ListenStream= from it.
 */
export async function installService(
  sb: Sandbox,
  port: number,
  extra: Record<string, unknown> = {},
): Promise<{ uid: number; gid: number; config: Record<string, unknown> }> {
  const example = JSON.parse(readFileSync(path.join(REPO_ROOT, 'deploy/config.example.json'), 'utf8')) as Record<string, unknown>;
  const config = { ...example, port, host: '127.0.0.1', workers: 2, ...extra };
  await sb.ok(['sh', '-c', 'mkdir -p /etc/smegchat && printf %s "$1" > /etc/smegchat/config.json', 'sh', JSON.stringify(config)]);
  await sb.ok([path.join(REPO_ROOT, 'deploy/install.sh')], 180_000);
  const uid = Number((await sb.ok(['id', '-u', 'smegchat'])).trim());
  const gid = Number((await sb.ok(['id', '-g', 'smegchat'])).trim());
  if (!(uid > 0 && gid > 0)) throw new Error(`install.sh made no user smegchat (${uid}:${gid})`);
  return { uid, gid, config };
}
