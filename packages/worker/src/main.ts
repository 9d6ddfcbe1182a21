/**
 * A worker process's entry point, forked by the supervisor with node:cluster:
 * as the worker of a slot, or as a spare that becomes one when assigned
 * (spare.ts). It is never root: the supervisor has dropped privileges before
 * forking.
 */
import { IPC_VERSION, WORKER_CONFIG_ENV, parseForkConfig, type SpareConfig, type WorkerConfig } from '@smegchat/protocol';
import { standBy } from './spare.js';
import { Worker } from './worker.js';

function fail(message: string): never {
  process.stderr.write(`smegchat worker: ${message}\n`);
  process.exit(70); // EX_SOFTWARE: the supervisor logs it and backs off
}

function serve(config: WorkerConfig): void {
  const worker = new Worker(config);

  // The supervisor orchestrates stopping. A Ctrl-C in a terminal signals the
  // whole process group: the worker must not die before its clients are told.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => worker.log.debug({ signal }, 'signal ignored: the supervisor decides'));
  }
  // An orphaned worker (its supervisor gone) closes its clients and exits.
  process.on('disconnect', () => {
    worker.log.warn('supervisor gone: stopping');
    void worker.stop(1001);
  });
  process.on('uncaughtException', (err) => {
    worker.log.fatal({ err }, 'uncaught exception: worker exits');
    process.exit(70);
  });

  worker.start();
}

let config: WorkerConfig | SpareConfig;
try {
  config = parseForkConfig(process.env[WORKER_CONFIG_ENV]);
} catch (err) {
  fail((err as Error).message);
}
if (config.ipcVersion !== IPC_VERSION) {
  fail(`IPC version ${IPC_VERSION} does not match the supervisor's ${config.ipcVersion}: restart smegchat to run the new code`);
}
if (process.getuid?.() === 0) fail('refusing to run as root');

if ('spare' in config) {
  standBy(serve, fail);
} else {
  serve(config);
}
