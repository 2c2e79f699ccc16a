/**
 * `nova-fleet dashboard [--port N] [--host H] [--token T]`: bull-board for the queues at /queues and
 * a live batch overview at /. Loopback only by default; exposed further, a token is required
 * (`--token` or NOVA_FLEET_DASHBOARD_TOKEN).
 */
import { LOOPBACK, startDashboard } from '../dashboard/server.js';
import { UsageError } from '../errors.js';
import { openStore, type RedisFlags } from '../ops/context.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';

export interface DashboardFlags extends RedisFlags {
  port?: number;
  host?: string;
  token?: string;
  allowActions?: boolean;
}

export async function dashboardCommand(flags: DashboardFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<void> {
  const host = flags.host ?? '127.0.0.1';
  const token = flags.token ?? (process.env.NOVA_FLEET_DASHBOARD_TOKEN || undefined);
  if (!LOOPBACK.has(host) && !token) {
    throw new UsageError(`the dashboard on ${host} would be open to the network without a token`, 'pass --token T (or set NOVA_FLEET_DASHBOARD_TOKEN), or keep the default --host 127.0.0.1');
  }
  if (flags.allowActions && !token) throw new UsageError("bull-board's actions change queues: --allow-actions needs a token", 'pass --token T (or set NOVA_FLEET_DASHBOARD_TOKEN)');
  const ctx = await openStore(flags, { readOnly: true });
  try {
    const dashboard = await startDashboard({ store: ctx.store, port: flags.port ?? 8080, host, ...(token ? { token } : {}), ...(flags.allowActions ? { allowActions: true } : {}) });
    out.result(`dashboard: ${dashboard.url} (queues: ${dashboard.url}queues)${token ? ' — token required' : ''}; Ctrl-C to stop`, { url: dashboard.url, port: dashboard.port });
    await until;
    await dashboard.close();
  } finally {
    ctx.close();
  }
}
