// The e2e test server: a naught-style worker whose behaviour the tests set
// through the environment.
//   PORT            where to listen (number, or a unix socket path)
//   VERSION         reported in every response (deploys change it)
//   NO_ONLINE=1     never say 'online'
//   CRASH_AT_BOOT=1 exit 1 before listening
//   CRASH_AFTER_MS  exit 1 that long after 'online'
//   LINGER=1        ignore 'shutdown' and keep a timer alive
//   SLOW_MS         delay every response
//   LOG_REQUESTS=1  print "worker N got URL" when a request arrives
// GET /crash exits the worker at once; GET /offline sends 'offline' and
// closes after the response; GET /env and /argv report them as JSON.
'use strict';
const http = require('http');
const env = process.env;

if (env.CRASH_AT_BOOT === '1') {
  console.error(`worker ${env.NAUGHT_WORKER} crashing at boot`);
  process.exit(1);
}

const server = http.createServer((req, res) => {
  if (env.LOG_REQUESTS === '1') console.log(`worker ${env.NAUGHT_WORKER} got ${req.url}`);
  const reply = () => {
    if (req.url === '/env') return res.end(JSON.stringify(process.env));
    if (req.url === '/argv') return res.end(JSON.stringify(process.argv.slice(2)));
    if (req.url === '/cwd') return res.end(process.cwd());
    if (req.url === '/crash') { res.end('bye'); return setImmediate(() => process.exit(3)); }
    if (req.url === '/offline') {
      process.send('offline');
      res.end('offline');
      return server.close(() => process.exit(0));
    }
    res.end(`worker=${env.NAUGHT_WORKER} pid=${process.pid} version=${env.VERSION || ''}\n`);
  };
  if (env.SLOW_MS) setTimeout(reply, Number(env.SLOW_MS)); else reply();
});

const port = /^\d+$/.test(env.PORT || '') ? Number(env.PORT) : env.PORT;
server.listen(port, () => {
  console.log(`worker ${env.NAUGHT_WORKER} pid ${process.pid} listening`);
  if (env.NO_ONLINE !== '1') process.send('online');
  if (env.CRASH_AFTER_MS) setTimeout(() => process.exit(1), Number(env.CRASH_AFTER_MS));
});

if (env.LINGER === '1') setInterval(() => {}, 1000);

process.on('message', (message) => {
  if (message === 'shutdown' && env.LINGER !== '1') {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  }
});
