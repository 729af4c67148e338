--[[
  Move claimed entries that failed validation from the in-flight set to the dead-letter list,
  with the reason, so nothing is silently dropped.

  KEYS[1] in-flight hash  KEYS[2] leases zset  KEYS[3] dead-letter list  KEYS[4] journal stream
  ARGV[1] session id      ARGV[2] dead-letter cap  ARGV[3] journal cap
  ARGV[4..] pairs of (event id, reason)

  Returns the number of entries moved.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sid, deadCap, journalCap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local moved = 0
for i = 4, #ARGV, 2 do
  local id, reason = ARGV[i], ARGV[i + 1]
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('LPUSH', KEYS[3], cjson.encode({reason = reason, session = sid, raw = raw, id = id, at = now}))
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', journalCap, '*', 'kind', 'dead-letter', 'id', id, 'sessions', sid, 'reason', reason)
    moved = moved + 1
  end
end
redis.call('LTRIM', KEYS[3], 0, deadCap - 1)
return moved
