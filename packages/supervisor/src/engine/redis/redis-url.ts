/**
 * The `--redis` URL: parsed and checked at start-up (a bad one is a
 * configuration error, exit 78), and masked wherever it is shown. Pure: no
 * I/O, so every rule here has a unit test.
 *
 *     redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]     plain TCP
 *     rediss://[[USER]:PASSWORD@]HOST[:PORT][/DB]    TLS
 */

/** Where Redis is and how to log in; the password is kept apart from anything shown. */
export interface RedisTarget {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  /** An ACL user; undefined for the default user. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** The URL as it may be shown: the password replaced by `****`. */
  readonly display: string;
}

export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
}

const DEFAULT_PORT = 6379;
/** Redis's default `databases` is 16; a server may have more. */
const MAX_DB = 65535;

/** Parses a Redis URL; throws RedisUrlError with one line (never echoing the password) when it is not one. */
export function parseRedisUrl(text: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new RedisUrlError(`--redis ${maskRedisUrl(text)} is not a URL (redis://HOST[:PORT][/DB] or rediss://...)`);
  }
  const shown = maskRedisUrl(text);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new RedisUrlError(`--redis ${shown}: the scheme must be redis:// or rediss:// (TLS)`);
  }
  if (u.hostname === '') throw new RedisUrlError(`--redis ${shown}: no host`);
  if (u.search !== '' || u.hash !== '') throw new RedisUrlError(`--redis ${shown}: query and fragment are not understood; remove them`);
  const port = u.port === '' ? DEFAULT_PORT : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RedisUrlError(`--redis ${shown}: bad port`);
  const path = u.pathname.replace(/^\//, '');
  let db = 0;
  if (path !== '') {
    if (!/^\d{1,5}$/.test(path) || Number(path) > MAX_DB) throw new RedisUrlError(`--redis ${shown}: the path must be a database number`);
    db = Number(path);
  }
  const username = u.username === '' ? undefined : decodeURIComponent(u.username);
  const password = u.password === '' ? undefined : decodeURIComponent(u.password);
  // IPv6 literals keep their brackets in `host`, not in `hostname`.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { tls: u.protocol === 'rediss:', host, port, db, username, password, display: shown };
}

/**
 * The URL with any password replaced by `****`, for logs and status. Works on
 * text that is not a valid URL too (it is shown in the error that says so).
 */
export function maskRedisUrl(text: string): string {
  // scheme://userinfo@rest: the password is what follows the first ':' of the
  // userinfo, and the userinfo ends at the last '@' before the path.
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/s.exec(text);
  if (m === null) return text.includes('@') ? '****' : text;
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  const at = authority.lastIndexOf('@');
  if (at < 0) return text;
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  // A userinfo without ':' is an ACL user name alone (its password from --redis-password-file): nothing to hide.
  if (colon < 0) return text;
  return `${scheme}${userinfo.slice(0, colon)}:****${authority.slice(at)}${rest}`;
}

/** Whether the URL carries a password (so it must not come from the command line). */
export function urlHasPassword(text: string): boolean {
  return maskRedisUrl(text) !== text;
}
