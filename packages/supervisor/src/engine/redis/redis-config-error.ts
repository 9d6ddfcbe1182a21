/**
 * A configuration the user must fix (wrong password, evicting policy): the
 * supervisor exits 78 with it. Apart from the engine, so that a supervisor
 * without --redis can tell it without loading ioredis.
 */
export class RedisConfigError extends Error {
  override readonly name = 'RedisConfigError';
}
