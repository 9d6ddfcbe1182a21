/**
 * smegctl: the operator's client of a running smegchat (docs/CONTROL.md). Only the
 * command line lives here; what each command does is in control-commands.ts
 * and shell.ts, which `smegchat -Q` and `smegchat -I` share.
 */
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { findControlPath, SERVICE_CONTROL_PATH } from './control-path.js';
import { MAX_WORKERS, MIN_WORKERS } from '@smegchat/protocol';
import { ExitCode, runCommand } from './control-commands.js';
import { checkHistory, formatHistoryCheck, isCorrupt } from './engine/embedded/history-check.js';
import { runShell } from './shell.js';

const PROGRAM = 'smegctl';

function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Every way the command line can be wrong ends the same: one line, a hint, exit 2. */
function usageError(message: string): never {
  process.stderr.write(`${PROGRAM}: ${message.replace(/\s*\n\s*/g, '; ')} (${PROGRAM} --help for usage)\n`);
  process.exit(ExitCode.Usage);
}

async function main(argv: string[]): Promise<number> {
  const args = await yargs(argv)
    .scriptName(PROGRAM)
    .usage(`$0 [--control PATH] <command>\n\nSteers a running smegchat through its control socket.`)
    .option('control', {
      type: 'string',
      requiresArg: true,
      describe:
        `control socket (default: $SMEGCHAT_CONTROL, else ${SERVICE_CONTROL_PATH} when the service is ` +
        'installed, else ./data/control.sock of npm start)',
    })
    .command('status', 'one row per worker, the supervisor, and totals', (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'print the status object as JSON' })
        .option('watch', {
          type: 'boolean',
          default: false,
          describe: 'ask again every --interval seconds: on a terminal, one screen redrawn in place (q or Ctrl-C quits)',
        })
        .option('interval', {
          type: 'number',
          default: 1,
          requiresArg: true,
          describe: 'seconds between two --watch updates (0.2 to 3600)',
        }),
    )
    .command('reload', 'replace every worker, one at a time; returns when done, with a summary')
    .command('stop', 'stop smegchat gracefully; returns once it has exited')
    .command('scale <workers>', `run this many workers (${MIN_WORKERS} to ${MAX_WORKERS})`, (y) =>
      y.positional('workers', { type: 'number', describe: 'worker count' }),
    )
    .command('shell', 'interactive console: status, reload, stop, scale, help, quit')
    .command('check-history', 'check every board log in a data directory, offline, changing nothing', (y) =>
      y
        .option('data-dir', { type: 'string', default: './data', requiresArg: true, describe: "smegchat's --data-dir" })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }),
    )
    .demandCommand(1, 'a command is needed: status, reload, stop, scale, shell or check-history')
    .strict()
    .help()
    .alias('help', ['h', '?'])
    .version(packageVersion())
    .epilog(
      'Exit status: 0 done; 1 smegchat refused or failed; 2 bad usage; 3 smegchat not running; ' +
        '4 permission denied (the socket is for root and the smegchat group).',
    )
    .wrap(null)
    .fail((msg, err) => usageError(msg ?? err?.message ?? 'bad command line'))
    .parseAsync();

  const cmd = String(args._[0]);
  if (cmd === 'check-history') return checkHistoryCommand(String(args['data-dir']), Boolean(args['json']));
  const socketPath = findControlPath(args.control);
  switch (cmd) {
    case 'status': {
      if (!args['watch']) return runCommand(socketPath, { cmd: 'status', json: Boolean(args['json']) });
      const interval = Number(args['interval']);
      if (!(interval >= 0.2 && interval <= 3600)) usageError('--interval must be from 0.2 to 3600 seconds');
      // Ctrl-C (or a TERM) ends the watch cleanly: the terminal gets its screen and cursor back.
      const stop = new AbortController();
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => stop.abort());
      process.stdout.once('error', () => stop.abort()); // a reader that went away (| head)
      return runCommand(socketPath, { cmd: 'status', json: Boolean(args['json']), watchMs: interval * 1000 }, {}, stop.signal);
    }
    case 'reload':
    case 'stop':
      return runCommand(socketPath, { cmd });
    case 'scale':
      return runCommand(socketPath, { cmd: 'scale', workers: Number(args['workers']) });
    case 'shell':
      return runShell(socketPath);
    default:
      usageError(`unknown command "${cmd}"`);
  }
}

/** Exit 0 when no log is corrupt (a torn last line is a crash's, cut at the next load), 1 otherwise. */
function checkHistoryCommand(dataDir: string, json: boolean): number {
  let check;
  try {
    check = checkHistory(dataDir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`${PROGRAM}: cannot read the board logs in ${dataDir}: ${e.code ?? e.message} (is --data-dir right?)\n`);
    return ExitCode.Failed;
  }
  process.stdout.write(json ? JSON.stringify(check, null, 2) + '\n' : formatHistoryCheck(check));
  return check.boards.some(isCorrupt) ? ExitCode.Failed : ExitCode.Ok;
}

process.exitCode = await main(hideBin(process.argv));
