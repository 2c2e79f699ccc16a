-- transition — change a batch's status only from one of the allowed statuses, and write the fields that
-- go with the new status (a halt's reason) in the same step, so no reader sees one without the other.
-- KEYS: meta.  ARGV: new status, number N of allowed statuses, the N statuses, then field, value pairs.
-- Returns the previous status, or false.
local old = redis.call('HGET', KEYS[1], 'status')
local n = tonumber(ARGV[2])
for i = 3, 2 + n do
  if old == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[1])
    for j = 3 + n, #ARGV, 2 do
      redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
    end
    return old
  end
end
return false
