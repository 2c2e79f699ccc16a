-- complete — the completion rule, shared by finish and complete-if-done: when nothing is pending any
-- more and every row is enqueued, a batch still working (FROM_COMPLETE) ends completed, or
-- completed_with_failures. A halted batch stays halted; one whose completion waits for its controller
-- (`hold_completion`: a calls gate judges its last wave first) stays running.
-- Needs: counts key, meta key.  Returns the batch status after the rule.
local function complete(counts, meta)
  local status = redis.call('HGET', meta, 'status')
  local pending = tonumber(redis.call('HGET', counts, 'pending') or '0')
  if pending <= 0 and redis.call('HGET', meta, 'enqueued') == '1' and FROM_COMPLETE[status] and redis.call('HGET', meta, 'hold_completion') ~= '1' then
    local failed = tonumber(redis.call('HGET', counts, 'failed') or '0')
    local t = redis.call('TIME')
    status = failed > 0 and 'completed_with_failures' or 'completed'
    redis.call('HSET', meta, 'status', status, 'finished_at', t[1] * 1000 + math.floor(t[2] / 1000))
  end
  return status
end
