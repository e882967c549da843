-- Plain writes under wait_replicas, run inside once.lua (whose record is
-- the last key, not written here).
--
-- ARGV[1] 'set': KEYS[i] gets ARGV[i + 1]; returns 1.
-- ARGV[1] 'del': every key is deleted; returns 1.
-- ARGV[1] 'create': KEYS[1] gets ARGV[2] unless it exists; returns 1 if it
--                   was created, else 0.

local count = #KEYS - 1
if ARGV[1] == 'create' then
  if redis.call('SET', KEYS[1], ARGV[2], 'NX') then
    return 1
  end
  return 0
end
for i = 1, count do
  if ARGV[1] == 'set' then
    redis.call('SET', KEYS[i], ARGV[i + 1])
  else
    redis.call('DEL', KEYS[i])
  end
end
return 1
