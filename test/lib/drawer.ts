/** A test client that draws like a user and reconnects like the page. */
import { stroke, type BoardClient } from './client.js';

/** A client that draws continuously and, when its worker is replaced, resumes as the page does. */
export class Drawer {
  readonly sent: string[] = [];
  readonly closeCodes: number[] = [];
  readonly failures: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private active = true;

  constructor(
    readonly client: BoardClient,
    readonly tag: string,
  ) {
    this.follow();
  }

  /** One stroke per interval: 10 ms is 100 a second, half the per-connection rate limit. */
  start(intervalMs = 10): void {
    this.timer = setInterval(() => {
      const s = stroke(this.tag);
      this.sent.push(s.id);
      // Sent now if connected; otherwise kept unconfirmed and sent again after the resume.
      this.client.send(s);
    }, intervalMs);
  }

  stopDrawing(): void {
    clearInterval(this.timer);
  }

  finish(): void {
    this.stopDrawing();
    this.active = false;
  }

  private follow(): void {
    void this.client.closed.then(async ({ code }) => {
      this.closeCodes.push(code);
      if (!this.active) return;
      // Every attempt must get a welcome: a refused or dropped one is a failure of
      // the reload. Try again a few times anyway, so the boards can still be compared.
      for (let attempt = 0; attempt < 5 && this.active; attempt++) {
        try {
          await this.client.resume();
          this.follow();
          return;
        } catch (e) {
          this.failures.push(`${this.tag}: ${(e as Error).message}`);
        }
      }
    });
  }
}
