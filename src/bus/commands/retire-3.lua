--[[
  Take sessions out of service on a single Redis: retire-session-9.lua then retire-global-5.lua for
  each, in one atomic script (a Redis Cluster runs them one by one, each in its slot: src/bus/sessions.ts).

  Mode 'session': one session shuts down cleanly (only if this instance still owns it).
  Mode 'expired': reap every session whose presence deadline has passed by more than the grace
                  (the process died without saying so); sessions registered without metadata are
                  left alone. The grace (one presence interval) lets sessions that were alive come
                  back first after Redis itself was away or frozen (every presence lapsed at once);
                  pushes stop targeting a lapsed session at its deadline anyway (push-5.lua).
                  Only the expired are read (ZRANGEBYSCORE of the presence zset), never the whole
                  registry: the cost is per expired session, not per registered one.

  KEYS[1] sessions set  KEYS[2] presence zset  KEYS[3] dead-letter list
  ARGV[1] key prefix    ARGV[2] dead-letter cap  ARGV[3] mode
  ARGV[4] session id (mode 'session')            ARGV[5] instance token (mode 'session')
  ARGV[6] journal cap: each dead letter also gets a `dead-letter` journal entry (pi-gateway tail)
  ARGV[7] grace (ms, mode 'expired'; 0 when absent)

  Returns {sid1, moved1, sid2, moved2, ...} for the sessions removed or marked offline.
]]
--@step retire-session
--@step retire-global
local prefix, mode = ARGV[1], ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local g = prefix .. ':gateway'

-- Both steps for one session; its keys are the single Redis names (src/protocol/keys.ts).
local function retire(sid, why, instance)
  local keys = {g .. ':session:' .. sid, prefix .. ':events:' .. sid, prefix .. ':inflight:' .. sid, prefix .. ':leases:' .. sid,
    prefix .. ':delivered:' .. sid, KEYS[3], g .. ':journal', prefix .. ':owner:' .. sid, prefix .. ':enqueued:' .. sid}
  local r = retire_session(keys, {sid, mode, instance, why, ARGV[2], ARGV[6], '', ''})
  if r[1] == 'skip' then return nil end
  -- The global keys hold this session's records on a single Redis: no letterbox to keep.
  retire_global({KEYS[1], KEYS[2], g .. ':centrals', g .. ':routes', g .. ':letterboxes'}, {sid, r[1], r[3], r[4], g, '0'})
  return r
end

local out = {}
if mode == 'session' then
  local sid = ARGV[4]
  local r = retire(sid, 'session ' .. sid .. ' ended before delivery: it shut down and, having no stable id, will not come back for it', ARGV[5])
  if r then out = {sid, r[2]} end
else
  -- Registered with a presence deadline in the past; a durable one leaves the presence zset when
  -- retired, so it is read once. (Sessions with no presence entry were never live, or stopped.)
  -- A lapsed entry with no registration behind it is dropped: it can never be live again, and the
  -- presence tick (register-5.lua) would otherwise find a lapse to reap on every tick.
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - (tonumber(ARGV[7]) or 0)))) do
    if redis.call('SISMEMBER', KEYS[1], sid) == 1 then
      local r = retire(sid, 'session ' .. sid .. ' died before delivery: its presence lapsed and, having no stable id, it will not come back for it', '')
      if r and r[1] ~= 'gone' then
        out[#out + 1] = sid
        out[#out + 1] = r[2]
      end
    else
      redis.call('ZREM', KEYS[2], sid)
    end
  end
end
return out
