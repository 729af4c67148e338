--[[
  Put in-flight events back at the head of the queue (the tail of the pending list, which is
  claimed first), in their original claim order.

  Mode 'expired': those whose lease has run out (their consumer died or hung).
  Mode 'ids':     the given ids (a consumer hands back what it could not deliver).
  Mode 'all':     every in-flight entry (the previous consumer of this session is known dead).

  KEYS[1] pending list  KEYS[2] in-flight hash  KEYS[3] leases zset
  ARGV[1] mode          ARGV[2..] ids (mode 'ids')

  Returns the number of entries put back.
]]
local mode = ARGV[1]
local ids
if mode == 'expired' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
elseif mode == 'all' then
  ids = redis.call('ZRANGE', KEYS[3], 0, -1)
else
  ids = {}
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
  table.sort(ids, function(a, b)
    return tonumber(redis.call('ZSCORE', KEYS[3], a) or '0') < tonumber(redis.call('ZSCORE', KEYS[3], b) or '0')
  end)
end
-- The earliest claimed must end up at the very tail, so push them latest first.
local moved = 0
for i = #ids, 1, -1 do
  local raw = redis.call('HGET', KEYS[2], ids[i])
  if raw then
    redis.call('RPUSH', KEYS[1], raw)
    redis.call('HDEL', KEYS[2], ids[i])
    moved = moved + 1
  end
  redis.call('ZREM', KEYS[3], ids[i])
end
return moved
