--[[
  Push, step 1 of 3, the global slot: dedup and routing (push-5.lua runs the three steps in one script
  on a single Redis; a Redis Cluster runs them one by one: src/bus/producing.ts).

  Targets: every registered central session, plus the origin session and the explicit target
  when registered; when that leaves nobody, the legacy session (`main`) so nothing is dropped.
  A registered session counts when its presence is live, or when it is durable (a stable id that
  keeps a queue while it is down), or when it has no metadata at all (registered by a plain
  `SADD` as in the original design).

  A push whose id was already pushed within the dedup window is a no-op: producers retry with
  the same id after a connection error, and the retry must not deliver twice. It is journaled as
  a `duplicate` and counted (`duplicates` in the counters hash), so it is never silent.
  On a cluster a fan-out in progress (this step ran, push-routed-4.lua not yet) is recorded in
  KEYS[7] with its targets: a retry goes where the first try went, never recomputed, so no target is
  lost and (push-enqueue-4.lua being idempotent per queue) none gets it twice.

  The answer also names the queues no live session drains right now (the pusher tells its user
  the event waits): a queue is drained by the live sessions whose `drains` field lists it, or,
  for a session registered without that field, by the session of that id, and `main` by any
  live central (which drains the legacy queue besides its own).

  KEYS[1] sessions set   KEYS[2] presence zset   KEYS[3] pushed zset   KEYS[4] journal stream
  KEYS[5] counters hash  KEYS[6] routes hash     KEYS[7] fan-out in progress (hash, cluster)
  ARGV[1] key prefix     ARGV[2] event id        ARGV[3] event type      ARGV[4] target ('' = none)
  ARGV[5] origin session ('' = none)             ARGV[6] legacy session id
  ARGV[7] dedup window (ms)                      ARGV[8] journal cap     ARGV[9] event source
  ARGV[10] '1': deliver to the target only, not to the centrals and the origin (a schedule firing
           for the session that made it)
  ARGV[11] 'routes': read each record's role/durable/drains from KEYS[6] and record the fan-out in
           KEYS[7] (a cluster: the records are in other slots); '' = read the records themselves
           (a single Redis, whose registries may predate KEYS[6]) and record nothing (one atomic script)

  Returns {'ok', {sid...}, {undrained sid...}} | {'duplicate'} | {'unknown-target'}
]]
local prefix, id, etype = ARGV[1], ARGV[2], ARGV[3]
local target, origin, legacy = ARGV[4], ARGV[5], ARGV[6]
local window, journalCap = tonumber(ARGV[7]), tonumber(ARGV[8])
local fromRoutes = ARGV[11] == 'routes'
local g = string.sub(KEYS[1], 1, #KEYS[1] - #':sessions')

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
local resumed = fromRoutes and redis.call('HGET', KEYS[7], 'targets')
if not resumed and redis.call('ZSCORE', KEYS[3], id) then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', journalCap, '*',
    'kind', 'duplicate', 'id', id, 'type', etype, 'source', ARGV[9], 'reason', 'already pushed')
  redis.call('HINCRBY', KEYS[5], 'duplicates', 1)
  return {'duplicate'}
end

-- No scan of the registry: centrals have their own index (`<g>:centrals`), and the sessions draining
-- a queue theirs (`<g>:drainers:<queue>`), both kept by register-global-4.lua and retire-global-5.lua.
-- A single Redis registry written before these indexes existed is indexed here once, in this same
-- atomic step (the `<g>:indexed` marker says it was done); a cluster never had such a registry.
local centralsKey, marker = g .. ':centrals', g .. ':indexed'
if not fromRoutes and redis.call('GET', marker) ~= '1' then
  for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local role, drains = unpack(redis.call('HMGET', prefix .. ':gateway:session:' .. sid, 'role', 'drains'))
    if role == 'central' then redis.call('SADD', centralsKey, sid) end
    if drains then
      for queue in string.gmatch(drains, '[^,]+') do redis.call('SADD', g .. ':drainers:' .. queue, sid) end
    end
  end
  redis.call('SET', marker, '1')
end

-- What routing needs of a record: its own fields, or their copy in the routes hash.
local function record(sid)
  if not fromRoutes then return redis.call('HMGET', prefix .. ':gateway:session:' .. sid, 'role', 'durable', 'drains') end
  local route = redis.call('HGET', KEYS[6], sid)
  if not route then return {false, false, false} end
  local r = cjson.decode(route)
  local drains = r.drains
  if drains == cjson.null then drains = false end
  return {r.role ~= '' and r.role or false, r.durable ~= '' and r.durable or false, drains}
end
-- A registered session's state, or nil when it is not registered.
local states = {}
local function state(sid)
  if states[sid] ~= nil then return states[sid] end
  local s = false
  if redis.call('SISMEMBER', KEYS[1], sid) == 1 then
    local role, durable, drains = unpack(record(sid))
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
  for _, sid in ipairs(redis.call('SMEMBERS', g .. ':drainers:' .. queue)) do
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

local chosen = {}
if resumed then
  for sid in string.gmatch(resumed, '[^,]+') do chosen[#chosen + 1] = sid end
else
  if target ~= '' and not receiver(target) then
    return {'unknown-target'}
  end
  local seen = {}
  local function add(sid)
    if sid ~= '' and not seen[sid] then
      seen[sid] = true
      chosen[#chosen + 1] = sid
    end
  end
  if ARGV[10] == '1' and target ~= '' then
    add(target)
  else
    table.sort(centrals)
    for _, sid in ipairs(centrals) do add(sid) end
    if origin ~= '' and receiver(origin) then add(origin) end
    if target ~= '' then add(target) end
  end
  if #chosen == 0 then add(legacy) end
  if fromRoutes then
    redis.call('HSET', KEYS[7], 'targets', table.concat(chosen, ','))
    redis.call('PEXPIRE', KEYS[7], window)
  end
end

local undrained = {}
for _, sid in ipairs(chosen) do
  if not drained(sid) then undrained[#undrained + 1] = sid end
end
return {'ok', chosen, undrained}
