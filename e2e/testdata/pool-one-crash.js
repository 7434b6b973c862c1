// The e2e test server (server.js, copied next to it), except that worker
// number POOL_CRASH_WORKER exits 1 at boot.
'use strict';
if (process.env.NAUGHT_WORKER === process.env.POOL_CRASH_WORKER) {
  console.error(`worker ${process.env.NAUGHT_WORKER} crashing at boot`);
  process.exit(1);
}
require('./server.js');
