/**
 * Prometheus metrics (prom-client), served on `--metrics-port` by `worker` and `run`:
 *   nova_fleet_api_requests_total{method,status}      API requests by method and status (or failure)
 *   nova_fleet_api_request_duration_seconds{method}   request latency
 *   nova_fleet_agents_total{batch,outcome}            agents finished, by outcome
 *   nova_fleet_rate_limit_waits_total{batch}          requests that waited for their slot of --rate
 *   nova_fleet_rate_limit_wait_seconds_total{batch}   time spent waiting for it
 *   nova_fleet_rate_limited_total{batch}              429s met (each slows the whole batch)
 *   nova_fleet_rate{batch}                            the batch's current request rate (adapts on 429s)
 *   nova_fleet_wave{batch}                            the current wave (1-based) of a staged rollout
 *   nova_fleet_halts_total{batch,reason}              halts (error budget, verification, credentials)
 *   nova_fleet_batch_requests_total{batch,kind}       API requests a batch sent: get, patch, list, calls
 * plus Node's default process metrics. Batch ids are labels: a worker serves a handful at a time.
 */
import { listenOn } from './listen.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ResponseInfo } from './api/client.js';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'nova_fleet_api_requests_total', help: 'Nova API requests by method and status (or transport failure)', labelNames: ['method', 'status'], registers: [this.registry] });
  readonly latency = new Histogram({ name: 'nova_fleet_api_request_duration_seconds', help: 'Nova API request latency', labelNames: ['method'], buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] });
  readonly agents = new Counter({ name: 'nova_fleet_agents_total', help: 'Agents finished, by outcome', labelNames: ['batch', 'outcome'], registers: [this.registry] });
  readonly rateWaits = new Counter({ name: 'nova_fleet_rate_limit_waits_total', help: 'Requests that waited for their slot of the batch rate', labelNames: ['batch'], registers: [this.registry] });
  readonly rateWaitSeconds = new Counter({ name: 'nova_fleet_rate_limit_wait_seconds_total', help: 'Time spent waiting for the batch rate', labelNames: ['batch'], registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'nova_fleet_rate_limited_total', help: '429 answers met', labelNames: ['batch'], registers: [this.registry] });
  readonly rate = new Gauge({ name: 'nova_fleet_rate', help: "The batch's current request rate (requests/s)", labelNames: ['batch'], registers: [this.registry] });
  readonly wave = new Gauge({ name: 'nova_fleet_wave', help: 'Current wave (1-based) of a staged rollout', labelNames: ['batch'], registers: [this.registry] });
  readonly batchRequests = new Counter({ name: 'nova_fleet_batch_requests_total', help: "API requests a batch sent, by kind (get, patch, list, calls)", labelNames: ['batch', 'kind'], registers: [this.registry] });
  readonly halts = new Counter({ name: 'nova_fleet_halts_total', help: 'Batch halts by reason', labelNames: ['batch', 'reason'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'nova_fleet_' });
  }

  /** For NovaClient's onResponse. */
  observeResponse = (info: ResponseInfo): void => {
    this.requests.inc({ method: info.method, status: String(info.status) });
    this.latency.observe({ method: info.method }, info.durationMs / 1000);
  };
}

/** Serves GET /metrics; resolves with the bound port (0 picks a free one). */
export async function serveMetrics(metrics: Metrics, port: number, host = '127.0.0.1'): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end('not found; try /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (error: Error) => res.writeHead(500).end(error.message),
    );
  });
  await listenOn(server, port, host, '--metrics-port');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
