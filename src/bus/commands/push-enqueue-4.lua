--[[
  Push, step 2 of 3, one target queue's slot: put the event in the queue and wake its consumer.
  Over the backlog cap the oldest entries are moved to the dead-letter list, never dropped unseen.

  On a cluster (ARGV[10] = '1') the step may run again for the same event (a producer retried after
  dying between steps): the ids it already put in this queue are kept in KEYS[4] (pruned with the
  dedup window and cap, like the pushed ids), and a repeat does nothing. A single Redis runs the
  three steps in one atomic script (push-5.lua) and keeps no such record.

  KEYS[1] events list    KEYS[2] dead-letter list   KEYS[3] journal stream   KEYS[4] enqueued zset
  ARGV[1] event id       ARGV[2] raw event JSON     ARGV[3] event type       ARGV[4] session id
  ARGV[5] backlog cap    ARGV[6] dead-letter cap    ARGV[7] journal cap      ARGV[8] dedup window (ms)
  ARGV[9] dedup max      ARGV[10] '1': record the id in KEYS[4] and skip a repeat
  ARGV[11] notification channel

  Returns 1 when queued, 0 when this queue already had it.
]]
local id, raw, sid, cap = ARGV[1], ARGV[2], ARGV[4], tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local track = ARGV[10] == '1'
if track then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[8]))
  if redis.call('ZSCORE', KEYS[4], id) then return 0 end
end
local len = redis.call('LPUSH', KEYS[1], raw)
while len > cap do
  local old = redis.call('RPOP', KEYS[1])
  local reason = 'backlog cap of ' .. cap .. ' exceeded (GATEWAY_BACKLOG_CAP): the oldest pending event of ' .. sid .. ' was moved here'
  local ok, decoded = pcall(cjson.decode, old)
  local oldId = (ok and type(decoded) == 'table' and type(decoded.id) == 'string') and decoded.id or nil
  redis.call('LPUSH', KEYS[2], cjson.encode({reason = reason, session = sid, raw = old, id = oldId, at = now}))
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', tonumber(ARGV[7]), '*', 'kind', 'dead-letter', 'id', oldId or '', 'sessions', sid, 'reason', reason)
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
  len = len - 1
end
if track then
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(tonumber(ARGV[9]) + 1))
end
redis.call('PUBLISH', ARGV[11], cjson.encode({type = ARGV[3], id = id}))
return 1
