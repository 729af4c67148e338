--[[
  Push one event and fan it out, atomically, on a single Redis: push-route-7.lua (dedup, targets),
  push-enqueue-4.lua for each target, push-routed-4.lua (pushed, counted, journaled) in one script and
  one round trip. A Redis Cluster runs the same steps one by one, each in its slot (src/bus/producing.ts).
  See the steps for the routing, dedup and backlog cap rules.

  KEYS[1] sessions set          KEYS[2] presence zset    KEYS[3] pushed zset
  KEYS[4] dead-letter list      KEYS[5] journal stream
  ARGV[1] key prefix            ARGV[2] event id         ARGV[3] raw event JSON
  ARGV[4] event type            ARGV[5] target ('' = none)
  ARGV[6] origin session ('' = none)                     ARGV[7] legacy session id
  ARGV[8] backlog cap per session                        ARGV[9] dedup window (ms)
  ARGV[10] journal cap          ARGV[11] dead-letter cap ARGV[12] event source
  ARGV[13] dedup max (pushed ids kept; the oldest go first)
  ARGV[14] '1': deliver to the target only (a schedule firing for the session that made it); optional

  Returns {'ok', {sid...}, {undrained sid...}} | {'duplicate'} | {'unknown-target'}
]]
--@step push-route
--@step push-enqueue
--@step push-routed
local prefix, id, raw, etype = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local g = prefix .. ':gateway'
local counters, fanout = g .. ':counters', g .. ':fanout:' .. id
local r = push_route({KEYS[1], KEYS[2], KEYS[3], KEYS[5], counters, g .. ':routes', fanout},
  {prefix, id, etype, ARGV[5], ARGV[6], ARGV[7], ARGV[9], ARGV[10], ARGV[12], ARGV[14] or '', ''})
if r[1] ~= 'ok' then return r end
for _, sid in ipairs(r[2]) do
  push_enqueue({prefix .. ':events:' .. sid, KEYS[4], KEYS[5], prefix .. ':enqueued:' .. sid},
    {id, raw, etype, sid, ARGV[8], ARGV[11], ARGV[10], ARGV[9], ARGV[13], '', prefix .. ':notify:' .. sid})
end
push_routed({KEYS[3], KEYS[5], counters, fanout}, {id, raw, etype, ARGV[12], table.concat(r[2], ','), ARGV[10], ARGV[13]})
return r
