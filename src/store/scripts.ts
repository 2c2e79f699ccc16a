/**
 * The Lua scripts (one gateway runs every script, as BullMQ's scripts.ts). Each keeps several keys of
 * one batch consistent in one atomic step; all of a script's keys share the batch's hash tag.
 * Time comes from the Redis server (`TIME`), so workers with skewed clocks agree.
 */
import type { Redis, Cluster } from 'ioredis';

/**
 * registerAgents — a chunk of a manifest's agents joins the batch.
 * KEYS: status, counts.  ARGV: agent keys.
 * Returns one flag per agent: 1 = new (enqueue it), 2 = already registered and still pending (its
 * job may be missing after an interrupted submit), 0 = already finished (never run it again).
 */
const REGISTER = `
local out = {}
for i, key in ipairs(ARGV) do
  if redis.call('HSETNX', KEYS[1], key, 'pending') == 1 then
    redis.call('HINCRBY', KEYS[2], 'pending', 1)
    out[i] = 1
  elseif redis.call('HGET', KEYS[1], key) == 'pending' then
    out[i] = 2
  else
    out[i] = 0
  end
end
return out`;

/**
 * finishAgent — move one agent from `from` to `to`, keep the counts equal to the statuses, record the
 * agent's fields, halt the batch if a failure exceeds its error budget, and complete the batch when
 * nothing is pending any more.
 * KEYS: status, counts, meta, agent hash.
 * ARGV: agent key, to, from ('*' = any, or statuses joined by '|'), then field, value pairs for the
 * agent hash.
 * Returns 1 if moved, 0 if the agent was not in `from` (another attempt already finished it).
 */
const FINISH = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
if ARGV[3] ~= '*' and not string.find('|' .. ARGV[3] .. '|', '|' .. old .. '|', 1, true) then return 0 end
if old ~= ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[2], old, -1)
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
end
-- The error budget, checked on every failure (not only at wave ends): exceeded, the batch halts.
if ARGV[2] == 'failed' and old ~= 'failed' then
  local max = redis.call('HGET', KEYS[3], 'max_failures')
  if max and max ~= '' then
    local failed = tonumber(redis.call('HGET', KEYS[2], 'failed') or '0')
    local status = redis.call('HGET', KEYS[3], 'status')
    if failed > tonumber(max) and (status == 'running' or status == 'waiting_approval' or status == 'paused') then
      redis.call('HSET', KEYS[3], 'status', 'halted', 'halt_reason', 'error_budget: ' .. failed .. ' agents failed, ' .. max .. ' allowed')
    end
  end
end
local pending = tonumber(redis.call('HGET', KEYS[2], 'pending') or '0')
if pending <= 0 and redis.call('HGET', KEYS[3], 'enqueued') == '1' then
  local status = redis.call('HGET', KEYS[3], 'status')
  if status == 'running' or status == 'paused' or status == 'waiting_window' or status == 'scheduled' or status == 'waiting_approval' then
    local failed = tonumber(redis.call('HGET', KEYS[2], 'failed') or '0')
    local t = redis.call('TIME')
    redis.call('HSET', KEYS[3], 'status', failed > 0 and 'completed_with_failures' or 'completed', 'finished_at', t[1] * 1000 + math.floor(t[2] / 1000))
  end
end
return 1`;

/**
 * beginAttempt — one round trip at the start of a job: the agent's status, and its attempt counted
 * only if it is still pending.
 * KEYS: status, agent hash.  ARGV: agent key.  Returns the status (false if unknown).
 */
const BEGIN = `
local status = redis.call('HGET', KEYS[1], ARGV[1])
if status == 'pending' then redis.call('HINCRBY', KEYS[2], 'attempts', 1) end
return status`;

/**
 * releaseLease — drop an agent's lease, only if this batch holds it.
 * KEYS: lease.  ARGV: batch id.  Returns 1 if released.
 */
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * completeIfDone — the same completion rule, for when submit finishes after the workers did.
 * KEYS: counts, meta.  Returns the batch status.
 */
const COMPLETE_IF_DONE = `
local pending = tonumber(redis.call('HGET', KEYS[1], 'pending') or '0')
local status = redis.call('HGET', KEYS[2], 'status')
local waiting = status == 'running' or status == 'paused' or status == 'waiting_window' or status == 'scheduled' or status == 'waiting_approval'
if pending <= 0 and redis.call('HGET', KEYS[2], 'enqueued') == '1' and waiting then
  local failed = tonumber(redis.call('HGET', KEYS[1], 'failed') or '0')
  local t = redis.call('TIME')
  status = failed > 0 and 'completed_with_failures' or 'completed'
  redis.call('HSET', KEYS[2], 'status', status, 'finished_at', t[1] * 1000 + math.floor(t[2] / 1000))
end
return status`;

/**
 * reserveSlot — the batch's shared request schedule (GCRA-like): each caller reserves the next free
 * slot, spaced 1/rate apart, and is told how long to wait for it. Smooth, shared by every worker of the
 * batch, no retry storms. After a 429 the rate is lowered (factor) and recovers linearly.
 * KEYS: rate hash.  ARGV: rate (requests/s), recovery time (ms).
 * Returns {wait ms, effective rate × 1000}.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local state = redis.call('HMGET', KEYS[1], 'next', 'factor', 'penalized_at')
local nxt = tonumber(state[1] or '0')
local factor = tonumber(state[2] or '1')
local since = now - tonumber(state[3] or '0')
local recovery = tonumber(ARGV[2])
if factor < 1 then factor = math.min(1, factor + (1 - factor) * since / recovery) end
local rate = tonumber(ARGV[1]) * factor
local slot = math.max(now, nxt)
redis.call('HSET', KEYS[1], 'next', tostring(slot + 1000 / rate))
redis.call('PEXPIRE', KEYS[1], 86400000)
return {math.floor(slot - now), math.floor(rate * 1000)}`;

/**
 * penalize — a 429: nobody in the batch starts a request before Retry-After, and the rate halves
 * (down to a floor), recovering linearly over the recovery time of reserveSlot.
 * KEYS: rate hash.  ARGV: retry-after (ms), minimum factor.  Returns the new factor × 1000.
 */
const PENALIZE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local state = redis.call('HMGET', KEYS[1], 'next', 'factor')
local nxt = tonumber(state[1] or '0')
local factor = math.max(tonumber(ARGV[2]), tonumber(state[2] or '1') / 2)
redis.call('HSET', KEYS[1], 'next', tostring(math.max(nxt, now + tonumber(ARGV[1]))), 'factor', tostring(factor), 'penalized_at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 86400000)
return math.floor(factor * 1000)`;

/**
 * transition — change a batch's status only from one of the allowed statuses, and write the fields that
 * go with the new status (a halt's reason) in the same step, so no reader sees one without the other.
 * KEYS: meta.  ARGV: new status, number N of allowed statuses, the N statuses, then field, value pairs.
 * Returns the previous status, or false.
 */
const TRANSITION = `
local old = redis.call('HGET', KEYS[1], 'status')
local n = tonumber(ARGV[2])
for i = 3, 2 + n do
  if old == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[1])
    for j = 3 + n, #ARGV, 2 do
      redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
    end
    return old
  end
end
return false`;

type Client = Redis | Cluster;

interface ScriptCommands {
  nfRegister(status: string, counts: string, ...keys: string[]): Promise<number[]>;
  nfFinish(status: string, counts: string, meta: string, agent: string, ...args: (string | Buffer | number)[]): Promise<number>;
  nfCompleteIfDone(counts: string, meta: string): Promise<string | null>;
  nfBegin(status: string, agent: string, key: string): Promise<string | null>;
  nfReleaseLease(lease: string, batchId: string): Promise<number>;
  nfReserve(rate: string, requestsPerSecond: number, recoveryMs: number): Promise<[number, number]>;
  nfPenalize(rate: string, retryAfterMs: number, minFactor: number): Promise<number>;
  nfTransition(meta: string, to: string, fromCount: number, ...fromThenFields: (string | number)[]): Promise<string | null>;
}

export type ScriptClient = Client & ScriptCommands;

/** Define the scripts on a connection (idempotent) and return it typed with them. */
export function withScripts(client: Client): ScriptClient {
  const c = client as ScriptClient;
  if (typeof c.nfFinish === 'function') return c;
  client.defineCommand('nfRegister', { numberOfKeys: 2, lua: REGISTER });
  client.defineCommand('nfFinish', { numberOfKeys: 4, lua: FINISH });
  client.defineCommand('nfCompleteIfDone', { numberOfKeys: 2, lua: COMPLETE_IF_DONE });
  client.defineCommand('nfBegin', { numberOfKeys: 2, lua: BEGIN });
  client.defineCommand('nfReleaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE });
  client.defineCommand('nfReserve', { numberOfKeys: 1, lua: RESERVE });
  client.defineCommand('nfPenalize', { numberOfKeys: 1, lua: PENALIZE });
  client.defineCommand('nfTransition', { numberOfKeys: 1, lua: TRANSITION });
  return c;
}
