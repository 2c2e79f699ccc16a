-- lease — one change at a time per agent (SPEC §9), as functions (take-lease, begin-lease,
-- release-agent-lease, finish-release).
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

-- Compare-and-delete of the agent's lease, handing back the batches that waited for it (their waiters
-- set goes with it): the releaser wakes them instead of each polling. Returns them (none if not ours).
local function release_lease(lease, waiters, batch)
  if redis.call('GET', lease) ~= batch then return {} end
  redis.call('DEL', lease)
  local woken = redis.call('SMEMBERS', waiters)
  redis.call('DEL', waiters)
  return woken
end
