--[[
  Whether a queue has an in-flight entry whose lease expired (its consumer died or hung): only then
  does the owner put such entries back (recover-3.lua). Read by registration for each drained queue.

  KEYS[1] leases zset    ARGV[1] now (ms, '' = this server's time)
  Returns 1 or 0.
]]
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
return #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1) > 0 and 1 or 0
