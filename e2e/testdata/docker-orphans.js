// A worker that leaves orphans behind: before serving, it runs the static
// orphans program, which forks ORPHANS children and exits without waiting
// for them. They become children of the pid namespace's init, naught.
'use strict';
const { spawnSync } = require('child_process');
const r = spawnSync('/e2e/orphans', [process.env.ORPHANS || '1000'], { stdio: 'inherit' });
if (r.status !== 0) console.error(`orphans failed: status ${r.status} ${r.error || ''}`);
require('./server.js');
