/** Reading LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES as sd_listen_fds_with_names(3) does, without libsystemd. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActivationError, chooseSockets, parseListenFds, takeActivation } from '@smegchat/supervisor/dist/socket-activation.js';

describe('parseListenFds', () => {
  it('reads the sockets passed to this pid, from fd 3 on, with their names', () => {
    const env = { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'metrics:web' };
    assert.deepEqual(parseListenFds(env, 42), [
      { fd: 3, name: 'metrics' },
      { fd: 4, name: 'web' },
    ]);
  });

  it('calls them "unknown" without LISTEN_FDNAMES (systemd before 227, systemd-socket-activate without --fdname)', () => {
    assert.deepEqual(parseListenFds({ LISTEN_PID: '7', LISTEN_FDS: '1' }, 7), [{ fd: 3, name: 'unknown' }]);
  });

  it("ignores what was passed to another process (an activated parent's environment), and no LISTEN_PID at all", () => {
    assert.equal(parseListenFds({ LISTEN_PID: '41', LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' }, 42), null);
    assert.equal(parseListenFds({ LISTEN_FDS: '1' }, 42), null);
    assert.equal(parseListenFds({}, 42), null);
  });

  it('refuses what systemd never writes, saying which variable', () => {
    assert.throws(() => parseListenFds({ LISTEN_PID: 'abc', LISTEN_FDS: '1' }, 42), { name: 'ActivationError', message: /LISTEN_PID/ });
    assert.throws(() => parseListenFds({ LISTEN_PID: '42' }, 42), { name: 'ActivationError', message: /LISTEN_FDS/ });
    assert.throws(() => parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: '-1' }, 42), ActivationError);
    assert.throws(() => parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: '1e3' }, 42), ActivationError);
    assert.throws(() => parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: '100000' }, 42), ActivationError);
    assert.throws(() => parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web' }, 42), {
      message: 'LISTEN_FDNAMES names 1 sockets but LISTEN_FDS says 2',
    });
  });

  it('reads LISTEN_FDS=0 as nothing passed', () => {
    assert.deepEqual(parseListenFds({ LISTEN_PID: '42', LISTEN_FDS: '0' }, 42), []);
    assert.equal(chooseSockets([]), null);
  });
});

describe('chooseSockets', () => {
  it('picks by name, whatever the order: "metrics" serves --metrics, every other socket the port', () => {
    const a = chooseSockets([
      { fd: 3, name: 'metrics' },
      { fd: 4, name: 'web' },
      { fd: 5, name: 'smegchat.socket' },
    ]);
    assert.deepEqual(a, {
      web: [
        { fd: 4, name: 'web' },
        { fd: 5, name: 'smegchat.socket' },
      ],
      metrics: { fd: 3, name: 'metrics' },
    });
    assert.deepEqual(chooseSockets([{ fd: 3, name: 'web' }]), { web: [{ fd: 3, name: 'web' }], metrics: null });
  });

  it('refuses a metrics socket without the port, and two metrics sockets', () => {
    assert.throws(() => chooseSockets([{ fd: 3, name: 'metrics' }]), { message: /smegchat\.socket/ });
    assert.throws(
      () =>
        chooseSockets([
          { fd: 3, name: 'metrics' },
          { fd: 4, name: 'metrics' },
          { fd: 5, name: 'web' },
        ]),
      ActivationError,
    );
  });
});

describe('takeActivation', () => {
  it('removes LISTEN_* from the environment, so no worker inherits them, also when they are bad', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '1', LISTEN_FDNAMES: 'web', PATH: '/bin' };
    assert.deepEqual(takeActivation(env, 42), { web: [{ fd: 3, name: 'web' }], metrics: null });
    assert.deepEqual(env, { PATH: '/bin' });
    const bad: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: 'x' };
    assert.throws(() => takeActivation(bad, 42), ActivationError);
    assert.deepEqual(bad, {});
    const other: NodeJS.ProcessEnv = { LISTEN_PID: '41', LISTEN_FDS: '1' };
    assert.equal(takeActivation(other, 42), null);
    assert.deepEqual(other, {});
  });
});
