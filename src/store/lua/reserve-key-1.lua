--!include schedule
-- reserveKeySlot — slots in an API key's schedule (schedule.lua), for a request of a batch whose
-- keys are in another Cluster slot than the key's (reserve-both does both in one step otherwise).
-- KEYS: the key's schedule hash.  ARGV: the batch's rate (requests/s), recovery time (ms), window
-- (ms), how many slots (absent: 1).
-- Returns {wait ms (for the first), effective rate × 1000}.
local t = redis.call('TIME')
local wait, rate = reserve_key(KEYS[1], t[1] * 1000 + t[2] / 1000, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4] or '1'))
return {wait, rate}
