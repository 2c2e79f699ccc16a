-- releaseAgentLease — compare-and-delete of an agent's lease, handing back the batches that waited for
-- it (their waiters set goes with it): the releaser wakes them instead of each polling.
-- KEYS: lease, its waiters.  ARGV: batch id.  Returns the waiting batch ids (none if not ours).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {} end
redis.call('DEL', KEYS[1])
local waiters = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
return waiters
