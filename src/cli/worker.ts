/**
 * `nova-fleet worker [--concurrency N] [--queue BATCH…]`: process jobs of every active batch (or the
 * given ones) until SIGINT/SIGTERM, then finish in-flight requests and exit 0. Run as many as needed,
 * on as many machines as needed, against the same Redis. Workers without --queue also run the scheduled
 * drift checks (`drift BATCH --every 6h`).
 */
import { maskUrlPassword } from '../config.js';
import { WorkerPool } from '../worker/worker-pool.js';
import { startDriftChecks } from '../ops/drift-checks.js';
import { Journal } from '../journal/journal.js';
import { checkBatchId } from '../batch/batch-id.js';
import { closePool, configFrom, type ApiFlags, type RedisFlags } from '../ops/context.js';
import { apiClient, startMetrics } from '../ops/api-context.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';
import { openRedis } from '../store/connect.js';
import { createLogger, type LogFormat, type LogLevel } from '../log.js';
import { atMost } from '../wait.js';

export interface WorkerFlags extends RedisFlags, ApiFlags {
  queue?: string[];
  /** Seconds to let in-flight jobs finish after a signal before their requests are aborted. Default 30. */
  grace?: number;
  /**
   * BullMQ lock duration in ms: a job whose worker died is picked up by another after about this long.
   * Default 30 000; shorter means faster recovery and more Redis traffic for lock renewal.
   */
  lockDuration?: number;
  /** May run batches' --verify-cmd commands (they are read from Redis: opt in only where safe). */
  runVerify?: boolean;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
  metricsPort?: number;
}

export async function workerCommand(flags: WorkerFlags, out: Output, until: Promise<unknown> = untilSignal()): Promise<void> {
  const config = configFrom(flags);
  const log = createLogger({ ...(flags.logFormat ? { format: flags.logFormat } : {}), ...(flags.logLevel ? { level: flags.logLevel } : {}) });

  const only = (flags.queue ?? []).map(checkBatchId);
  apiClient(config).close(); // no key: exit 2 before anything starts
  // Checked once with a ping (exit 3 with a hint when it is down), not found out later by every poll.
  const { redis, target } = await openRedis({ url: config.redisUrl, writes: { note: (line) => log.warn(line) } });
  redis.disconnect();
  const served = await startMetrics(flags.metricsPort, (line) => log.info(line));
  const client = apiClient(config, served?.metrics.observeResponse);
  // One pool for every batch named: --concurrency is this process's whole budget (not one per batch).
  const pool = new WorkerPool({
    redisUrl: target.url,
    prefix: config.prefix,
    client,
    concurrency: config.concurrency,
    ...(only.length > 0 ? { batchIds: only } : {}),
    ...(flags.lockDuration ? { lockDurationMs: flags.lockDuration, stalledIntervalMs: Math.max(500, Math.floor(flags.lockDuration / 2)) } : {}),
    runVerify: Boolean(flags.runVerify),
    log,
    ...(typeof flags.journal === 'string' ? { journal: new Journal(flags.journal, config.prefix) } : {}),
    ...(served ? { metrics: served.metrics } : {}),
  });
  // Scheduled drift checks (SPEC §16) are every batch's: run by the workers that serve every batch.
  const drift = only.length === 0 ? startDriftChecks({ redisUrl: target.url, prefix: config.prefix, flags, log }) : undefined;
  try {
    await pool.start();
    log.info({ batches: only.length > 0 ? only : 'all active', prefix: config.prefix, concurrency: config.concurrency, api: maskUrlPassword(config.apiUrl) }, 'worker started; Ctrl-C to stop');
    const signal = await until;
    log.info({ signal: String(signal) }, 'finishing in-flight requests…');
  } finally {
    // Not waited for past the grace and 5 s: with Redis gone, BullMQ's close waits for ever (issue 25).
    // The drift checks close beside the pool (a Redis gone would hold either for its 5 s).
    await Promise.all([closePool(pool, (flags.grace ?? 30) * 1000, 5_000), atMost(drift?.close() ?? Promise.resolve(), 5_000)]);
    client.close();
    await served?.close();
  }
  log.info('worker stopped');
  log.flush?.();
}
