/** GET /healthz as a load balancer does, and waiting (bounded) for a host to answer a status. */
import http from 'node:http';
import { until, type Smegchat } from './smegchat.js';

export function healthz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}

/** Every worker of a host answers /healthz with this status (each request may land on any worker). */
export async function healthIs(host: Smegchat, status: number, ms = 20_000): Promise<void> {
  await until(`/healthz ${status} on port ${host.port}`, async () => (await healthz(host.port)).status === status, ms, 100);
}
