--!include statuses
--!include complete
--!include org-of
-- finish_agent — one agent's end, as a function (finish, finish-release): move it from `from` to `to`,
-- keep the counts equal to the statuses, record the agent's fields, halt the batch if a failure
-- exceeds its error budget (published on `channel`, as transition.lua does), and complete the batch
-- when nothing is pending any more.
-- Takes: the status, counts, meta, agent hash and pending-per-org keys; the agent key, to, from ('*' =
-- any, or statuses joined by '|'), the status channel; `argv` and the index of its first field, value
-- pair for the agent hash. Returns 1 if moved, 0 if the agent was not in `from` (another attempt
-- already finished it).
local function finish_agent(status, counts, meta, agent, pending, key, to, from, channel, argv, first)
  local old = redis.call('HGET', status, key)
  if not old then return 0 end
  if from ~= '*' and not string.find('|' .. from .. '|', '|' .. old .. '|', 1, true) then return 0 end
  if old ~= to then
    redis.call('HSET', status, key, to)
    redis.call('HINCRBY', counts, old, -1)
    redis.call('HINCRBY', counts, to, 1)
    -- Pending per org: what an org blocked for its key still holds back (SPEC §10).
    if old == 'pending' then redis.call('HINCRBY', pending, org_of(key), -1) end
    if to == 'pending' then redis.call('HINCRBY', pending, org_of(key), 1) end
  end
  for i = first, #argv, 2 do
    redis.call('HSET', agent, argv[i], argv[i + 1])
  end
  -- The error budget, checked on every failure (not only at wave ends): exceeded, the batch halts.
  if to == 'failed' and old ~= 'failed' then
    local max = redis.call('HGET', meta, 'max_failures')
    if max and max ~= '' then
      local failed = tonumber(redis.call('HGET', counts, 'failed') or '0')
      local current = redis.call('HGET', meta, 'status')
      if failed > tonumber(max) and FROM_BUDGET_HALT[current] then
        redis.call('HSET', meta, 'status', 'halted', 'halt_reason', 'error_budget: ' .. failed .. ' agents failed, ' .. max .. ' allowed')
        redis.call('PUBLISH', channel, meta)
      end
    end
  end
  complete(counts, meta)
  return 1
end
