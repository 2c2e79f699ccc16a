-- transition — change a batch's status only from one of the allowed statuses, and write the fields that
-- go with the new status (a halt's reason) in the same step, so no reader sees one without the other.
-- The change is published (the meta key, on the status channel) in the same step: a worker's gate
-- that saw no message since its last read of the status may trust that read.
-- KEYS: meta.  ARGV: status channel, new status, number N of allowed statuses, the N statuses, then
-- field, value pairs.  Returns the previous status, or false.
local old = redis.call('HGET', KEYS[1], 'status')
local n = tonumber(ARGV[3])
for i = 4, 3 + n do
  if old == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[2])
    for j = 4 + n, #ARGV, 2 do
      redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
    end
    if old ~= ARGV[2] then redis.call('PUBLISH', ARGV[1], KEYS[1]) end
    return old
  end
end
return false
