-- The wrapper that makes a write safe to send again under wait_replicas
-- (see replicated.rs). The last key is the operation's record, the last
-- argument the record's lifetime in ms; the operation's own keys and
-- arguments come first, as its body expects them.
--
-- The first run does the operation and keeps its reply in the record. A
-- resend finds the record and answers the same without doing it again,
-- touching the record so that the WAIT after it has a write to count.

local record, lifetime = KEYS[#KEYS], ARGV[#ARGV]
local done = redis.call('GET', record)
if done then
  redis.call('PEXPIRE', record, lifetime)
  return cjson.decode(done)
end

local function operation()
--BODY--
end

local reply = operation()
redis.call('SET', record, cjson.encode(reply), 'PX', lifetime)
return reply
