// A Node.js parent of naught, as a Node.js service manager would be:
//   node cli-parent.js <naught> <args...>
// spawns naught with an IPC channel, collects every message naught sends
// on it, sends SIGTERM once Ready arrived when STOP_ON_READY=1, and when
// naught is gone (and the channel closed) prints
//   {"code":..,"signal":..,"messages":[...]}
'use strict';
const { spawn } = require('child_process');

const [naught, ...args] = process.argv.slice(2);
const messages = [];
const child = spawn(naught, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
const guard = setTimeout(() => child.kill('SIGKILL'), 20000);
child.on('message', (m) => {
  messages.push(m);
  if (m && m.event === 'Ready' && process.env.STOP_ON_READY === '1') child.kill('SIGTERM');
});
child.on('close', (code, signal) => {
  clearTimeout(guard);
  process.stdout.write(JSON.stringify({ code, signal, messages }));
});
