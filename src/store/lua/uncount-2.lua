-- uncountAttempt — a job that was put back without sending anything (a pause, a window, another batch's
-- lease, this worker stopping) gives back the attempt beginAttempt counted: waiting is not trying.
-- KEYS: status, agent hash.  ARGV: agent key.  Returns the attempts now.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'pending' then return -1 end
local n = tonumber(redis.call('HGET', KEYS[2], 'attempts') or '0')
if n > 0 then n = redis.call('HINCRBY', KEYS[2], 'attempts', -1) end
return n
