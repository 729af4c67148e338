--[[
  Extend the lease of in-flight events whose consumer still holds them: the host has the batch
  but has not recorded it yet (pi keeps a message in memory until its running turn reaches it),
  so the events must stay in flight, however long that turn takes, without being handed out again.

  Lease deadlines double as the claim order (recover-3.lua puts entries back by it): the renewed
  ids keep their relative order and stay strictly increasing, above every other deadline.

  KEYS[1] in-flight hash  KEYS[2] leases zset
  ARGV[1] lease (ms)      ARGV[2..] event ids

  Returns the number of ids that were still in flight (a lower count means a lease had already
  expired and its events were put back in the queue).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[1])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if top[2] and tonumber(top[2]) >= deadline then deadline = tonumber(top[2]) + 0.001 end

local held = {}
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if score and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then held[#held + 1] = {ARGV[i], tonumber(score)} end
end
table.sort(held, function(a, b) return a[2] < b[2] end)
for _, entry in ipairs(held) do
  redis.call('ZADD', KEYS[2], deadline, entry[1])
  deadline = deadline + 0.001
end
return #held
