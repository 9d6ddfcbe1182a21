/**
 * The interactive console of `smegctl shell` and `smegchat -I`: the seed's
 * command shell, with line editing and a history kept across sessions. Each
 * command is one request on its own connection, so the shell outlives a
 * reload. Fed from a pipe instead of a terminal, it answers each line in
 * order and exits non-zero if any command failed, for scripts.
 */
import readline from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { replaceFile } from '@smegchat/common';
import { ControlError, getStatus } from './control-client.js';
import { MAX_WORKERS, MIN_WORKERS } from '@smegchat/protocol';
import { ExitCode, resolveIo, runCommand, type ControlIo } from './control-commands.js';

/** Lines of history kept; the file never grows past this. */
export const HISTORY_MAX = 500;

export const PROMPT = 'smegchat> ';

/**
 * Where the history lives: $SMEGCHAT_HISTORY (empty: keep none), else under
 * $XDG_STATE_HOME as the XDG spec asks of state, else ~/.smegchat_history.
 */
export function historyPath(env: NodeJS.ProcessEnv): string | null {
  const explicit = env['SMEGCHAT_HISTORY'];
  if (explicit !== undefined) return explicit === '' ? null : path.resolve(explicit);
  if (env['XDG_STATE_HOME']) return path.join(env['XDG_STATE_HOME'], 'smegchat', 'history');
  if (env['HOME']) return path.join(env['HOME'], '.smegchat_history');
  return null;
}

/** Oldest first in the file, as people read it; newest first for readline. */
function loadHistory(file: string | null): string[] {
  if (!file) return [];
  try {
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    return lines.slice(-HISTORY_MAX).reverse();
  } catch {
    return []; // no history yet, or not ours to read: start afresh
  }
}

/** Written whole and renamed into place, so a shell killed mid-write leaves the old file intact. */
function saveHistory(file: string, newestFirst: readonly string[]): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  replaceFile(file, [...newestFirst.slice(0, HISTORY_MAX)].reverse().join('\n') + '\n', { tmp: `${file}.${process.pid}.tmp` });
}

/** What a command line asks the loop to do next. */
type Outcome = { readonly code: number; readonly quit: boolean };

interface ShellCommand {
  readonly usage: string;
  readonly help: string;
  run(args: string[], signal: AbortSignal): Promise<Outcome>;
}

/**
 * Runs the shell until quit, Ctrl-D, end of input, or a successful stop;
 * resolves with the exit status. Never rejects for anything the supervisor
 * or the socket does.
 */
export async function runShell(socketPath: string, ioIn: Partial<ControlIo> = {}): Promise<number> {
  const io = resolveIo(ioIn);
  const interactive = Boolean(io.input.isTTY && io.output.isTTY);
  const say = (line: string): void => void io.output.write(line + '\n');
  const complain = (line: string): void => void io.error.write(`${io.program}: ${line}\n`);

  // Say at once when there is nothing to talk to, rather than at the first command.
  try {
    const s = await getStatus(socketPath);
    if (interactive) {
      say(`smegchat ${s.supervisor.version} (pid ${s.supervisor.pid}, ${s.workers.length} workers) on ${socketPath}`);
      say('Type help for the commands; quit or Ctrl-D to leave.');
    }
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    complain(e.message);
    return e.reason === 'permission' ? ExitCode.Permission : e.reason === 'not-running' ? ExitCode.NotRunning : ExitCode.Failed;
  }

  const ok = (code: number, quit = false): Outcome => ({ code, quit });
  const commands: Record<string, ShellCommand> = {
    status: {
      usage: 'status [--json]',
      help: 'one row per worker, the supervisor and totals; --json for the raw object',
      run: async (args, signal) => {
        const json = args.includes('--json') || args.includes('json');
        return ok(await runCommand(socketPath, { cmd: 'status', json }, io, signal));
      },
    },
    reload: {
      usage: 'reload',
      help: 'replace every worker, one at a time, without dropping a stroke',
      run: async (_args, signal) => ok(await runCommand(socketPath, { cmd: 'reload' }, io, signal)),
    },
    scale: {
      usage: 'scale N',
      help: `run N workers (${MIN_WORKERS} to ${MAX_WORKERS})`,
      run: async (args, signal) => {
        const n = Number(args[0]);
        if (args.length !== 1 || !Number.isInteger(n)) {
          complain(`usage: scale N, with N a worker count from ${MIN_WORKERS} to ${MAX_WORKERS}`);
          return ok(ExitCode.Usage);
        }
        return ok(await runCommand(socketPath, { cmd: 'scale', workers: n }, io, signal));
      },
    },
    stop: {
      usage: 'stop',
      help: 'stop smegchat gracefully, then leave the shell',
      run: async (_args, signal) => {
        const code = await runCommand(socketPath, { cmd: 'stop' }, io, signal);
        // Once the server is gone there is nothing left to talk to.
        return ok(code, code === ExitCode.Ok);
      },
    },
    help: {
      usage: 'help',
      help: 'this list',
      run: async () => {
        const width = Math.max(...Object.values(commands).map((c) => c.usage.length));
        for (const c of Object.values(commands)) say(`  ${c.usage.padEnd(width)}  ${c.help}`);
        return ok(ExitCode.Ok);
      },
    },
    quit: { usage: 'quit, exit', help: 'leave the shell (Ctrl-D too); smegchat keeps running', run: async () => ok(ExitCode.Ok, true) },
  };
  const aliases: Record<string, string> = { exit: 'quit', '?': 'help' };

  const histFile = interactive ? historyPath(io.env) : null;
  const rl = readline.createInterface({
    input: io.input,
    // Without a terminal, echoing prompts would only clutter what a script reads.
    ...(interactive ? { output: io.output } : {}),
    terminal: interactive,
    prompt: PROMPT,
    history: loadHistory(histFile),
    historySize: HISTORY_MAX,
    removeHistoryDuplicates: true,
  });
  let historyWarned = false;
  if (histFile) {
    rl.on('history', (h: string[]) => {
      try {
        saveHistory(histFile, h);
      } catch (e) {
        if (!historyWarned) complain(`history not saved to ${histFile}: ${(e as Error).message}`);
        historyWarned = true;
      }
    });
  }

  return new Promise<number>((resolve) => {
    const queue: string[] = [];
    let running: AbortController | null = null;
    let inputEnded = false;
    let finished = false;
    let firstFailure = 0;

    const finish = (code: number): void => {
      if (finished) return;
      finished = true;
      rl.close();
      resolve(code);
    };

    const runLine = async (line: string, signal: AbortSignal): Promise<Outcome> => {
      const [word, ...args] = line.trim().split(/\s+/);
      if (!word) return ok(ExitCode.Ok);
      const name = aliases[word.toLowerCase()] ?? word.toLowerCase();
      const command = commands[name];
      if (!command) {
        complain(`unknown command "${word}": type help for the list`);
        return ok(ExitCode.Usage);
      }
      return command.run(args, signal);
    };

    // One command at a time, in the order typed or piped: a status asked
    // after a reload shows the reloaded workers.
    const pump = async (): Promise<void> => {
      if (running || finished) return;
      while (queue.length > 0 && !finished) {
        const line = queue.shift() as string;
        running = new AbortController();
        const outcome = await runLine(line, running.signal);
        running = null;
        if (outcome.code !== ExitCode.Ok && firstFailure === 0) firstFailure = outcome.code;
        if (outcome.quit) {
          finish(ExitCode.Ok);
          return;
        }
      }
      if (inputEnded) finish(interactive ? ExitCode.Ok : firstFailure);
      else if (interactive) rl.prompt();
    };

    rl.on('line', (line) => {
      queue.push(line);
      void pump();
    });
    rl.on('close', () => {
      if (finished) return;
      // Ctrl-D at the prompt: leave on a fresh line, as shells do.
      if (interactive && !running) io.output.write('\n');
      inputEnded = true;
      void pump();
    });
    // Ctrl-C: while a command runs, stop waiting for it; at the prompt, drop
    // the line being typed. Leaving takes quit or Ctrl-D, so a stray Ctrl-C
    // never ends a session.
    rl.on('SIGINT', () => {
      if (running) {
        running.abort();
        return;
      }
      if (rl.line !== '') {
        // readline has no public way to drop the line; its fields are plain properties.
        const editable = rl as unknown as { line: string; cursor: number };
        editable.line = '';
        editable.cursor = 0;
        io.output.write('^C\n');
      } else {
        io.output.write('\n(quit or Ctrl-D to leave)\n');
      }
      rl.prompt();
    });

    if (interactive) rl.prompt();
  });
}
