#!/usr/bin/env node
// A launcher, committed as plain JavaScript: npm links bins before any build
// step runs, so the bin must exist in a fresh clone. It loads the build.
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const entry = new URL('../dist/smegctl-cli.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('smegctl: not built yet: run "npm run build" in the smegchat checkout\n');
  process.exit(1);
}
await import(entry.href);
