-- takeLease — one change at a time per agent (SPEC §9): take the agent's lease for this batch, or renew
-- it if this batch holds it already; held by another batch, this one is written down as waiting for it
-- (in the same step, so a release can never fall between the look and the note) and the holder returned.
-- KEYS: lease, its waiters.  ARGV: batch id, ttl ms.  Returns '' (ours now) or the holding batch.
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return holder
