/** One agent read, paced and asked again after a transient failure (plan, and the preflight of submit and run). */
import type { NovaClient } from '../api/client.js';
import { MAX_RATE_LIMIT_WAITS, NovaApiError } from '../api/errors.js';
import type { Agent } from '../api/types.js';
import type { Pacer } from './pacer.js';

/**
 * One agent read within `pacer`'s budget, asked again after a retryable failure. A 429 is the API asking
 * for a slower pace, not the agent failing: it costs no attempt (the pace halves instead), up to as many
 * waits as the engine allows one request; other retryable failures pause 500 ms, doubling (or their
 * Retry-After), for at most `attempts` tries. Used by `plan` and by the preflight of submit and run.
 */
export async function readAgent(client: Pick<NovaClient, 'getAgent'>, orgId: string, agentId: string, pacer: Pacer, attempts: number, sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms))): Promise<Agent> {
  for (let failures = 0, waits = 0; ; ) {
    await pacer.take();
    try {
      const agent = await client.getAgent(orgId, agentId);
      pacer.recover();
      return agent;
    } catch (error) {
      if (error instanceof NovaApiError && error.kind === 'rate_limited' && waits++ < MAX_RATE_LIMIT_WAITS) {
        pacer.delay(error.retryAfterMs ?? 1000);
        continue;
      }
      if (!(error instanceof NovaApiError) || !error.retryable || ++failures >= attempts) throw error;
      await sleep(Math.min(10_000, error.retryAfterMs ?? 500 * 2 ** (failures - 1)));
    }
  }
}
