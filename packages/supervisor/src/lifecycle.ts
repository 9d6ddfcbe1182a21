/**
 * The supervisor's life as one state machine, its transitions written once:
 * what each command may do in each state, and the one line a refused
 * command answers with. A reload and a scale both move the slots, so at most
 * one of them runs, and neither before the first start serves or once a stop
 * has begun.
 */
export type LifeState = 'starting' | 'running' | 'reloading' | 'scaling' | 'stopping';

export type LifeEvent = 'served' | 'reload' | 'scale' | 'done' | 'stop';

type Outcome = LifeState | { readonly refused: string };

const TABLE: Readonly<Record<LifeState, Readonly<Record<LifeEvent, Outcome>>>> = {
  starting: {
    served: 'running',
    reload: { refused: 'smegchat is still starting: reload once it serves' },
    scale: { refused: 'smegchat is still starting: scale once it serves' },
    done: 'starting',
    stop: 'stopping',
  },
  running: {
    served: 'running',
    reload: 'reloading',
    scale: 'scaling',
    done: 'running',
    stop: 'stopping',
  },
  reloading: {
    served: 'reloading',
    reload: { refused: 'a reload is already running: wait for it to finish' },
    scale: { refused: 'a reload is running: scale after it' },
    done: 'running',
    stop: 'stopping',
  },
  scaling: {
    served: 'scaling',
    reload: { refused: 'a scale is running: reload after it' },
    scale: { refused: 'a scale is running: wait for it to finish' },
    done: 'running',
    stop: 'stopping',
  },
  stopping: {
    served: 'stopping',
    reload: { refused: 'smegchat is stopping' },
    scale: { refused: 'smegchat is stopping' },
    done: 'stopping',
    stop: 'stopping',
  },
};

export class Lifecycle {
  private current: LifeState = 'starting';

  get state(): LifeState {
    return this.current;
  }

  /** Moves on `event`; throws the refusal's one line when the event is not allowed now. */
  move(event: LifeEvent): void {
    const next = transition(this.current, event);
    if (typeof next !== 'string') throw new Error(next.refused);
    this.current = next;
  }
}

/** The table, for tests: the next state, or the refusal. */
export function transition(state: LifeState, event: LifeEvent): Outcome {
  return TABLE[state][event];
}
