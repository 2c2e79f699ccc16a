--!include attempt
--!include lease
-- beginWithLease — a job's start and the agent's lease in one step, on a single Redis (on a Cluster the
-- lease lives in the agent's slot, not the batch's: begin and take-lease go side by side there).
-- KEYS: status, agent hash, lease, its waiters.  ARGV: agent key, batch id, ttl ms.
-- Returns {the status ('' if unknown), '' (the lease is ours now) or the holding batch}.
return {begin_attempt(KEYS[1], KEYS[2], ARGV[1]) or '', take_lease(KEYS[3], KEYS[4], ARGV[2], ARGV[3])}
