--!include schedule
-- reserveSlot — slots in the batch's shared request schedule (schedule.lua), and the batch's status
-- read in the same step: when the slot needs no wait, that read is the gate before the request.
-- KEYS: rate hash, meta.  ARGV: rate (requests/s), recovery time (ms), how many slots (absent: 1).
-- Returns {wait ms (for the first), effective rate × 1000, batch status ('' if none)}.
local t = redis.call('TIME')
local wait, rate = reserve_batch(KEYS[1], t[1] * 1000 + t[2] / 1000, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3] or '1'))
return {wait, rate, redis.call('HGET', KEYS[2], 'status') or ''}
