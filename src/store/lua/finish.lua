--!include statuses
--!include complete
--!include org-of
-- finishAgent — move one agent from `from` to `to`, keep the counts equal to the statuses, record the
-- agent's fields, halt the batch if a failure exceeds its error budget, and complete the batch when
-- nothing is pending any more.
-- KEYS: status, counts, meta, agent hash, pending per org.
-- ARGV: agent key, to, from ('*' = any, or statuses joined by '|'), the status channel (a halt is
-- published there, as transition.lua does), then field, value pairs for the agent hash.
-- Returns 1 if moved, 0 if the agent was not in `from` (another attempt already finished it).
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
if ARGV[3] ~= '*' and not string.find('|' .. ARGV[3] .. '|', '|' .. old .. '|', 1, true) then return 0 end
if old ~= ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[2], old, -1)
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  -- Pending per org: what an org blocked for its key still holds back (SPEC §10).
  if old == 'pending' then redis.call('HINCRBY', KEYS[5], org_of(ARGV[1]), -1) end
  if ARGV[2] == 'pending' then redis.call('HINCRBY', KEYS[5], org_of(ARGV[1]), 1) end
end
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
end
-- The error budget, checked on every failure (not only at wave ends): exceeded, the batch halts.
if ARGV[2] == 'failed' and old ~= 'failed' then
  local max = redis.call('HGET', KEYS[3], 'max_failures')
  if max and max ~= '' then
    local failed = tonumber(redis.call('HGET', KEYS[2], 'failed') or '0')
    local status = redis.call('HGET', KEYS[3], 'status')
    if failed > tonumber(max) and FROM_BUDGET_HALT[status] then
      redis.call('HSET', KEYS[3], 'status', 'halted', 'halt_reason', 'error_budget: ' .. failed .. ' agents failed, ' .. max .. ' allowed')
      redis.call('PUBLISH', ARGV[4], KEYS[3])
    end
  end
end
complete(KEYS[2], KEYS[3])
return 1
