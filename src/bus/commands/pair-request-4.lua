--[[
  A pairing code for an unknown user: drops expired requests, then answers, in this order,
  approved (the user is paired already), pending (their live code, no new one: one per user),
  full (too many requests wait), collision (the random code is taken: try another), or issued.

  KEYS[1] requests (hash code -> JSON)   KEYS[2] expiry (zset code -> ms)
  KEYS[3] users (hash user id -> code)   KEYS[4] approved (hash user id -> JSON)
  ARGV[1] user id   ARGV[2] new code   ARGV[3] now (ms)   ARGV[4] time to live (ms)
  ARGV[5] most pending requests   ARGV[6] the request JSON

  Returns { status, code? }.
]]
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
for _, code in ipairs(expired) do
  local raw = redis.call('HGET', KEYS[1], code)
  if raw then
    -- An unreadable request (edited by hand) must not stop every later request: its user is
    -- found by the code instead.
    local ok, request = pcall(cjson.decode, raw)
    if ok and type(request) == 'table' and request.userId ~= nil then
      local user = tostring(request.userId)
      if redis.call('HGET', KEYS[3], user) == code then redis.call('HDEL', KEYS[3], user) end
    else
      local users = redis.call('HGETALL', KEYS[3])
      for i = 1, #users, 2 do
        if users[i + 1] == code then redis.call('HDEL', KEYS[3], users[i]) end
      end
    end
    redis.call('HDEL', KEYS[1], code)
  end
  redis.call('ZREM', KEYS[2], code)
end
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return { 'approved' } end
local live = redis.call('HGET', KEYS[3], ARGV[1])
if live then return { 'pending', live } end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return { 'full' } end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return { 'collision' } end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[6])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return { 'issued', ARGV[2] }
