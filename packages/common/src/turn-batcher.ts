/**
 * "Do this once at the end of this turn of the event loop": the batching that
 * lets a busy process send one IPC message (or one write) per turn, however
 * many events the turn held. `schedule()` may be called any number of times;
 * the action runs once, in the check phase after the turn's I/O callbacks.
 */
export class TurnBatcher {
  private scheduled = false;

  constructor(private readonly action: () => void) {}

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    this.action();
  };
}
