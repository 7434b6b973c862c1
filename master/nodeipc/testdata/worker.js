'use strict';
// Test worker for package nodeipc. Usage:
//   node worker.js echo                      readiness + message round trip
//   node worker.js http '<listen args JSON>' [sendhandle|selfdisconnect]
//   node worker.js https <cert> <key> <port>
// It reports what happens with process.send({ev: ...}).
const cluster = require('cluster');
const fs = require('fs');
const http = require('http');
const https = require('https');

const mode = process.argv[2];
const report = (o) => process.send(o);

process.on('message', (m) => {
  if (m === 'shutdown') {
    report({ ev: 'got', msg: m });
    if (mode === 'echo') process.disconnect();
    return;
  }
  report({ ev: 'echo', msg: m });
});

function serve(server, args, after) {
  server.on('error', (e) =>
    report({ ev: 'error', code: e.code, errno: e.errno, syscall: e.syscall, message: e.message }));
  server.listen(...args, () => {
    process.send('online');
    report({ ev: 'listening', address: server.address(), pid: process.pid, isWorker: cluster.isWorker });
    if (after) after(server);
  });
}

const handler = (req, res) => res.end(String(process.pid));

switch (mode) {
  case 'echo':
    process.send('online');
    break;
  case 'http': {
    const then = process.argv[4];
    serve(http.createServer(handler), JSON.parse(process.argv[3]), (s) => {
      if (then === 'sendhandle') {
        process.send('with-handle', s);
        process.send('after-handle');
      } else if (then === 'selfdisconnect') {
        cluster.worker.disconnect();
      }
    });
    break;
  }
  case 'https': {
    const [cert, key, port] = process.argv.slice(3);
    const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handler);
    serve(server, [Number(port)], (s) => report({ ev: 'tls', ticketKeys: s.getTicketKeys().toString('hex') }));
    break;
  }
  default:
    throw new Error('unknown mode ' + mode);
}
