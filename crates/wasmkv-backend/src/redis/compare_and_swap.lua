-- Atomic compare-and-swap on raw bytes.
--
-- KEYS[1]  the key, KEYS[2] its version key (current.lua);
-- ARGV[1] the bytes expected; ARGV[2] the new value.
-- Returns 1 after storing ARGV[2] iff the key held exactly ARGV[1], else 0.
-- (Expecting an absent key is write.lua's 'create'.)

if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
