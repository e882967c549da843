-- An entry and its version. The version lives in its own key V (keyspace.rs)
-- beside the value's key K; every write of K by wasmkv deletes V
-- (the backend's MULTI/EXEC and DEL, write.lua, increment.lua,
-- compare_and_swap.lua, swap.lua), so a version
-- once read stays valid exactly until the next write. An entry without one
-- gets ARGV[1] (version.lua, which comes first).
--
-- KEYS[1] K, KEYS[2] V; ARGV[1] a fresh version.
-- Returns {} when K is absent, else {value, version}.

local value = redis.call('GET', KEYS[1])
if not value then
  return {}
end
return {value, version_of(ARGV[1])}
