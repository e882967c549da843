-- Atomic increment of a canonical decimal counter, in exact decimal string
-- arithmetic (Lua numbers are doubles and would round past 2^53).
--
-- KEYS[1]  the counter, KEYS[2] its version key (current.lua)
-- ARGV[1]  delta, canonical decimal (may be negative)
-- ARGV[2]  smallest allowed value, ARGV[3] largest allowed value
--
-- Returns {1, new value} after storing it, or {0[, stored]} when refused:
-- the stored value is not a canonical decimal in range, or the result is
-- outside the range. A refusal changes nothing; the caller words the error.

local function canonical(s)
  return #s <= 40 and (s == "0" or string.find(s, "^%-?[1-9]%d*$") ~= nil)
end

-- Compares two magnitudes (digit strings without leading zeros).
local function cmpmag(a, b)
  if #a ~= #b then
    return #a < #b and -1 or 1
  end
  if a == b then
    return 0
  end
  return a < b and -1 or 1
end

local function addmag(a, b)
  local out, carry = {}, 0
  local i, j = #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local d = carry
    if i > 0 then d = d + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then d = d + string.byte(b, j) - 48; j = j - 1 end
    out[#out + 1] = string.char(48 + d % 10)
    carry = math.floor(d / 10)
  end
  return string.reverse(table.concat(out))
end

-- a - b for magnitudes with a >= b.
local function submag(a, b)
  local out, borrow = {}, 0
  local i, j = #a, #b
  while i > 0 do
    local d = string.byte(a, i) - 48 - borrow
    if j > 0 then d = d - (string.byte(b, j) - 48); j = j - 1 end
    if d < 0 then d = d + 10; borrow = 1 else borrow = 0 end
    out[#out + 1] = string.char(48 + d)
    i = i - 1
  end
  local s = string.gsub(string.reverse(table.concat(out)), "^0+", "")
  if s == "" then return "0" end
  return s
end

local function split(x)
  if string.sub(x, 1, 1) == "-" then return true, string.sub(x, 2) end
  return false, x
end

local function join(negative, mag)
  if negative and mag ~= "0" then return "-" .. mag end
  return mag
end

local function add(x, y)
  local xn, xm = split(x)
  local yn, ym = split(y)
  if xn == yn then return join(xn, addmag(xm, ym)) end
  local c = cmpmag(xm, ym)
  if c == 0 then return "0" end
  if c > 0 then return join(xn, submag(xm, ym)) end
  return join(yn, submag(ym, xm))
end

local function cmp(x, y)
  local xn, xm = split(x)
  local yn, ym = split(y)
  if xn ~= yn then return xn and -1 or 1 end
  local c = cmpmag(xm, ym)
  if xn then return -c end
  return c
end

local function inside(x)
  return cmp(x, ARGV[2]) >= 0 and cmp(x, ARGV[3]) <= 0
end

local stored = redis.call('GET', KEYS[1])
local current = stored or "0"
if not canonical(current) or not inside(current) then
  return {0, current}
end
local result = add(current, ARGV[1])
if not inside(result) then
  return {0, current}
end
-- KEEPTTL: an increment keeps the entry's expiry, as INCRBY does.
redis.call('SET', KEYS[1], result, 'KEEPTTL')
redis.call('DEL', KEYS[2])
return {1, result}
