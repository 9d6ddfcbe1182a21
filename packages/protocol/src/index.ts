export * from './limits.js';
export * from './close-codes.js';
export * from './client.js';
export * from './ipc.js';
export * from './control.js';
export * from './token-bucket.js';
export * from './join-url.js';
export * from './metrics.js';
