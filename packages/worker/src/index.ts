/** What the supervisor needs from this package: its entry point and the logger. */
import { fileURLToPath } from 'node:url';

export { createLogger, LogSink, type Logger } from './logger.js';

/** The file node:cluster forks for each worker. */
export const WORKER_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));
