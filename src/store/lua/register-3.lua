--!include org-of
-- registerAgents — a chunk of a manifest's agents joins the batch.
-- KEYS: status, counts, pending per org.  ARGV: agent keys (org_id/agent_id).
-- Returns one flag per agent: 1 = new (enqueue it), 2 = already registered and still pending (its
-- job may be missing after an interrupted submit), 0 = already finished (never run it again).
local out = {}
for i, key in ipairs(ARGV) do
  if redis.call('HSETNX', KEYS[1], key, 'pending') == 1 then
    redis.call('HINCRBY', KEYS[2], 'pending', 1)
    redis.call('HINCRBY', KEYS[3], org_of(key), 1)
    out[i] = 1
  elseif redis.call('HGET', KEYS[1], key) == 'pending' then
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
