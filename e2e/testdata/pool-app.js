// A worker for the pool and zero-downtime tests, listening on PORT.
//   GET /              worker=N pid=P version=V
//   GET /hold          appends its pid to $POOL_DIR/held, answers once the
//                      file $POOL_DIR/release exists (a request in flight)
//   GET /crash         stops accepting, finishes its requests, exits 3
//                      (a crash that loses no accepted connection)
//   GET /offline       sends 'offline', closes, exits once idle
//   GET /offline-twice the same, sending 'offline' twice
// 'shutdown' closes the server; the worker exits once idle.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const env = process.env;

const hello = () => `worker=${env.NAUGHT_WORKER} pid=${process.pid} version=${env.VERSION || ''}\n`;

const server = http.createServer((req, res) => {
  switch (req.url) {
    case '/hold': {
      fs.appendFileSync(path.join(env.POOL_DIR, 'held'), `${process.pid}\n`);
      const poll = setInterval(() => {
        if (fs.existsSync(path.join(env.POOL_DIR, 'release'))) {
          clearInterval(poll);
          res.end(hello());
        }
      }, 10);
      return;
    }
    case '/crash':
      res.end('bye');
      return server.close(() => process.exit(3));
    case '/offline':
    case '/offline-twice':
      process.send('offline');
      if (req.url === '/offline-twice') process.send('offline');
      res.end('offline');
      return server.close(() => process.exit(0));
    default:
      res.end(hello());
  }
});

const port = /^\d+$/.test(env.PORT || '') ? Number(env.PORT) : env.PORT;
server.listen(port, () => process.send('online'));

process.on('message', (message) => {
  if (message === 'shutdown') {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  }
});
