/**
 * `nova-fleet worker [--concurrency N] [--queue BATCH…]`: process jobs of every active batch (or the
 * given ones) until SIGINT/SIGTERM, then finish in-flight requests and exit 0. Run as many as needed,
 * on as many machines as needed, against the same Redis.
 */
import { WorkerPool } from '../engine/worker-pool.js';
import { checkBatchId } from '../engine/batch-id.js';
import { apiClient, configFrom, startMetrics, untilSignal, type ApiFlags, type RedisFlags } from './context.js';
import type { Output } from './output.js';
import { discoverRedis } from '../store/connect.js';
import { createLogger, type LogFormat, type LogLevel } from '../log.js';

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
  const served = await startMetrics(flags.metricsPort, (line) => log.info(line));
  const client = apiClient(config, served?.metrics.observeResponse);
  const target = await discoverRedis({ url: config.redisUrl });
  const only = (flags.queue ?? []).map(checkBatchId);
  const pools = (only.length > 0 ? only : [undefined]).map(
    (batchId) =>
      new WorkerPool({
        redisUrl: target.url,
        prefix: config.prefix,
        client,
        concurrency: config.concurrency,
        ...(batchId ? { batchId } : {}),
        ...(flags.lockDuration ? { lockDurationMs: flags.lockDuration, stalledIntervalMs: Math.max(500, Math.floor(flags.lockDuration / 2)) } : {}),
        runVerify: Boolean(flags.runVerify),
        log,
        ...(served ? { metrics: served.metrics } : {}),
      }),
  );
  try {
    for (const pool of pools) await pool.start();
    log.info({ batches: only.length > 0 ? only : 'all active', prefix: config.prefix, concurrency: config.concurrency, api: config.apiUrl }, 'worker started; Ctrl-C to stop');
    const signal = await until;
    log.info({ signal: String(signal) }, 'finishing in-flight requests…');
  } finally {
    await Promise.all(pools.map((pool) => pool.close((flags.grace ?? 30) * 1000)));
    client.close();
    await served?.close();
  }
  log.info('worker stopped');
  log.flush?.();
}
