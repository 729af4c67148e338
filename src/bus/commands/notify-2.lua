--[[
  Keep a notification for the owner and journal it. It stays pending (after the delivered
  pointer) until a daemon hands it to its channels; the stream is capped, the oldest go first.

  KEYS[1] notifications stream   KEYS[2] journal stream
  ARGV[1] notifications cap      ARGV[2] journal cap
  ARGV[3] text   ARGV[4] file ('' = none)   ARGV[5] from   ARGV[6] journal line (the text's first line)

  Returns the notification's stream id.
]]
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', tonumber(ARGV[1]), '*',
  'text', ARGV[3], 'file', ARGV[4], 'from', ARGV[5])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', tonumber(ARGV[2]), '*',
  'kind', 'notify', 'id', id, 'source', ARGV[5], 'reply', ARGV[6])
return id
