/**
 * `smegchat`: the supervisor's command line. Bad configuration ends it with
 * one clear line on stderr and exit status 78 (EX_CONFIG, which the unit
 * keeps from restarting); anything else that stops start-up, 70.
 */
import { hideBin } from 'yargs/helpers';
import { runCommand, ExitCode } from './control-commands.js';
import { becomeDaemon, isDaemonChild, launchDaemon, reportToLauncher } from './daemon.js';
import { ConfigError, parseOptions, type Config } from './options.js';
import { livePid } from './pid-file.js';
import { Supervisor } from './supervisor.js';

const EX_SOFTWARE = 70;
const EX_CONFIG = 78;

function fail(message: string, status: number): never {
  if (isDaemonChild()) reportToLauncher({ t: 'daemon-failed', message });
  process.stderr.write(`smegchat: ${message}\n`);
  process.exitCode = status;
  // Give the report to the launcher a moment to leave; nothing else is running.
  setTimeout(() => process.exit(status), 100).unref();
  throw new Exited();
}

class Exited extends Error {}

/** -Q: ask the running server to stop, over the control socket, or by its pid file. */
async function quit(config: Config): Promise<number> {
  const status = await runCommand(config.control, { cmd: 'stop' }, { program: 'smegchat' });
  if (status !== ExitCode.NotRunning || config.pidFile === null) return status;
  const pid = livePid(config.pidFile);
  if (pid === null) return status;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300 && livePid(config.pidFile) === pid; i++) await new Promise((r) => setTimeout(r, 100));
  return livePid(config.pidFile) === pid ? ExitCode.Failed : ExitCode.Ok;
}

async function main(): Promise<void> {
  const argv = hideBin(process.argv);
  let config: Config | null;
  try {
    config = parseOptions(argv);
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : `bad arguments: ${(err as Error).message}`, EX_CONFIG);
  }
  if (config === null) return; // --help
  if (config.quit) {
    process.exitCode = await quit(config);
    return;
  }
  if (config.interactive) {
    const { runShell } = await import('./shell.js');
    process.exitCode = await runShell(config.control, { program: 'smegchat' });
    return;
  }
  if (config.daemon && !isDaemonChild()) {
    process.exitCode = await launchDaemon(argv, config.logFile);
    return;
  }
  // A reload parses the command line again, relative to where smegchat was started
  // (a daemon's cwd is / by then, and yargs resolves --config against the cwd).
  const startCwd = process.cwd();
  const reparse = (): Config => {
    const here = process.cwd();
    if (here === startCwd) return parseOptions(argv, startCwd) ?? config;
    process.chdir(startCwd); // may fail after the drop (a start from /root): the reload then says so
    try {
      return parseOptions(argv, startCwd) ?? config;
    } finally {
      process.chdir(here);
    }
  };
  if (isDaemonChild()) becomeDaemon();

  const supervisor = new Supervisor(config, reparse);
  process.on('uncaughtException', (err) => {
    supervisor.emergencyClose(err);
    process.stderr.write(`smegchat: internal error: ${err.message}\n`);
    process.exit(EX_SOFTWARE);
  });
  let port: number;
  try {
    port = await supervisor.start();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, EX_CONFIG);
    supervisor.emergencyClose(err);
    fail(`failed to start: ${(err as Error).message}`, EX_SOFTWARE);
  }
  if (isDaemonChild()) reportToLauncher({ t: 'daemon-ready', port });
}

main().catch((err) => {
  if (err instanceof Exited) return;
  process.stderr.write(`smegchat: ${(err as Error).message}\n`);
  process.exit(EX_SOFTWARE);
});
