-- Atomic compare-and-swap on raw bytes.
--
-- KEYS[1]  the key; ARGV[1] the bytes expected; ARGV[2] the new value.
-- Returns 1 after storing ARGV[2] iff the key held exactly ARGV[1], else 0.
-- (Expecting an absent key is `SET NX`, no script needed.)

if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
