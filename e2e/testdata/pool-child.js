// A worker with a child: it starts `sleep 1000` (which stays in the
// worker's process group), then runs the e2e test server (server.js,
// copied next to it).
'use strict';
require('child_process').spawn('sleep', ['1000'], { stdio: 'ignore' });
require('./server.js');
