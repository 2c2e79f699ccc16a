/** A loopback webhook receiver: every POSTed JSON body kept, in order of arrival. */
import http from 'node:http';

export async function hook<T = Record<string, unknown>>(): Promise<{ events: T[]; url: string; close: () => void }> {
  const events: T[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      events.push(JSON.parse(body) as T);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { events, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, close: () => server.close() };
}
