/**
 * The dashboard (`nova-fleet dashboard`): bull-board — the ecosystem's standard BullMQ UI — mounted at
 * /queues for the batches' queues, and a batch overview of our own at / (status, wave, progress, rate,
 * failures by reason, report links), refreshing live from /api/batches.
 *
 * Bound to 127.0.0.1 by default. Exposed on another interface it requires a token: `Authorization:
 * Bearer T`, or `?token=T` once (then a same-site, HTTP-only cookie).
 */
import { createServer } from 'node:http';
import { listenOn } from '../listen.js';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { UsageError } from '../errors.js';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { stringify } from 'csv-stringify';
import express, { type NextFunction, type Request, type Response } from 'express';
import { viewAllBatches } from '../views/batch-view.js';
import type { AgentJobData } from '../batch/job.js';
import { CSV_COLUMNS, csvRecord, reportRows } from '../views/report.js';
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
  /** bull-board's actions (pause, clean, add, retry jobs…). Off: it is read-only. Needs a token. */
  allowActions?: boolean;
}

export const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** Bound to every interface (a token is then required): any Host may be right. */
const WILDCARD = new Set(['0.0.0.0', '::']);
const COOKIE = 'nova_fleet_token';
/** bull-board shows the most recent batches' queues; older ones stay in Redis and in the overview. */
const MAX_QUEUES = 50;

/** A session cookie lasts this long; then `?token=` again. */
const SESSION_SECONDS = 12 * 3600;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The cookie never holds the token: an expiry and an HMAC of it keyed by the token. */
function sessionValue(token: string, expires: number): string {
  return `${expires}.${createHmac('sha256', token).update(`nova-fleet-dashboard:${expires}`).digest('base64url')}`;
}

function validSession(value: string | undefined, token: string, now: number): boolean {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  if (!match || Number(match[1]) <= now / 1000) return false;
  return sameToken(match[0], sessionValue(token, Number(match[1])));
}

function tokenGate(token: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    // Read raw: a malformed cookie is simply not a session (it used to answer with a stack trace).
    const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim().split('=')).find(([k]) => k === COOKIE)?.[1];
    const query = typeof req.query.token === 'string' ? req.query.token : undefined;
    if (sameToken(query, token)) {
      const expires = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
      res.setHeader('set-cookie', `${COOKIE}=${sessionValue(token, expires)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_SECONDS}`);
      // Never a redirect built from the request's path (`/.//evil.example/?token=T` left the site).
      res.redirect(303, req.path.startsWith('/queues') ? '/queues/' : '/');
      return;
    }
    if (sameToken(bearer, token) || validSession(cookie, token, Date.now())) return next();
    res.status(401).type('text/plain').send('nova-fleet dashboard: a token is required (?token=… once, or Authorization: Bearer …)\n');
  };
}

/**
 * Before anything else: no framing, the Host header must name this server (a page elsewhere that
 * rebinds its DNS name to 127.0.0.1 sends its own name), and a request that changes something must come
 * from a page of this dashboard (a cross-site form POST sends another Origin, or none).
 */
function guard(allowedHosts: () => ReadonlySet<string> | 'any') {
  return (req: Request, res: Response, next: NextFunction) => {
    res.setHeader('content-security-policy', "frame-ancestors 'none'");
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    const host = (req.headers.host ?? '').toLowerCase();
    const allowed = allowedHosts();
    if (allowed !== 'any' && !allowed.has(host)) {
      res.status(421).type('text/plain').send('nova-fleet dashboard: unexpected Host header; open it by the address it listens on\n');
      return;
    }
    if (!SAFE_METHODS.has(req.method) && req.headers.origin !== `http://${host}`) {
      res.status(403).type('text/plain').send('nova-fleet dashboard: a change must come from the dashboard itself (Origin)\n');
      return;
    }
    next();
  };
}

/** Actions shown under the batches (the rest: `nova-fleet audit`). */
const AUDIT_SHOWN = 50;

export async function startDashboard(options: DashboardOptions): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const { store } = options;
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.token) throw new Error('a dashboard exposed beyond 127.0.0.1 needs a token');
  if (options.allowActions && !options.token) throw new UsageError("bull-board's actions change queues: --allow-actions needs a token", 'pass --token T (or set NOVA_FLEET_DASHBOARD_TOKEN)');
  const app = express();
  app.disable('x-powered-by');
  /** Host headers naming this server, once its port is known; a wildcard bind (with its token) takes any. */
  let allowedHosts: Set<string> | 'any' = new Set();
  app.use(guard(() => allowedHosts));
  if (options.token) app.use(tokenGate(options.token));

  // bull-board, following the batches as they come and go.
  const serverAdapter = new ExpressAdapter().setBasePath('/queues');
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: 'nova-fleet queues' } } });
  const queues = new Map<string, Queue<AgentJobData>>();
  const refreshQueues = async () => {
    const ids = (await store.listBatchIds()).slice(-MAX_QUEUES);
    for (const id of ids) if (!queues.has(id)) queues.set(id, store.queue(id));
    for (const [id, queue] of queues) {
      if (!ids.includes(id)) {
        queues.delete(id);
        await queue.close();
      }
    }
    // Read-only unless asked: bull-board can pause, clean and add jobs, and a rewritten job's patch would
    // reach an agent unchecked.
    board.replaceQueues([...queues].map(([id, queue]) => new BullMQAdapter(queue, { prefix: `${id}/`, displayName: `batch ${id}`, readOnlyMode: !options.allowActions })));
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
          submittedBy: meta.submittedBy ?? null,
          requests: view.requests,
          // A calls gate's judgements, for the chart: each wave's two cohorts with their intervals.
          analysis: (view.analyses ?? []).map((a) => ({ wave: a.wave, verdict: a.verdict, mode: a.mode, treated: a.treated, control: a.control, pValue: a.test?.pValue ?? null, requests: a.requests })),
        });
      }
      res.json(out);
    } catch (error) {
      next(error);
    }
  });

  // Who did what (SPEC §16): the newest actions of the audit log, read back as untrusted (audit-log.ts).
  app.get('/api/audit', async (_req, res, next) => {
    try {
      res.json(await store.audit.read({ limit: AUDIT_SHOWN, scan: 5000 }));
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

  // Errors end in one line, never a stack (express prints stacks outside production).
  app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return void res.end();
    res.status(error instanceof URIError ? 400 : 500).type('text/plain').send(error instanceof URIError ? 'bad request\n' : 'nova-fleet dashboard: internal error\n');
  });

  const server: Server = createServer(app);
  try {
    await listenOn(server, options.port ?? 8080, host, 'dashboard');
  } catch (error) {
    // Nothing may keep the process alive after a failed start (it used to go on running, serving nothing).
    clearInterval(timer);
    for (const queue of queues.values()) await queue.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  if (!WILDCARD.has(host)) {
    const names = LOOPBACK.has(host) ? ['localhost', '127.0.0.1', '[::1]'] : [host.includes(':') ? `[${host}]` : host];
    allowedHosts = new Set(names.map((name) => `${name.toLowerCase()}:${port}`));
  } else allowedHosts = 'any';
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
