//! Moving time forward on Redis for expiry tests: Redis expires keys on its
//! own clock, which a test cannot move, so instead every deadline a server
//! holds is moved earlier by the same amount (and keys it takes past their
//! deadline are deleted, as Redis would have expired them). Memory and
//! SQLite stores take a clock the test moves; this is their Redis twin.

use std::time::Duration;

use crate::redis_cli;

/// Moves every deadline on the node at each port `by` earlier.
const SHIFT: &str = "local cursor = '0'
repeat
  local batch = redis.call('SCAN', cursor, 'COUNT', 1000)
  cursor = batch[1]
  for _, key in ipairs(batch[2]) do
    local left = redis.call('PTTL', key)
    if left > 0 then
      if left - tonumber(ARGV[1]) <= 0 then
        redis.call('DEL', key)
      else
        redis.call('PEXPIRE', key, left - tonumber(ARGV[1]))
      end
    end
  end
until cursor == '0'
return 1";

/// Moves every deadline held by the Redis nodes at `ports` `by` earlier.
pub fn shift_deadlines(ports: &[u16], by: Duration) {
    let ms = by.as_millis().to_string();
    for &port in ports {
        redis_cli(port, &["EVAL", SHIFT, "0", &ms]);
    }
}
