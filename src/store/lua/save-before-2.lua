-- saveBefore — record the agent's before snapshot unless one exists, and read the batch's status in the
-- same step (the gate's view right before a PATCH whose rate slot needed no wait).
-- KEYS: agent hash, meta.  ARGV: packed snapshot.
-- Returns {1, status} when this snapshot is the first, else {0, status, the first snapshot}.
local status = redis.call('HGET', KEYS[2], 'status') or ''
if redis.call('HSETNX', KEYS[1], 'before', ARGV[1]) == 1 then return {1, status} end
return {0, status, redis.call('HGET', KEYS[1], 'before')}
