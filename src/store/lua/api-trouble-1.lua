--!include statuses
-- apiTrouble — a request of the batch met an API that looks down (network error, timeout, 5xx). The
-- first such error since the last recorded success starts the outage clock; when no request has
-- succeeded for the outage limit, the running batch halts with reason api_unreachable (SPEC §13) and
-- its agents stay pending.
-- KEYS: meta.  ARGV: outage limit (ms), "recent success" window (ms), halt reason, status channel
-- (the halt is published there, as transition.lua does).
-- Returns {2 halted now | 1 the API answered recently (the error counts) | 0 an outage (it does not),
-- outage age in ms}.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local since = tonumber(redis.call('HGET', KEYS[1], 'outage_since') or '')
if not since then
  since = now
  redis.call('HSET', KEYS[1], 'outage_since', now)
end
local ok = tonumber(redis.call('HGET', KEYS[1], 'last_ok') or '') or 0
local limit = tonumber(ARGV[1])
if now - since >= limit and now - ok >= limit and FROM_OUTAGE_HALT[redis.call('HGET', KEYS[1], 'status') or ''] then
  redis.call('HSET', KEYS[1], 'status', 'halted', 'halt_reason', ARGV[3])
  redis.call('PUBLISH', ARGV[4], KEYS[1])
  return {2, now - since}
end
if ok > 0 and now - ok < tonumber(ARGV[2]) then return {1, now - since} end
return {0, now - since}
