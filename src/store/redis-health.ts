/**
 * Checking the Redis nova-fleet is given, before a command writes to it (issue 25). Every original
 * lives in Redis, so a Redis that may drop keys is refused and one that keeps nothing on disk is
 * named:
 *   - an evicting `maxmemory-policy` (anything but `noeviction`) is exit 3 — BullMQ requires
 *     `noeviction`, and an evicted before snapshot makes a rollback call a changed agent "unchanged";
 *   - no AOF and no RDB snapshots is said once per command, with what it risks.
 * Read through INFO (allowed on managed Redis where CONFIG is not), and CONFIG GET save where it is.
 */
import { Cluster, type Redis } from 'ioredis';
import { InfraError } from '../errors.js';

export interface RedisDurability {
  /** `maxmemory-policy`, or undefined when the server does not say. */
  policy: string | undefined;
  /** Whether the append-only file is on; undefined when not said. */
  aof: boolean | undefined;
  /** The `save` setting ('' = no RDB snapshots); undefined when CONFIG is not allowed. */
  save: string | undefined;
}

/** A field of an INFO reply (`name:value` lines), or undefined. Pure. */
export function infoField(info: string, name: string): string | undefined {
  const match = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return match ? match[1]!.trim() : undefined;
}

/**
 * What the durability of a Redis means for nova-fleet (pure): a refusal (an evicting policy), a note
 * (nothing kept on disk), or neither.
 */
export function judgeDurability(d: RedisDurability): { refuse?: string; note?: string } {
  if (d.policy !== undefined && d.policy !== 'noeviction') {
    return { refuse: `its maxmemory-policy is ${d.policy}: Redis may evict keys — BullMQ's jobs and the before snapshots every rollback needs — when memory runs short` };
  }
  if (d.aof === false && d.save === '') {
    return { note: 'keeps nothing on disk (appendonly no, no save points): a restart loses every batch and every original taken — set `appendonly yes`' };
  }
  return {};
}

async function durabilityOf(node: Redis): Promise<RedisDurability> {
  const memory = String(await node.info('memory'));
  const persistence = String(await node.info('persistence'));
  let save: string | undefined;
  try {
    const reply = (await node.config('GET', 'save')) as string[];
    save = reply[1];
  } catch {
    save = undefined; // CONFIG is often not allowed on a managed Redis: say nothing then
  }
  const aof = infoField(persistence, 'aof_enabled');
  return { policy: infoField(memory, 'maxmemory_policy'), aof: aof === undefined ? undefined : aof === '1', save };
}

/**
 * Exit 3 for a Redis that evicts; `note` once when it keeps nothing on disk. Every master of a Cluster
 * is asked. An INFO that fails (a proxy that does not pass it) is no reason to stop: nothing is said.
 */
export async function checkRedisDurability(redis: Redis | Cluster, where: string, note: (line: string) => void): Promise<void> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const notes = new Set<string>();
  for (const node of nodes) {
    let durability: RedisDurability;
    try {
      durability = await durabilityOf(node);
    } catch {
      continue;
    }
    const { refuse, note: said } = judgeDurability(durability);
    if (refuse) throw new InfraError(`Redis at ${where} is not safe for nova-fleet: ${refuse}`, 'set `maxmemory-policy noeviction` (CONFIG SET maxmemory-policy noeviction, and in redis.conf) — and give Redis the memory the batches need');
    if (said) notes.add(said);
  }
  for (const said of notes) note(`note: Redis at ${where} ${said}`);
}
