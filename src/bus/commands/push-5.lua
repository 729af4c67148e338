--[[
  Push one event and fan it out, atomically.

  Targets: every registered central session, plus the origin session and the explicit target
  when registered; when that leaves nobody, the legacy session (`main`) so nothing is dropped.
  A registered session counts when its presence is live, or when it is durable (a stable id that
  keeps a queue while it is down), or when it has no metadata at all (registered by a plain
  `SADD` as in the original design).

  A push whose id was already pushed within the dedup window is a no-op: producers retry with
  the same id after a connection error, and the retry must not deliver twice. It is journaled as
  a `duplicate` and counted (`duplicates` in the counters hash), so it is never silent. Every
  accepted event is counted once (`pushed`), whatever its fan-out.

  The answer also names the queues no live session drains right now (the pusher tells its user
  the event waits): a queue is drained by the live sessions whose `drains` field lists it, or,
  for a session registered without that field, by the session of that id, and `main` by any
  live central (which drains the legacy queue besides its own).

  KEYS[1] sessions set          KEYS[2] presence zset    KEYS[3] pushed zset
  KEYS[4] dead-letter list      KEYS[5] journal stream
  ARGV[1] key prefix            ARGV[2] event id         ARGV[3] raw event JSON
  ARGV[4] event type            ARGV[5] target ('' = none)
  ARGV[6] origin session ('' = none)                     ARGV[7] legacy session id
  ARGV[8] backlog cap per session                        ARGV[9] dedup window (ms)
  ARGV[10] journal cap          ARGV[11] dead-letter cap ARGV[12] event source
  ARGV[13] dedup max (pushed ids kept; the oldest go first)
  ARGV[14] '1': deliver to the target only, not to the centrals and the origin (a schedule firing
           for the session that made it); optional

  Returns {'ok', {sid...}, {undrained sid...}} | {'duplicate'} | {'unknown-target'}
]]
local prefix, id, raw, etype = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local target, origin, legacy = ARGV[5], ARGV[6], ARGV[7]
local cap, window = tonumber(ARGV[8]), tonumber(ARGV[9])
local journalCap, deadCap = tonumber(ARGV[10]), tonumber(ARGV[11])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
if redis.call('ZSCORE', KEYS[3], id) then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', journalCap, '*',
    'kind', 'duplicate', 'id', id, 'type', etype, 'source', ARGV[12], 'reason', 'already pushed')
  redis.call('HINCRBY', prefix .. ':gateway:counters', 'duplicates', 1)
  return {'duplicate'}
end

-- No scan of the registry: centrals have their own index (`<prefix>:gateway:centrals`), and the
-- sessions draining a queue theirs (`<prefix>:gateway:drainers:<queue>`), both kept by
-- register-5.lua and retire-3.lua. A registry written before these indexes existed is indexed
-- here once, in this same atomic step (the `<prefix>:gateway:indexed` marker says it was done).
local centralsKey, marker = prefix .. ':gateway:centrals', prefix .. ':gateway:indexed'
if redis.call('GET', marker) ~= '1' then
  for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local role, drains = unpack(redis.call('HMGET', prefix .. ':gateway:session:' .. sid, 'role', 'drains'))
    if role == 'central' then redis.call('SADD', centralsKey, sid) end
    if drains then
      for queue in string.gmatch(drains, '[^,]+') do redis.call('SADD', prefix .. ':gateway:drainers:' .. queue, sid) end
    end
  end
  redis.call('SET', marker, '1')
end

-- A registered session's state, or nil when it is not registered.
local states = {}
local function state(sid)
  if states[sid] ~= nil then return states[sid] end
  local s = false
  if redis.call('SISMEMBER', KEYS[1], sid) == 1 then
    local role, durable, drains = unpack(redis.call('HMGET', prefix .. ':gateway:session:' .. sid, 'role', 'durable', 'drains'))
    local deadline = tonumber(redis.call('ZSCORE', KEYS[2], sid) or '0')
    s = {known = role ~= false, role = role, durable = durable, drains = drains, live = deadline >= now}
  end
  states[sid] = s
  return s
end
-- A registered session can receive when its presence is live, when it is durable, or when it has
-- no metadata at all (registered by a plain SADD).
local function receiver(sid)
  local s = state(sid)
  return s and ((not s.known) or s.durable == '1' or s.live)
end
local function lists(drains, queue)
  for q in string.gmatch(drains, '[^,]+') do
    if q == queue then return true end
  end
  return false
end

local centrals = {}
for _, sid in ipairs(redis.call('SMEMBERS', centralsKey)) do
  local s = state(sid)
  if s and s.role == 'central' and receiver(sid) then centrals[#centrals + 1] = sid end
end
-- The seed's central, registered by a plain SADD with no metadata.
local seed = state('gateway')
if seed and not seed.known then centrals[#centrals + 1] = 'gateway' end

-- Is a queue drained right now: by a live session listing it in `drains`, by the live session of
-- that id registered without that field, and `main` by any live central without that field.
local function drained(queue)
  local own = state(queue)
  if own and own.live and not own.drains then return true end
  for _, sid in ipairs(redis.call('SMEMBERS', prefix .. ':gateway:drainers:' .. queue)) do
    local s = state(sid)
    if s and s.live and s.drains and lists(s.drains, queue) then return true end
  end
  if queue == legacy then
    for _, sid in ipairs(centrals) do
      local s = state(sid)
      if s.live and not s.drains and s.role == 'central' then return true end
    end
  end
  return false
end

if target ~= '' and not receiver(target) then
  return {'unknown-target'}
end

local chosen, seen = {}, {}
local function add(sid)
  if sid ~= '' and not seen[sid] then
    seen[sid] = true
    chosen[#chosen + 1] = sid
  end
end
if ARGV[14] == '1' and target ~= '' then
  add(target)
else
  table.sort(centrals)
  for _, sid in ipairs(centrals) do add(sid) end
  if origin ~= '' and receiver(origin) then add(origin) end
  if target ~= '' then add(target) end
end
if #chosen == 0 then add(legacy) end

local note = cjson.encode({type = etype, id = id})
for _, sid in ipairs(chosen) do
  local list = prefix .. ':events:' .. sid
  local len = redis.call('LPUSH', list, raw)
  -- Over the cap the oldest entries are moved to the dead-letter list, never dropped unseen.
  while len > cap do
    local old = redis.call('RPOP', list)
    local reason = 'backlog cap of ' .. cap .. ' exceeded (GATEWAY_BACKLOG_CAP): the oldest pending event of ' .. sid .. ' was moved here'
    local ok, decoded = pcall(cjson.decode, old)
    local oldId = (ok and type(decoded) == 'table' and type(decoded.id) == 'string') and decoded.id or nil
    redis.call('LPUSH', KEYS[4], cjson.encode({reason = reason, session = sid, raw = old, id = oldId, at = now}))
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', journalCap, '*', 'kind', 'dead-letter', 'id', oldId or '', 'sessions', sid, 'reason', reason)
    len = len - 1
  end
  redis.call('PUBLISH', prefix .. ':notify:' .. sid, note)
end
redis.call('LTRIM', KEYS[4], 0, deadCap - 1)
redis.call('ZADD', KEYS[3], now, id)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[13]) + 1))
-- The journal is for reading back what happened, not a second copy of the queue: large bodies are cut.
local journaled = raw
if #raw > 4096 then journaled = string.sub(raw, 1, 4096) .. '...(' .. #raw .. ' bytes)' end
redis.call('HINCRBY', prefix .. ':gateway:counters', 'pushed', 1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', journalCap, '*',
  'kind', 'pushed', 'id', id, 'type', etype, 'source', ARGV[12], 'sessions', table.concat(chosen, ','), 'event', journaled)

local undrained = {}
for _, sid in ipairs(chosen) do
  if not drained(sid) then undrained[#undrained + 1] = sid end
end
return {'ok', chosen, undrained}
