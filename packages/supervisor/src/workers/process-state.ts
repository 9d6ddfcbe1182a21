/**
 * A worker process's life as one state machine, its transitions written once
 * (s6-supervise keeps a table of state × event). Whether an exit was planned
 * (a reload, scale or stop asked for it) or a crash follows from the state it
 * exited in: draining and stopping are planned, the others are not.
 *
 * A spare begins `warming` (forked, loading) and waits as `spare` (loaded,
 * listening on its channel); assigned a slot, it goes on from `starting` as a
 * worker forked for that slot does. A worker forked for a slot begins at
 * `starting` and never passes through the spare states.
 */
export type ProcessState = 'warming' | 'spare' | 'starting' | 'ready' | 'draining' | 'stopping' | 'exited';

export type ProcessEvent =
  /** A spare reported it is loaded (`standby`). */
  | 'standby'
  /** A spare was given a slot (`assign`). */
  | 'assign'
  /** It reported ready. */
  | 'ready'
  /** Asked to close its clients with 1012 (reload, scale down) and exit. */
  | 'drain'
  /** Asked to close its clients with 1001 (stop), or killed on purpose (an aborted start, a spare retired). */
  | 'stop'
  /** The process is gone. */
  | 'exit';

const TRANSITIONS: Readonly<Record<ProcessState, Partial<Record<ProcessEvent, ProcessState>>>> = {
  warming: { standby: 'spare', stop: 'stopping', exit: 'exited' },
  spare: { assign: 'starting', stop: 'stopping', exit: 'exited' },
  starting: { ready: 'ready', drain: 'draining', stop: 'stopping', exit: 'exited' },
  ready: { drain: 'draining', stop: 'stopping', exit: 'exited' },
  draining: { stop: 'stopping', exit: 'exited' },
  stopping: { exit: 'exited' },
  exited: {},
};

/** The state after `event`; an event that means nothing in `state` (ready while draining, say) changes nothing. */
export function nextProcessState(state: ProcessState, event: ProcessEvent): ProcessState {
  return TRANSITIONS[state][event] ?? state;
}

/** An exit in this state was asked for: not a crash. */
export function isPlanned(state: ProcessState): boolean {
  return state === 'draining' || state === 'stopping';
}
