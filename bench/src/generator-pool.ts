/**
 * The load-generator processes, driven as one: clients are dealt out across
 * them, every command goes to all, and their replies are merged. On a small
 * machine one generator process would saturate before the server does.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientSpec, ConnectReply, GeneratorCommand, GeneratorReply, RunCommand, RunReply, Target } from './gen-protocol.js';

const GENERATOR = fileURLToPath(new URL('./generator.js', import.meta.url));
const COMMAND_TIMEOUT_MS = 120_000;

/** All generators' replies to one run, summed. */
export type MergedRun = Omit<RunReply, 'ev'>;

class Generator {
  private readonly waiting: { resolve: (r: GeneratorReply) => void; reject: (e: Error) => void }[] = [];
  private exited = false;

  constructor(readonly child: ChildProcess) {
    child.on('message', (r: GeneratorReply) => this.waiting.shift()?.resolve(r));
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.splice(0)) w.reject(new Error(`generator exited (${signal ?? code})`));
    });
  }

  request(cmd: GeneratorCommand): Promise<GeneratorReply> {
    if (this.exited) return Promise.reject(new Error('generator is gone'));
    // A connect has its own deadline, which may be longer (a big idle crowd): the answer is waited for past it.
    const timeoutMs = cmd.cmd === 'connect' ? Math.max(COMMAND_TIMEOUT_MS, cmd.timeoutMs + 10_000) : COMMAND_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`generator did not answer ${cmd.cmd} within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push({
        resolve: (r) => {
          clearTimeout(timer);
          if (r.ev === 'failed') reject(new Error(`generator: ${r.error}`));
          else resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send(cmd);
    });
  }

  /** Asks it to go (it exits when its IPC channel closes), killing it if it lingers. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        resolve();
      }, 3000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.child.connected) this.child.disconnect();
    });
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

export class GeneratorPool {
  private readonly generators: Generator[];
  /** Clients per board over all generators, from the last connect. */
  clientsPerBoard: number[] = [];

  constructor(count: number) {
    const profileDir = process.env['SMEGCHAT_BENCH_PROFILE_GENERATORS'];
    this.generators = Array.from(
      { length: count },
      () =>
        new Generator(
          fork(GENERATOR, [], {
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            serialization: 'advanced',
            // To see where the generator's own time goes (SMEGCHAT_BENCH_PROFILE_GENERATORS=DIR).
            execArgv: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
          }),
        ),
    );
  }

  get size(): number {
    return this.generators.length;
  }

  get pids(): number[] {
    return this.generators.map((g) => g.child.pid!);
  }

  /** Opens `clients` (dealt round-robin over the generators); fails when any could not connect. */
  async connect(
    target: Target,
    boardNames: string[],
    clients: ClientSpec[],
    concurrency = 50,
    timeoutMs = 60_000,
  ): Promise<{ ms: number }> {
    this.clientsPerBoard = new Array<number>(boardNames.length).fill(0);
    for (const c of clients) this.clientsPerBoard[c.board]!++;
    const shares: ClientSpec[][] = this.generators.map(() => []);
    clients.forEach((c, i) => shares[i % shares.length]!.push(c));
    const replies = (await Promise.all(
      this.generators.map((g, i) => g.request({ cmd: 'connect', target, boardNames, clients: shares[i]!, concurrency, timeoutMs })),
    )) as ConnectReply[];
    const failed = replies.reduce((s, r) => s + r.failed, 0);
    if (failed > 0) {
      const first = replies.find((r) => r.firstError)?.firstError ?? 'timeout';
      throw new Error(`${failed} of ${clients.length} clients could not connect to ${target.kind}: ${first}`);
    }
    return { ms: Math.max(...replies.map((r) => r.ms)) };
  }

  async run(cmd: RunCommand): Promise<MergedRun> {
    const replies = (await Promise.all(this.generators.map((g) => g.request(cmd)))) as RunReply[];
    const histogram = new Array<number>(replies[0]!.histogram.length).fill(0);
    const sentInWindow = new Array<number>(replies[0]!.sentInWindow.length).fill(0);
    for (const r of replies) {
      r.histogram.forEach((c, i) => (histogram[i]! += c));
      r.sentInWindow.forEach((c, i) => (sentInWindow[i]! += c));
    }
    const sum = (f: (r: RunReply) => number): number => replies.reduce((s, r) => s + f(r), 0);
    const max = (f: (r: RunReply) => number): number => Math.max(...replies.map(f));
    return {
      sentInWindow,
      sentTotal: sum((r) => r.sentTotal),
      received: sum((r) => r.received),
      histogram,
      maxLatencyUs: max((r) => r.maxLatencyUs),
      duplicates: sum((r) => r.duplicates),
      seqGaps: sum((r) => r.seqGaps),
      unexpectedCloses: sum((r) => r.unexpectedCloses),
      errorFrames: sum((r) => r.errorFrames),
      firstProblem: replies.find((r) => r.firstProblem)?.firstProblem ?? null,
      samples: replies.flatMap((r) => r.samples),
      cpuSeconds: sum((r) => r.cpuSeconds),
      windowSeconds: max((r) => r.windowSeconds),
      loopDelayP99Ms: max((r) => r.loopDelayP99Ms),
      sendLagMaxMs: max((r) => r.sendLagMaxMs),
      resent: sum((r) => r.resent),
      reconnects: replies.flatMap((r) => r.reconnects),
    };
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.request({ cmd: 'disconnect' })));
  }

  /** Lets the generators exit on their own (so a profile gets written), then makes sure they did. */
  async close(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.close()));
  }

  /** For an exit handler: nothing asynchronous is left to wait for. */
  kill(): void {
    for (const g of this.generators) g.kill();
  }
}
