// A naught-style Node.js server, unmodified from what the original naught
// ran: it says 'online' once listening and closes gracefully on 'shutdown'.
// Every worker calls server.listen(PORT); naught hands them all the same
// socket.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 8000);
const worker = process.env.NAUGHT_WORKER;

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end(`hello from worker ${worker} (pid ${process.pid})\n`);
});

server.listen(port, () => {
  if (process.send) process.send('online');
});

process.on('message', (message) => {
  if (message === 'shutdown') {
    // Stop accepting, finish the requests in flight, then exit.
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  }
});
