import { createServer, type AddressInfo, type Server } from 'node:net';

/**
 * Listens on an ephemeral loopback port and resolves with the port the kernel gave. The server
 * keeps it: nothing else can take the port between this call and its use. Prefer starting the
 * real process with port 0 and reading the port it reports; use this for servers the test owns.
 */
export async function listenOnFreePort(server: Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * A loopback port nothing listened on a moment ago. Racy by nature (another process may take it
 * before it is used): only for programs that cannot listen on port 0 and report the port (HAProxy,
 * redis-server, a CLI given a URL). Each call returns a port no earlier call of this process
 * returned, so two services of one test never get the same one.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = createServer();
    const port = await listenOnFreePort(server);
    await new Promise((resolve) => server.close(resolve));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no fresh loopback port after 20 tries');
}

const handedOut = new Set<number>();
