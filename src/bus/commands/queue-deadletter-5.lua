--[[
  Give up on a command, visibly: it goes to the gateway's dead-letter list with the reason (the
  list `pi-gateway dead-letters` shows, entries shaped like the bus's own), a `dead-letter` journal
  entry says so (`pi-gateway tail`, the web page), and only then does it leave the queue, all in
  one step so a crash can neither lose it nor dead-letter it twice.

  KEYS[1] dead-letter list   KEYS[2] journal stream   KEYS[3] the priority's command stream
  KEYS[4] retry hash         KEYS[5] started hash
  ARGV[1] session id   ARGV[2] dead-letter cap   ARGV[3] journal cap   ARGV[4] consumer group
  ARGV[5] reason       ARGV[6] raw command JSON  ARGV[7] command id
  ARGV[8..] pairs of (stream id, entry id) of the command's entries

  Returns the number of entries removed from the queue.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sid, deadCap, journalCap, group = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local reason, raw, id = ARGV[5], ARGV[6], ARGV[7]
redis.call('LPUSH', KEYS[1], cjson.encode({reason = reason, session = sid, raw = raw, id = id, at = now}))
redis.call('LTRIM', KEYS[1], 0, deadCap - 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', journalCap, '*', 'kind', 'dead-letter', 'id', id, 'sessions', sid, 'reason', reason)
local removed = 0
for i = 8, #ARGV, 2 do
  removed = removed + redis.call('XACK', KEYS[3], group, ARGV[i])
  redis.call('XDEL', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i + 1])
  redis.call('HDEL', KEYS[5], ARGV[i + 1])
end
return removed
