--!include lease
-- takeLease — the agent's lease for this batch (lease.lua).
-- KEYS: lease, its waiters.  ARGV: batch id, ttl ms.  Returns '' (ours now) or the holding batch.
return take_lease(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
