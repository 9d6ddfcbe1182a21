/** What the supervisor needs from this package: the file node:cluster forks for each worker. */
import { fileURLToPath } from 'node:url';

export const WORKER_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));
