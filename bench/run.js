#!/usr/bin/env node
// `npm run bench` launches this: it raises the open-files limit to the hard
// limit (10,000 connections need more than the usual 1,024), as root the hard
// limit itself first (the idle-curve scenario's 100,000 need it), and runs
// the built bench in that shell, passing its arguments and exit status through.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./dist/run.js', import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write('bench: not built yet: run "npm run build" first\n');
  process.exit(1);
}
const child = spawn(
  '/bin/sh',
  [
    '-c',
    '[ "$(id -u)" = 0 ] && ulimit -Hn "$(cat /proc/sys/fs/nr_open)" 2>/dev/null; ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
    process.execPath,
    entry,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
// Ctrl-C reaches the whole foreground group, the bench included; a SIGTERM
// sent to this launcher alone is passed on, so the bench cleans up.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 1)));
