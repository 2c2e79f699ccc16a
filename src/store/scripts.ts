/**
 * The Lua scripts (one gateway defines every script, as BullMQ's scripts.ts does): each is a file in
 * ./lua, one named atomic command keeping several keys of one batch consistent (all of a script's keys
 * share the batch's hash tag). `--!include NAME` pulls in a shared file (the completion rule) or the
 * generated `statuses` (the status sets of src/batch/lifecycle.ts), so no status list is written twice.
 * Time comes from the Redis server (`TIME`), so workers with skewed clocks agree.
 */
import { readFileSync } from 'node:fs';
import type { Redis, Cluster } from 'ioredis';
import { luaStatusSets } from '../batch/lifecycle.js';

const sources = new Map<string, string>();
function readLua(name: string): string {
  let source = sources.get(name);
  if (source === undefined) sources.set(name, (source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')));
  return source;
}

/** The script `name` (src/store/lua/NAME.lua, copied to dist by the build) with its includes resolved, each once. */
export function luaScript(name: string, included = new Set<string>()): string {
  const source = readLua(name);
  return source.replace(/^--!include ([a-z-]+)[ \t]*$/gm, (_line, include: string) => {
    if (included.has(include)) return '';
    included.add(include);
    return include === 'statuses' ? luaStatusSets() : luaScript(include, included);
  });
}

type Client = Redis | Cluster;

interface ScriptCommands {
  nfRegister(status: string, counts: string, orgPending: string, ...keys: string[]): Promise<number[]>;
  nfFinish(status: string, counts: string, meta: string, agent: string, orgPending: string, ...args: (string | Buffer | number)[]): Promise<number>;
  nfFinishRelease(status: string, counts: string, meta: string, agent: string, orgPending: string, lease: string, waiters: string, ...args: (string | Buffer | number)[]): Promise<[number, string[]]>;
  nfCompleteIfDone(counts: string, meta: string): Promise<string | null>;
  nfBegin(status: string, agent: string, key: string): Promise<string | null>;
  nfReleaseLease(lease: string, batchId: string): Promise<number>;
  nfTakeLease(lease: string, waiters: string, batchId: string, ttlMs: number): Promise<string>;
  nfBeginLease(status: string, agent: string, lease: string, waiters: string, key: string, batchId: string, ttlMs: number): Promise<[string, string]>;
  nfReleaseAgentLease(lease: string, waiters: string, batchId: string): Promise<string[]>;
  nfReserve(rate: string, meta: string, requestsPerSecond: number, recoveryMs: number, count: number): Promise<[number, number, string]>;
  nfSaveBeforeBuffer(agent: string, meta: string, packed: Buffer): Promise<[number, Buffer, Buffer?]>;
  nfUncount(status: string, agent: string, key: string): Promise<number>;
  nfApiTrouble(meta: string, outageMs: number, recentMs: number, reason: string, channel: string): Promise<[number, number]>;
  nfApiReachable(meta: string): Promise<number>;
  nfPenalize(rate: string, retryAfterMs: number, minFactor: number): Promise<number>;
  nfReserveKey(schedule: string, requestsPerSecond: number, recoveryMs: number, windowMs: number, count: number): Promise<[number, number]>;
  nfReserveBoth(rate: string, meta: string, schedule: string, requestsPerSecond: number, recoveryMs: number, windowMs: number, count: number): Promise<[number, number, string]>;
  nfTransition(meta: string, channel: string, to: string, fromCount: number, ...fromThenFields: (string | number)[]): Promise<string | null>;
  nfTransitionOom(meta: string, channel: string, to: string, fromCount: number, ...fromThenFields: (string | number)[]): Promise<string | null>;
}

export type ScriptClient = Client & ScriptCommands;

/** Define the scripts on a connection (idempotent) and return it typed with them. */
export function withScripts(client: Client): ScriptClient {
  const c = client as ScriptClient;
  if (typeof c.nfFinish === 'function') return c;
  client.defineCommand('nfRegister', { numberOfKeys: 3, lua: luaScript('register') });
  client.defineCommand('nfFinish', { numberOfKeys: 5, lua: luaScript('finish') });
  client.defineCommand('nfFinishRelease', { numberOfKeys: 7, lua: luaScript('finish-release') });
  client.defineCommand('nfCompleteIfDone', { numberOfKeys: 2, lua: luaScript('complete-if-done') });
  client.defineCommand('nfBegin', { numberOfKeys: 2, lua: luaScript('begin') });
  client.defineCommand('nfReleaseLease', { numberOfKeys: 1, lua: luaScript('release-if-holder') });
  client.defineCommand('nfTakeLease', { numberOfKeys: 2, lua: luaScript('take-lease') });
  client.defineCommand('nfBeginLease', { numberOfKeys: 4, lua: luaScript('begin-lease') });
  client.defineCommand('nfReleaseAgentLease', { numberOfKeys: 2, lua: luaScript('release-agent-lease') });
  client.defineCommand('nfReserve', { numberOfKeys: 2, lua: luaScript('reserve') });
  client.defineCommand('nfSaveBefore', { numberOfKeys: 2, lua: luaScript('save-before') });
  client.defineCommand('nfUncount', { numberOfKeys: 2, lua: luaScript('uncount') });
  client.defineCommand('nfApiTrouble', { numberOfKeys: 1, lua: luaScript('api-trouble') });
  client.defineCommand('nfApiReachable', { numberOfKeys: 1, lua: luaScript('api-reachable') });
  client.defineCommand('nfPenalize', { numberOfKeys: 1, lua: luaScript('penalize') });
  client.defineCommand('nfReserveKey', { numberOfKeys: 1, lua: luaScript('reserve-key') });
  client.defineCommand('nfReserveBoth', { numberOfKeys: 3, lua: luaScript('reserve-both') });
  client.defineCommand('nfTransition', { numberOfKeys: 1, lua: luaScript('transition') });
  // The same, allowed to write when Redis is out of memory: only the `redis_full` halt uses it.
  client.defineCommand('nfTransitionOom', { numberOfKeys: 1, lua: `#!lua flags=allow-oom\n${luaScript('transition')}` });
  return c;
}
