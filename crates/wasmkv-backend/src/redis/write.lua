-- Plain writes, each data key beside its version key (keyspace.rs): every
-- write deletes the version key, so the next `current` gives the entry a
-- new version and a swap that expects the old one fails (current.lua).
--
-- KEYS: K1, V1, K2, V2, ... (under wait_replicas once.lua adds its record
-- as the last key, which is not touched here).
-- ARGV[1] 'set': Ki gets ARGV[i + 2]; returns 1.
-- ARGV[1] 'del': every Ki is deleted; returns 1.
-- ARGV[1] 'create': K1 gets ARGV[3] unless it exists; returns 1 if it was
--                   created, else 0.
-- ARGV[2] the TTL of what is stored, in ms; '0' for none (a plain SET
--         clears an earlier TTL).

local ttl = ARGV[2]

local function store(key, value, nx)
  local args = {'SET', key, value}
  if ttl ~= '0' then
    args[#args + 1] = 'PX'
    args[#args + 1] = ttl
  end
  if nx then
    args[#args + 1] = 'NX'
  end
  return redis.call(unpack(args))
end

if ARGV[1] == 'create' then
  if store(KEYS[1], ARGV[3], true) then
    redis.call('DEL', KEYS[2])
    return 1
  end
  return 0
end
for i = 1, math.floor(#KEYS / 2) do
  if ARGV[1] == 'set' then
    store(KEYS[2 * i - 1], ARGV[i + 2], false)
  else
    redis.call('DEL', KEYS[2 * i - 1])
  end
  redis.call('DEL', KEYS[2 * i])
end
return 1
