--[[
  Take one session out of service, in its slot (step 1 of 2; retire-3.lua runs the steps for every
  candidate on a single Redis). A durable session (stable id, e.g. the central one) keeps its record
  and its queue, so events keep collecting for its next start: it is only marked stopped and its lease
  freed. An ephemeral session is removed, and whatever it leaves undelivered (pending or in flight)
  moves to the dead-letter list with the reason: nobody will ever come back for it.

  KEYS[1] session info hash  KEYS[2] events list  KEYS[3] in-flight hash  KEYS[4] leases zset
  KEYS[5] delivered zset     KEYS[6] dead-letter list  KEYS[7] journal stream (this session's on a
  cluster, the global ones on a single Redis)  KEYS[8] owner mirror  KEYS[9] enqueued zset
  ARGV[1] session id
  ARGV[2] mode: 'session' (a clean stop: only if ARGV[3] still owns the record) or 'expired' (reaping)
  ARGV[3] instance token ('session' mode)  ARGV[4] the dead letters' reason
  ARGV[5] dead-letter cap   ARGV[6] journal cap
  ARGV[7] 'record': in 'expired' mode, check again here that the record's own deadline has passed by
          more than the grace ARGV[8] (ms) (a cluster: the candidate was read from the presence zset in
          another slot, and a session that renewed since stays); '' = the caller checked it atomically

  Returns {status, moved, '1' when the record had `drains` else '0', its drains, '1' when this session's
  own journal or dead letters hold records else '0'}; status: 'retired' (removed), 'offline' (durable,
  kept), 'skip' (not owned by ARGV[3], or renewed since), 'gone' (no record: an orphan presence entry).
]]
local sid, mode, reason = ARGV[1], ARGV[2], ARGV[4]
local deadCap, journalCap = tonumber(ARGV[5]), tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local instance, durable, drains, deadline = unpack(redis.call('HMGET', KEYS[1], 'instance', 'durable', 'drains', 'deadline'))
if mode == 'session' then
  if instance and instance ~= ARGV[3] then return {'skip', 0, '0', '', '0'} end
else
  if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone', 0, '0', '', '0'} end
  if ARGV[7] == 'record' and deadline and tonumber(deadline) >= now - (tonumber(ARGV[8]) or 0) then
    return {'skip', 0, '0', '', '0'}
  end
end
local function left()
  return (redis.call('EXISTS', KEYS[6]) == 1 or redis.call('EXISTS', KEYS[7]) == 1) and '1' or '0'
end
if durable == '1' then
  redis.call('HSET', KEYS[1], 'stopped', now)
  redis.call('HDEL', KEYS[1], 'deadline')
  return {'offline', 0, drains and '1' or '0', drains or '', left()}
end
local moved = 0
local function dead(raw)
  -- The id, when the entry has one, so the letter and its journal entry name the event.
  local ok, decoded = pcall(cjson.decode, raw)
  local id = (ok and type(decoded) == 'table' and type(decoded.id) == 'string') and decoded.id or nil
  redis.call('LPUSH', KEYS[6], cjson.encode({reason = reason, session = sid, raw = raw, id = id, at = now}))
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', journalCap, '*', 'kind', 'dead-letter', 'id', id or '', 'sessions', sid, 'reason', reason)
  moved = moved + 1
end
for _, raw in ipairs(redis.call('HVALS', KEYS[3])) do dead(raw) end
local pending = redis.call('LRANGE', KEYS[2], 0, -1)
for i = #pending, 1, -1 do dead(pending[i]) end
redis.call('LTRIM', KEYS[6], 0, deadCap - 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[8], KEYS[9])
return {'retired', moved, drains and '1' or '0', drains or '', left()}
