-- attempt — a job's start, as a function (begin, begin-lease): the agent's status, and its attempt
-- counted only if it is still pending. Returns the status (false if unknown).
local function begin_attempt(status, agent, key)
  local current = redis.call('HGET', status, key)
  if current == 'pending' then redis.call('HINCRBY', agent, 'attempts', 1) end
  return current
end
