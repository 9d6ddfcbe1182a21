/**
 * What the page loads of this package (its import map points here, not at
 * index.js): the client protocol only, so a browser does not download the
 * IPC, control and metrics definitions it never uses.
 */
export * from './limits.js';
export * from './close-codes.js';
export * from './client.js';
export * from './presence.js';
export * from './token-bucket.js';
