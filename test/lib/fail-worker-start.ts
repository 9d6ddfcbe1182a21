/**
 * A test harness, preloaded into smegchat with NODE_OPTIONS=--import (see
 * failWorkerStartEnv): while the file named by SMEGCHAT_TEST_FAIL_START
 * exists, every worker that starts exits at once, as a worker that cannot
 * start would. The supervisor loads it too and is left alone. So a test can
 * make a reload's replacements fail without a switch in the shipped code.
 */
import { existsSync } from 'node:fs';
import cluster from 'node:cluster';

const marker = process.env['SMEGCHAT_TEST_FAIL_START'];
if (cluster.isWorker && marker !== undefined && existsSync(marker)) {
  process.stderr.write('smegchat worker: failing at start-up as the test asked\n');
  process.exit(70);
}
