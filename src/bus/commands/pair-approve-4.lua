--[[
  Approves a pairing code: its user joins the approved set and the request is gone (one-time).

  KEYS[1] requests (hash code -> JSON)   KEYS[2] expiry (zset code -> ms)
  KEYS[3] users (hash user id -> code)   KEYS[4] approved (hash user id -> JSON)
  ARGV[1] code   ARGV[2] now (ms)

  Returns { 'approved', approved JSON }, { 'expired' } (then removed), { 'unknown' }, or
  { 'unreadable' } when the stored request is not the JSON pair-request writes (then left as it is).
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return { 'unknown' } end
local ok, request = pcall(cjson.decode, raw)
if not ok or type(request) ~= 'table' or (type(request.userId) ~= 'string' and type(request.userId) ~= 'number') then
  return { 'unreadable' }
end
local user = tostring(request.userId)
local expires = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[3], user) == ARGV[1] then redis.call('HDEL', KEYS[3], user) end
if expires <= tonumber(ARGV[2]) then return { 'expired' } end
request.approvedAt = tonumber(ARGV[2])
local approved = cjson.encode(request)
redis.call('HSET', KEYS[4], user, approved)
return { 'approved', approved }
