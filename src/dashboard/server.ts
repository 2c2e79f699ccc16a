/**
 * The dashboard (`nova-fleet dashboard`): bull-board — the ecosystem's standard BullMQ UI — mounted at
 * /queues for the batches' queues, and a batch overview of our own at / (status, wave, progress, rate,
 * failures by reason, report links), refreshing live from /api/batches.
 *
 * Bound to 127.0.0.1 by default. Exposed on another interface it requires a token: `Authorization:
 * Bearer T`, or `?token=T` once (then a same-site, HTTP-only cookie).
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { stringify } from 'csv-stringify';
import express, { type NextFunction, type Request, type Response } from 'express';
import { viewAllBatches } from '../engine/batch-view.js';
import { batchQueue, type AgentJobData } from '../engine/jobs.js';
import { CSV_COLUMNS, csvRecord, reportRows } from '../engine/report.js';
import type { BatchStore } from '../store/batch-store.js';
import { BATCH_ID } from '../store/keys.js';
import { OVERVIEW_HTML } from './overview.js';

export interface DashboardOptions {
  store: BatchStore;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Required when `host` is not a loopback address. */
  token?: string;
  /** How often the queue list of bull-board follows new batches. Default 5000 ms. */
  refreshMs?: number;
}

export const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const COOKIE = 'nova_fleet_token';
/** bull-board shows the most recent batches' queues; older ones stay in Redis and in the overview. */
const MAX_QUEUES = 50;

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function tokenGate(token: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim().split('=')).find(([k]) => k === COOKIE)?.[1];
    const query = typeof req.query.token === 'string' ? req.query.token : undefined;
    if (sameToken(query, token)) {
      res.setHeader('set-cookie', `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`);
      const url = new URL(req.originalUrl, 'http://x');
      url.searchParams.delete('token');
      res.redirect(303, url.pathname + url.search);
      return;
    }
    if (sameToken(bearer, token) || sameToken(cookie ? decodeURIComponent(cookie) : undefined, token)) return next();
    res.status(401).type('text/plain').send('nova-fleet dashboard: a token is required (?token=… once, or Authorization: Bearer …)\n');
  };
}

export async function startDashboard(options: DashboardOptions): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const { store } = options;
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.token) throw new Error('a dashboard exposed beyond 127.0.0.1 needs a token');
  const app = express();
  app.disable('x-powered-by');
  if (options.token) app.use(tokenGate(options.token));

  // bull-board, following the batches as they come and go.
  const serverAdapter = new ExpressAdapter().setBasePath('/queues');
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: 'nova-fleet queues' } } });
  const queues = new Map<string, Queue<AgentJobData>>();
  const refreshQueues = async () => {
    const ids = (await store.listBatchIds()).slice(-MAX_QUEUES);
    for (const id of ids) if (!queues.has(id)) queues.set(id, batchQueue(store.redis, store.keys, id));
    for (const [id, queue] of queues) {
      if (!ids.includes(id)) {
        queues.delete(id);
        await queue.close();
      }
    }
    board.replaceQueues([...queues].map(([id, queue]) => new BullMQAdapter(queue, { prefix: `${id}/`, displayName: `batch ${id}` })));
  };
  await refreshQueues();
  const timer = setInterval(() => void refreshQueues().catch(() => {}), options.refreshMs ?? 5000);
  app.use('/queues', serverAdapter.getRouter());

  app.get('/', (_req, res) => {
    res.type('html').send(OVERVIEW_HTML);
  });

  app.get('/api/batches', async (_req, res, next) => {
    try {
      const out = [];
      for (const view of (await viewAllBatches(store)).reverse()) {
        const meta = view.meta;
        out.push({
          id: meta.id,
          kind: meta.kind,
          status: meta.status,
          haltReason: meta.haltReason ?? null,
          createdAt: meta.createdAt,
          total: meta.total,
          done: view.done,
          counts: view.counts,
          rate: Number(view.rate.toFixed(2)),
          etaSeconds: view.etaSeconds ?? null,
          wave: meta.waves ? { current: (meta.wave ?? 0) + 1, of: meta.waves.length, targets: meta.waves } : null,
          topFailures: view.topFailures,
          rollbackOf: meta.rollbackOf ?? null,
        });
      }
      res.json(out);
    } catch (error) {
      next(error);
    }
  });

  app.get('/api/batches/:id/report.csv', async (req, res, next) => {
    try {
      const id = String(req.params.id);
      if (!BATCH_ID.test(id) || !(await store.getBatch(id))) {
        res.status(404).type('text/plain').send('no such batch\n');
        return;
      }
      res.type('text/csv').setHeader('content-disposition', `attachment; filename="${id}.csv"`);
      const csv = stringify({ header: true, columns: [...CSV_COLUMNS] });
      csv.pipe(res);
      for await (const row of reportRows(store, id, { snapshots: false })) {
        if (!csv.write(csvRecord(row))) await once(csv, 'drain');
      }
      csv.end();
    } catch (error) {
      next(error);
    }
  });

  const server: Server = app.listen(options.port ?? 8080, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const queue of queues.values()) await queue.close();
    },
  };
}
