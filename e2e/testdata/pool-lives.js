// A worker that keeps a crash loop going: every life appends a line to the
// file POOL_LIVES; lives 2..POOL_CRASH_LIVES (every later life when unset)
// exit 1 at boot, unless POOL_STABLE=1. Otherwise it is the e2e test
// server (server.js, copied next to it). Meant for --worker-count 1.
'use strict';
const fs = require('fs');
const env = process.env;

fs.appendFileSync(env.POOL_LIVES, `${process.pid} ${env.NAUGHT_WORKER}\n`);
const lives = fs.readFileSync(env.POOL_LIVES, 'utf8').trim().split('\n').length;
const last = env.POOL_CRASH_LIVES ? Number(env.POOL_CRASH_LIVES) : Infinity;
if (env.POOL_STABLE !== '1' && lives > 1 && lives <= last) {
  console.error(`life ${lives}: crashing at boot`);
  process.exit(1);
}
require('./server.js');
