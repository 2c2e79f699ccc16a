-- lease — one change at a time per agent (SPEC §9), as a function (take-lease, begin-lease).
-- Takes the agent's lease for the batch, or renews it if the batch holds it already; held by another
-- batch, the batch is written down as waiting for it (in the same step, so a release can never fall
-- between the look and the note). Returns '' (the lease is the batch's now) or the holding batch.
local function take_lease(lease, waiters, batch, ttl)
  local holder = redis.call('GET', lease)
  if not holder or holder == batch then
    redis.call('SET', lease, batch, 'PX', ttl)
    return ''
  end
  redis.call('SADD', waiters, batch)
  redis.call('PEXPIRE', waiters, ttl)
  return holder
end
