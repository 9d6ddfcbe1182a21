/**
 * Everything the supervisor sends one worker, in order, flushed once per
 * turn of the event loop (after the history writes of that turn). Deliveries
 * queued back to back travel as one IPC message.
 */
import type { DeliverItem, SupervisorMessage } from '@smegchat/protocol';

export class Outbox {
  private queue: SupervisorMessage[] = [];
  private openDeliver: DeliverItem[] | null = null;

  constructor(
    /** Names the worker process in logs. */
    readonly label: string,
    private readonly send: (msg: SupervisorMessage) => void,
  ) {}

  push(msg: SupervisorMessage): void {
    this.openDeliver = null;
    this.queue.push(msg);
  }

  pushDeliver(item: DeliverItem): void {
    if (this.openDeliver === null) {
      this.openDeliver = [];
      this.queue.push({ t: 'deliver', items: this.openDeliver });
    }
    this.openDeliver.push(item);
  }

  flush(): void {
    const queue = this.queue;
    this.queue = [];
    this.openDeliver = null;
    for (const msg of queue) this.send(msg);
  }
}
