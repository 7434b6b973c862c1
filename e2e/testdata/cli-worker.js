// A wrapper around server.js (copied next to it) for the CLI tests, set
// through the environment:
//   EXECARGV_OUT  first write JSON.stringify(process.execArgv) to this file
//   CRASH_WORKER  the worker whose NAUGHT_WORKER equals it exits 1 at boot
//   GATE          run server.js only once this file exists (until then the
//                 worker stays booting: the test decides when it boots)
'use strict';
const fs = require('fs');
const path = require('path');
const env = process.env;

if (env.EXECARGV_OUT) fs.writeFileSync(env.EXECARGV_OUT, JSON.stringify(process.execArgv));
if (env.CRASH_WORKER !== undefined && env.CRASH_WORKER === env.NAUGHT_WORKER) {
  console.error(`worker ${env.NAUGHT_WORKER} crashing at boot`);
  process.exit(1);
}
const boot = () => require(path.join(__dirname, 'server.js'));
if (!env.GATE) {
  boot();
} else {
  const timer = setInterval(() => {
    if (fs.existsSync(env.GATE)) {
      clearInterval(timer);
      boot();
    }
  }, 10);
}
