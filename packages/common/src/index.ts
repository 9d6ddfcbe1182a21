/** Node-only helpers that the supervisor and the workers share (the protocol package stays free of I/O). */
export { DeadlineError, withDeadline } from './deadline.js';
export {
  fsyncDirectory,
  fsyncDirectorySync,
  isDiskFault,
  replaceFile,
  writeAll,
  writeFileDurably,
  type PartialWriteError,
  type ReplaceOptions,
} from './durable-file.js';
export { httpReply, TOO_MANY_CONNECTIONS } from './http-reply.js';
export { createLogger, LogSink, type Logger } from './logger.js';
export { TurnBatcher } from './turn-batcher.js';
export { clientAddress, normalizeAddress, parseHop, TrustedProxies, type ClientAddress } from './forwarded.js';
