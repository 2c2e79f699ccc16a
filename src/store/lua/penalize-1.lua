-- penalize — a 429: nobody in the batch starts a request before Retry-After, and the rate halves
-- (down to a floor), recovering linearly over the recovery time of reserveSlot.
-- KEYS: rate hash.  ARGV: retry-after (ms), minimum factor.  Returns the new factor × 1000.
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local state = redis.call('HMGET', KEYS[1], 'next', 'factor')
local nxt = tonumber(state[1] or '0')
local factor = math.max(tonumber(ARGV[2]), tonumber(state[2] or '1') / 2)
redis.call('HSET', KEYS[1], 'next', tostring(math.max(nxt, now + tonumber(ARGV[1]))), 'factor', tostring(factor), 'penalized_at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 86400000)
return math.floor(factor * 1000)
