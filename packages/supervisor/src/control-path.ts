/**
 * Where the control socket lives when nobody says. The supervisor and smegctl
 * agree through this one function, so `smegctl status` finds the installed
 * service's socket, and the one of `npm start`, without being told.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The installed service's socket (deploy/ sets --control to this). */
export const SERVICE_CONTROL_PATH = '/run/smegchat/control.sock';

/** The socket a supervisor with this data directory listens on, unless --control says otherwise. */
export function defaultControlPath(dataDir: string): string {
  return path.resolve(dataDir, 'control.sock');
}

/**
 * The socket smegctl talks to: --control, else $SMEGCHAT_CONTROL, else the
 * installed service's, else the one of a server started here with `npm start`.
 */
export function findControlPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env['SMEGCHAT_CONTROL']) return path.resolve(env['SMEGCHAT_CONTROL']);
  // The directory, not the socket: a user outside the service's group cannot see into it,
  // and should hear "permission denied" about the service's socket, not about ./data.
  if (existsSync(path.dirname(SERVICE_CONTROL_PATH))) return SERVICE_CONTROL_PATH;
  return defaultControlPath('data');
}
