-- Put before current.lua and swap.lua: an entry's version, kept in the
-- version key KEYS[2] beside the value's key KEYS[1] (see current.lua).
-- An entry without one is given `fresh` (random, never used before),
-- expiring with the entry.
local function version_of(fresh)
  local version = redis.call('GET', KEYS[2])
  if not version then
    version = fresh
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 then
      redis.call('SET', KEYS[2], version, 'PX', ttl)
    else
      redis.call('SET', KEYS[2], version)
    end
  end
  return version
end

