-- A versioned compare-and-swap (see current.lua for versions; version.lua
-- comes first).
--
-- KEYS[1] K, KEYS[2] V.
-- ARGV[1] the new value; ARGV[2] a fresh version, for an entry without one;
-- ARGV[3] '1' if a version is required, ARGV[4] that version;
-- ARGV[5] '1' if bytes are required, ARGV[6] those bytes.
-- Returns {1} after storing ARGV[1] (without a TTL, as any plain write),
-- {0} when K is absent, {0, value, version} when the entry is not the one
-- required; nothing is changed then but the entry's new version, if any.

local value = redis.call('GET', KEYS[1])
if not value then
  return {0}
end
local version = version_of(ARGV[2])
if (ARGV[3] ~= '1' or ARGV[4] == version) and (ARGV[5] ~= '1' or ARGV[6] == value) then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return {1}
end
return {0, value, version}
