/**
 * The Lua scripts (one gateway defines every script, as BullMQ's scripts.ts does): each is a file in
 * ./lua named after the command and its number of keys (`finish-5.lua`), one atomic command keeping
 * several keys of one batch consistent (all of a script's keys share the batch's hash tag). `--!include
 * NAME` pulls in a shared file of ./lua/includes (the completion rule) — resolved when the build embeds
 * the scripts (scripts/embed-lua.mjs) — or `statuses`, the status sets of src/batch/lifecycle.ts
 * written in here, so no status list is written twice. Time comes from the Redis server (`TIME`), so
 * workers with skewed clocks agree.
 */
import type { Redis, Cluster } from 'ioredis';
import { luaStatusSets } from '../batch/lifecycle.js';
import { LUA_COMMANDS, type LuaCommandName } from './lua-scripts.generated.js';

/** The command `name` (src/store/lua/NAME-KEYS.lua, embedded at build time) with the status sets written in. */
export function luaScript(name: LuaCommandName): string {
  return LUA_COMMANDS[name].lua.replace(/^--!include statuses[ \t]*$/m, () => luaStatusSets());
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

/** Each command's script; its number of keys is in the script's file name. */
const COMMANDS: ReadonlyArray<[string, LuaCommandName]> = [
  ['nfRegister', 'register'],
  ['nfFinish', 'finish'],
  ['nfFinishRelease', 'finish-release'],
  ['nfCompleteIfDone', 'complete-if-done'],
  ['nfBegin', 'begin'],
  ['nfReleaseLease', 'release-if-holder'],
  ['nfTakeLease', 'take-lease'],
  ['nfBeginLease', 'begin-lease'],
  ['nfReleaseAgentLease', 'release-agent-lease'],
  ['nfReserve', 'reserve'],
  ['nfSaveBefore', 'save-before'],
  ['nfUncount', 'uncount'],
  ['nfApiTrouble', 'api-trouble'],
  ['nfApiReachable', 'api-reachable'],
  ['nfPenalize', 'penalize'],
  ['nfReserveKey', 'reserve-key'],
  ['nfReserveBoth', 'reserve-both'],
  ['nfTransition', 'transition'],
];

/** Define the scripts on a connection (idempotent) and return it typed with them. */
export function withScripts(client: Client): ScriptClient {
  const c = client as ScriptClient;
  if (typeof c.nfFinish === 'function') return c;
  for (const [command, name] of COMMANDS) client.defineCommand(command, { numberOfKeys: LUA_COMMANDS[name].keys, lua: luaScript(name) });
  // The same, allowed to write when Redis is out of memory: only the `redis_full` halt uses it.
  client.defineCommand('nfTransitionOom', { numberOfKeys: LUA_COMMANDS.transition.keys, lua: `#!lua flags=allow-oom\n${luaScript('transition')}` });
  return c;
}
