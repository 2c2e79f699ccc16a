-- releaseLease — compare-and-delete: drop an agent's lease only if this batch holds it (also a digest's
-- pointer only if it still names this batch).
-- KEYS: lease.  ARGV: batch id.  Returns 1 if released.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
