/**
 * Redis failing, said as what it is (exit 3, SPEC §6) rather than "a bug": out of memory, a Cluster
 * failing over, a server away. A command ending on one of these has left nothing half-done that the
 * same command run again does not finish (submits attach, jobs are idempotent).
 */
import { InfraError } from '../errors.js';
import { isRedisFull } from '../store/redis-memory.js';

/** A Redis that is restarting or unreachable for now, as ioredis says it (not a refusal of a command). */
export function redisAway(error: unknown): boolean {
  const text = `${(error as { code?: string })?.code ?? ''} ${(error as Error)?.message ?? ''}`;
  return /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection is closed|max retries per request|LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|Stream isn't writeable|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes/i.test(text);
}

/** The exit-3 error for a Redis failure; undefined for anything else. */
export function redisFailure(error: unknown): InfraError | undefined {
  const message = ((error as Error)?.message ?? String(error)).split('\n')[0]!.slice(0, 300);
  if (isRedisFull(error)) return new InfraError(`redis_full: Redis refused a write, out of memory (${message})`, 'raise maxmemory (CONFIG SET maxmemory …, and in redis.conf) or free memory (`nova-fleet prune` of finished batches), then run the same command again (it carries on with the same batch); every original taken so far is kept');
  if (redisAway(error)) return new InfraError(`Redis is not answering or is failing over (${message})`, 'run the same command again once Redis is back: it carries on with the same batch, nothing is applied twice');
  return undefined;
}
