--!include schedule
-- reserveBoth — a request's slots in its batch's schedule and in its API key's, and the batch's
-- status, in one step (on a single Redis; a Cluster keeps them apart: reserve and reserve-key).
-- KEYS: the batch's rate hash, meta, the key's schedule hash.
-- ARGV: the batch's rate (requests/s), recovery time (ms), the key's window (ms), how many slots
-- (absent: 1).
-- Returns {wait ms (the later of the two firsts), effective rate × 1000 (the lower), batch status ('' if none)}.
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local asked = tonumber(ARGV[1])
local recovery = tonumber(ARGV[2])
local count = tonumber(ARGV[4] or '1')
local wait, rate = reserve_batch(KEYS[1], now, asked, recovery, count)
local keyWait, keyRate = reserve_key(KEYS[3], now, asked, recovery, tonumber(ARGV[3]), count)
return {math.max(wait, keyWait), math.min(rate, keyRate), redis.call('HGET', KEYS[2], 'status') or ''}
