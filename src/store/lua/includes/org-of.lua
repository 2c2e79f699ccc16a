-- org_of — the org of an agent key `org_id/agent_id` (the part before the first slash).
local function org_of(key)
  local slash = string.find(key, '/', 1, true)
  return slash and string.sub(key, 1, slash - 1) or key
end
