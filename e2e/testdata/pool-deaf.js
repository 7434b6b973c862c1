// The e2e test server (server.js, copied next to it), deaf to the loss of
// its channel: Node's cluster worker exits when the channel closes, this
// one keeps serving, as a worker in any other language might.
'use strict';
require('./server.js');
process.removeAllListeners('disconnect');
