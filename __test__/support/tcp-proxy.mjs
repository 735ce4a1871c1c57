// A loopback TCP proxy that a test can cut and restore, to play a database outage.

import net from 'node:net';

/**
 * Forwards 127.0.0.1:<port> to `target`. Modes:
 * - `cut()`: destroys every open connection and stops listening (new connections are refused);
 * - `blackhole()`: drops open connections, then accepts new ones but answers nothing (a hung server);
 * - `stall()`: open connections stay open but carry nothing more, and new ones are answered
 *   nothing (a network partition that sends no reset);
 * - `restore()`: listens again on the same port and forwards.
 */
export async function startTcpProxy(target) {
  const sockets = new Set();
  const pairs = new Set();
  let mode = 'forward';
  let server;

  function track(socket) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  }

  function onConnection(client) {
    track(client);
    if (mode === 'blackhole') {
      client.pause();
      return;
    }
    const upstream = net.connect(target);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('close', () => {
      pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
  }

  async function listen(port) {
    server = net.createServer(onConnection);
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return server.address().port;
  }

  function destroyAll() {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  }

  async function stopListening() {
    if (!server) return;
    const closing = new Promise((resolve) => server.close(resolve));
    server = undefined;
    destroyAll();
    await closing;
  }

  const port = await listen(0);

  return {
    port,
    openConnections: () => sockets.size,
    async cut() {
      mode = 'forward';
      await stopListening();
    },
    async blackhole() {
      await stopListening();
      mode = 'blackhole';
      await listen(port);
    },
    stall() {
      mode = 'blackhole';
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    async restore() {
      await stopListening();
      mode = 'forward';
      await listen(port);
    },
    async close() {
      await stopListening();
    },
  };
}
