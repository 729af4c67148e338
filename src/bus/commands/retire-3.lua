--[[
  Take sessions out of service.

  Mode 'session': one session shuts down cleanly (only if this instance still owns it).
  Mode 'expired': reap every session whose presence deadline has passed by more than the grace
                  (the process died without saying so); sessions registered without metadata are
                  left alone. The grace (one presence interval) lets sessions that were alive come
                  back first after Redis itself was away or frozen (every presence lapsed at once);
                  pushes stop targeting a lapsed session at its deadline anyway (push-5.lua).
                  Only the expired are read (ZRANGEBYSCORE of the presence zset), never the whole
                  registry: the cost is per expired session, not per registered one.

  A durable session (stable id, e.g. the central one) keeps its registration and its queue, so
  events keep collecting for its next start; it only loses its presence. An ephemeral session is
  removed, and whatever it leaves undelivered (pending or in flight) moves to the dead-letter
  list with the reason: nobody will ever come back for it.

  KEYS[1] sessions set  KEYS[2] presence zset  KEYS[3] dead-letter list
  ARGV[1] key prefix    ARGV[2] dead-letter cap  ARGV[3] mode
  ARGV[4] session id (mode 'session')            ARGV[5] instance token (mode 'session')
  ARGV[6] journal cap: each dead letter also gets a `dead-letter` journal entry (pi-gateway tail)
  ARGV[7] grace (ms, mode 'expired'; 0 when absent)

  Returns {sid1, moved1, sid2, moved2, ...} for the sessions removed or marked offline.
]]
local prefix, deadCap, mode, journalCap = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function retire(sid, reason)
  local info = prefix .. ':gateway:session:' .. sid
  redis.call('ZREM', KEYS[2], sid)
  if redis.call('HGET', info, 'durable') == '1' then
    redis.call('HSET', info, 'stopped', now)
    return 0
  end
  local list = prefix .. ':events:' .. sid
  local inflight = prefix .. ':inflight:' .. sid
  local moved = 0
  local function dead(raw)
    -- The id, when the entry has one, so the letter and its journal entry name the event.
    local ok, decoded = pcall(cjson.decode, raw)
    local id = (ok and type(decoded) == 'table' and type(decoded.id) == 'string') and decoded.id or nil
    redis.call('LPUSH', KEYS[3], cjson.encode({reason = reason, session = sid, raw = raw, id = id, at = now}))
    redis.call('XADD', prefix .. ':gateway:journal', 'MAXLEN', '~', journalCap, '*', 'kind', 'dead-letter', 'id', id or '', 'sessions', sid, 'reason', reason)
    moved = moved + 1
  end
  for _, raw in ipairs(redis.call('HVALS', inflight)) do dead(raw) end
  local pending = redis.call('LRANGE', list, 0, -1)
  for i = #pending, 1, -1 do dead(pending[i]) end
  -- Out of the indexes push-5.lua reads (kept by register-3.lua).
  local drains = redis.call('HGET', info, 'drains')
  if drains then
    for queue in string.gmatch(drains, '[^,]+') do redis.call('SREM', prefix .. ':gateway:drainers:' .. queue, sid) end
  end
  redis.call('SREM', prefix .. ':gateway:centrals', sid)
  redis.call('DEL', list, inflight, prefix .. ':leases:' .. sid, prefix .. ':delivered:' .. sid, info)
  redis.call('SREM', KEYS[1], sid)
  return moved
end

local out = {}
if mode == 'session' then
  local sid, instance = ARGV[4], ARGV[5]
  local owner = redis.call('HGET', prefix .. ':gateway:session:' .. sid, 'instance')
  if owner and owner ~= instance then return out end
  out = {sid, retire(sid, 'session ' .. sid .. ' ended before delivery: it shut down and, having no stable id, will not come back for it')}
else
  -- Registered with a presence deadline in the past; a durable one leaves the presence zset when
  -- retired, so it is read once. (Sessions with no presence entry were never live, or stopped.)
  -- A lapsed entry with no registration behind it is dropped: it can never be live again, and the
  -- presence tick (register-3.lua) would otherwise find a lapse to reap on every tick.
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - (tonumber(ARGV[7]) or 0)))) do
    local info = prefix .. ':gateway:session:' .. sid
    if redis.call('SISMEMBER', KEYS[1], sid) == 1 and redis.call('EXISTS', info) == 1 then
      out[#out + 1] = sid
      out[#out + 1] = retire(sid, 'session ' .. sid .. ' died before delivery: its presence lapsed and, having no stable id, it will not come back for it')
    else
      redis.call('ZREM', KEYS[2], sid)
    end
  end
  if #out == 0 then return out end
end
redis.call('LTRIM', KEYS[3], 0, deadCap - 1)
return out
