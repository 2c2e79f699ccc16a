--!include lease
-- releaseAgentLease — the agent's lease released by the batch (lease.lua).
-- KEYS: lease, its waiters.  ARGV: batch id.  Returns the waiting batch ids (none if not ours).
return release_lease(KEYS[1], KEYS[2], ARGV[1])
