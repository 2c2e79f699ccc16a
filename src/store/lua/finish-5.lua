--!include finish-agent
-- finishAgent — one agent's end (finish-agent.lua).
-- KEYS: status, counts, meta, agent hash, pending per org.
-- ARGV: agent key, to, from ('*' = any, or statuses joined by '|'), the status channel, then field,
-- value pairs for the agent hash.
-- Returns 1 if moved, 0 if the agent was not in `from` (another attempt already finished it).
return finish_agent(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV, 5)
