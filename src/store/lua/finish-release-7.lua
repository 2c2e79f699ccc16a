--!include finish-agent
--!include lease
-- finishRelease — one agent's end (finish-agent.lua) and the release of its lease by the batch, in one
-- step on a single Redis (on a Cluster the lease lives in the agent's slot: finish and
-- release-agent-lease go side by side there).
-- KEYS: status, counts, meta, agent hash, pending per org, lease, its waiters.
-- ARGV: agent key, to, from, the status channel, the batch id, then field, value pairs.
-- Returns {1 if moved else 0, the batches that waited for the lease}.
local moved = finish_agent(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV, 6)
return {moved, release_lease(KEYS[6], KEYS[7], ARGV[5])}
