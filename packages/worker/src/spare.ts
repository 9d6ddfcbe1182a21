/**
 * A spare: a worker process forked ahead, that loads everything a worker
 * runs (the modules, the page's files), opens its channel, says `standby`,
 * and then waits, serving nothing, until the supervisor assigns it a slot.
 * It has no worker number, no logger and no sockets until then; what it has
 * to say before, it says on stderr, as a worker that refuses to start does.
 */
import { IPC_VERSION, parseSupervisorMessage, type WorkerConfig, type WorkerMessage } from '@smegchat/protocol';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadStaticFiles } from './static-files.js';

/**
 * One full collection, before the spare says standby: loading leaves
 * garbage that an idle process never allocates enough to collect. Measured
 * 10 s after standby: 17.1 MiB private (RSS 58.1) without, 12.3 (RSS 53.3)
 * with, an idle worker 12.4-13.1. V8 gives `gc` only to contexts made while
 * --expose-gc is set, so it is set for one new context, then unset.
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  v8.setFlagsFromString('--no-expose-gc');
  gc();
}

/** Waits for `assign`; `serve` is what a worker forked for that slot would run. */
export function standBy(serve: (config: WorkerConfig) => void, fail: (message: string) => never): void {
  // The supervisor decides, as for a worker: a Ctrl-C reaches the whole process group.
  const ignore = (): void => undefined;
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, ignore);
  // An orphaned spare has nothing to close.
  const orphaned = (): never => process.exit(0);
  process.on('disconnect', orphaned);
  const uncaught = (err: Error): never => fail(`uncaught exception in a spare: ${err.stack ?? err.message}`);
  process.on('uncaughtException', uncaught);
  const send = (msg: WorkerMessage): void => {
    if (process.connected) process.send!(msg);
  };
  const onMessage = (raw: unknown): void => {
    const msg = parseSupervisorMessage(raw);
    switch (msg?.t) {
      case 'assign':
        if (msg.config.ipcVersion !== IPC_VERSION)
          fail(`assigned with IPC version ${msg.config.ipcVersion}, this spare speaks ${IPC_VERSION}`);
        process.off('message', onMessage);
        process.off('disconnect', orphaned);
        process.off('uncaughtException', uncaught);
        for (const signal of signals) process.off(signal, ignore);
        serve(msg.config);
        return;
      case 'ping':
        send({ t: 'pong', n: msg.n });
        return;
      case 'stop':
        process.exit(0);
      // Nothing else is meant for a spare (Node's own cluster messages share the channel).
    }
  };
  try {
    loadStaticFiles();
  } catch {
    // The worker it becomes logs it (its start loads them again); a spare has no log.
  }
  collectGarbage();
  process.on('message', onMessage);
  send({ t: 'standby', v: IPC_VERSION });
}
