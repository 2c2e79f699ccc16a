--!include attempt
-- beginAttempt — one round trip at the start of a job (attempt.lua).
-- KEYS: status, agent hash.  ARGV: agent key.  Returns the status (false if unknown).
return begin_attempt(KEYS[1], KEYS[2], ARGV[1])
