-- schedule — the two request schedules as functions (GCRA-like): each caller reserves the next free
-- slot, spaced 1/rate apart, and is told how long to wait for it. After a 429 the rate is lowered
-- (factor) and recovers linearly over the recovery time. Used by reserve, reserve-key, reserve-both.
-- A caller may reserve `count` consecutive slots at once (a block, at high rates: rate-limiter.ts); the
-- wait returned is the first one's, the others follow 1/rate apart.

-- A batch's schedule at its --rate. Returns wait ms, effective rate × 1000.
local function reserve_batch(key, now, asked, recovery, count)
  local state = redis.call('HMGET', key, 'next', 'factor', 'penalized_at')
  local nxt = tonumber(state[1] or '0')
  local factor = tonumber(state[2] or '1')
  local since = now - tonumber(state[3] or '0')
  if factor < 1 then factor = math.min(1, factor + (1 - factor) * since / recovery) end
  local rate = asked * factor
  local slot = math.max(now, nxt)
  redis.call('HSET', key, 'next', tostring(slot + count * 1000 / rate))
  redis.call('PEXPIRE', key, 86400000)
  return math.floor(slot - now), math.floor(rate * 1000)
end

-- An API key's schedule (SPEC §10), shared by every batch using the key: at its --key-rate when one
-- was set, else the highest --rate of the batches that reserved on it within the window (a higher one
-- takes over at once, a lower one only once the higher has not been seen for the window).
local function reserve_key(key, now, asked, recovery, window, count)
  local s = redis.call('HMGET', key, 'next', 'factor', 'penalized_at', 'key_rate', 'max_rate', 'max_rate_at')
  local nxt = tonumber(s[1] or '0')
  local factor = tonumber(s[2] or '1')
  local since = now - tonumber(s[3] or '0')
  local highest = tonumber(s[5] or '0')
  if asked >= highest or now - tonumber(s[6] or '0') > window then
    highest = asked
    redis.call('HSET', key, 'max_rate', tostring(asked), 'max_rate_at', tostring(now))
  end
  local rate = tonumber(s[4] or '')
  if not rate or rate <= 0 then rate = highest end
  if factor < 1 then factor = math.min(1, factor + (1 - factor) * since / recovery) end
  rate = rate * factor
  local slot = math.max(now, nxt)
  redis.call('HSET', key, 'next', tostring(slot + count * 1000 / rate))
  redis.call('PEXPIRE', key, 86400000)
  return math.floor(slot - now), math.floor(rate * 1000)
end
