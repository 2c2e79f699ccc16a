-- apiReachable — a request of the batch got an answer from the API: the outage clock stops.
-- KEYS: meta.  Returns 1.
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'last_ok', t[1] * 1000 + math.floor(t[2] / 1000), 'outage_since', '')
return 1
