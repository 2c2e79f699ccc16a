/**
 * Starting a server on a port the operator chose (mock-api, dashboard, --metrics-port): a port that is
 * taken or not ours to bind is an everyday slip, told in one line with the fix (exit 2), never a stack.
 */
import type { Server } from 'node:net';
import { UsageError } from './errors.js';

export async function listenOn(server: Server, port: number, host: string, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new UsageError(`${what}: port ${port} on ${host} is already in use`, 'stop what uses it, or choose another port (0 picks a free one)'));
      else if (error.code === 'EACCES') reject(new UsageError(`${what}: not allowed to listen on port ${port} on ${host}`, 'choose a port above 1023'));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new UsageError(`${what}: cannot listen on ${host}: no such address here`));
      else reject(error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
