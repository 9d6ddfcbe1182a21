/** The arithmetic and the state tables of the worker lifecycle. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, nextCrashStreak, STABLE_AFTER_MS } from '@smegchat/supervisor/dist/workers/backoff.js';
import { rebalancePlan } from '@smegchat/supervisor/dist/workers/rebalance.js';
import { isPlanned, nextProcessState } from '@smegchat/supervisor/dist/workers/process-state.js';
import { Lifecycle, transition } from '@smegchat/supervisor/dist/lifecycle.js';

describe('crash backoff', () => {
  it('restarts at once, then waits 250 ms doubling, capped at 30 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map(backoffDelay), [0, 250, 500, 1000, 2000]);
    assert.equal(backoffDelay(40), 30_000);
  });

  it('starts the streak over after a stable run', () => {
    assert.equal(nextCrashStreak(5, 100), 6);
    assert.equal(nextCrashStreak(5, STABLE_AFTER_MS), 1);
  });
});

describe('rebalancePlan', () => {
  it('sheds only what is over the share, past the slack', () => {
    assert.deepEqual(rebalancePlan([10, 0]), [5, 0]);
    assert.deepEqual(rebalancePlan([6, 4]), [0, 0], 'one over the share is within the slack');
    assert.deepEqual(rebalancePlan([300, 100, 100]), [133, 0, 0]);
    assert.deepEqual(rebalancePlan([110, 90]), [0, 0], 'within 10 % of the share');
  });

  it('never asks a lone worker to shed', () => {
    assert.deepEqual(rebalancePlan([50]), [0]);
    assert.deepEqual(rebalancePlan([]), []);
  });
});

describe('worker process states', () => {
  it('moves through its life and tells a planned exit from a crash', () => {
    assert.equal(nextProcessState('starting', 'ready'), 'ready');
    assert.equal(nextProcessState('ready', 'drain'), 'draining');
    assert.equal(nextProcessState('draining', 'ready'), 'draining', 'a late ready does not bring a retiring worker back');
    assert.equal(nextProcessState('starting', 'stop'), 'stopping', 'an aborted start is planned');
    assert.equal(nextProcessState('stopping', 'exit'), 'exited');
    assert.deepEqual((['starting', 'ready', 'draining', 'stopping'] as const).map(isPlanned), [false, false, true, true]);
  });

  it('takes a spare from warming to waiting, and once assigned on as a worker; a spare cannot say ready or be drained', () => {
    assert.equal(nextProcessState('warming', 'standby'), 'spare');
    assert.equal(nextProcessState('warming', 'assign'), 'warming', 'only a spare that said standby is assigned');
    assert.equal(nextProcessState('spare', 'ready'), 'spare', 'a spare serves nothing until assigned');
    assert.equal(nextProcessState('spare', 'drain'), 'spare', 'it has no clients to drain');
    assert.equal(nextProcessState('spare', 'assign'), 'starting');
    assert.equal(nextProcessState('starting', 'standby'), 'starting', 'a worker never becomes a spare');
    assert.equal(nextProcessState('spare', 'stop'), 'stopping', 'retired (a reload, fewer spares)');
    assert.deepEqual((['warming', 'spare'] as const).map(isPlanned), [false, false], 'a spare that dies by itself crashed');
  });
});

describe('supervisor lifecycle', () => {
  it('runs one reload or scale at a time, and none before serving or once stopping', () => {
    const life = new Lifecycle();
    assert.throws(() => life.move('reload'), /still starting/);
    life.move('served');
    life.move('reload');
    assert.throws(() => life.move('scale'), /a reload is running/);
    assert.throws(() => life.move('reload'), /already running/);
    life.move('done');
    life.move('scale');
    assert.throws(() => life.move('reload'), /a scale is running/);
    life.move('stop');
    assert.equal(life.state, 'stopping');
    life.move('done');
    assert.equal(life.state, 'stopping', 'a reload ending after a stop began does not undo it');
    assert.deepEqual(transition('stopping', 'scale'), { refused: 'smegchat is stopping' });
  });
});
