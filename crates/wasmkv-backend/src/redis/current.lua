-- An entry and its version. The version lives in its own key V (keyspace.rs)
-- beside the value's key K; every write of K by wasmkv deletes V
-- (write.lua, increment.lua, compare_and_swap.lua, swap.lua), so a version
-- once read stays valid exactly until the next write. An entry without one
-- gets ARGV[1] (random, never used before), expiring with the entry.
--
-- KEYS[1] K, KEYS[2] V; ARGV[1] a fresh version.
-- Returns {} when K is absent, else {value, version}.

local value = redis.call('GET', KEYS[1])
if not value then
  return {}
end
local version = redis.call('GET', KEYS[2])
if not version then
  version = ARGV[1]
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    redis.call('SET', KEYS[2], version, 'PX', ttl)
  else
    redis.call('SET', KEYS[2], version)
  end
end
return {value, version}
