/**
 * A real terminal for tests: a tmux server of the test's own, on a socket in
 * its scratch directory (nothing of the host's is touched), running one
 * command in a pane whose screen the test reads and types into.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { until } from './smegchat.js';

export const hasTmux = ['/usr/bin/tmux', '/bin/tmux', '/usr/local/bin/tmux'].some((p) => existsSync(p));

/** Quotes one word for the shell tmux runs the command with. */
export function shellWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface Terminal {
  /** The screen as text, one line a row. */
  screen(): Promise<string>;
  /** Polls the screen until `re` matches (a terminal has no event to wait on), bounded; returns that screen. */
  waitScreen(what: string, re: RegExp, ms?: number): Promise<string>;
  /** Types keys, as tmux send-keys names them ('q', 'Enter', 'C-c'). */
  keys(...keys: string[]): Promise<void>;
  /** Ends the tmux server. Call it before the scratch directory goes (its socket is there). */
  kill(): Promise<void>;
}

export async function openTerminal(
  dir: string,
  command: string,
  opts: { readonly columns?: number; readonly rows?: number; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<Terminal> {
  const socket = path.join(dir, 'tmux.sock');
  const env = { ...process.env, TERM: 'xterm-256color', ...opts.env };
  const tmux = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile('tmux', ['-S', socket, ...args], { env, timeout: 10_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`tmux ${args[0]}: ${err.message} ${stderr}`)) : resolve(stdout),
      ),
    );
  await tmux('new-session', '-d', '-s', 'test', '-x', String(opts.columns ?? 200), '-y', String(opts.rows ?? 50), command);
  const screen = (): Promise<string> => tmux('capture-pane', '-p', '-t', 'test');
  return {
    screen,
    async waitScreen(what, re, ms = 15_000) {
      let last = '';
      await until(what, async () => re.test((last = await screen())), ms, 50).catch((e: Error) => {
        throw new Error(`${e.message}; screen:\n${last}`);
      });
      return last;
    },
    async keys(...keys) {
      await tmux('send-keys', '-t', 'test', ...keys);
    },
    async kill() {
      await tmux('kill-server').catch(() => undefined);
    },
  };
}
