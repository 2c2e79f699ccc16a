-- beginAttempt — one round trip at the start of a job: the agent's status, and its attempt counted
-- only if it is still pending.
-- KEYS: status, agent hash.  ARGV: agent key.  Returns the status (false if unknown).
local status = redis.call('HGET', KEYS[1], ARGV[1])
if status == 'pending' then redis.call('HINCRBY', KEYS[2], 'attempts', 1) end
return status
