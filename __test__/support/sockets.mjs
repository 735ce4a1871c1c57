// Raw TCP clients for the standalone server's tests.
import net from 'node:net'

/** A connection to 127.0.0.1:`port`, once it is connected (and left idle). */
export function connectTo(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket))
    socket.on('error', reject)
  })
}
