--[[
  Gives up one of this node's provisioned instances when more are provisioned cluster-wide than the
  target asks for, atomically: two nodes trimming at once never go below the target.

  KEYS[1]  the function's instances hash
  ARGV[1]  the instance id this node offers to give up
  ARGV[2]  prefix of node heartbeat keys
  ARGV[3]  the qualifier
  ARGV[4]  the instance class
  ARGV[5]  the provision target

  Output: 1 given up (its entry is gone), 0 keep it
]]
local entries = redis.call('HGETALL', KEYS[1])
local provisioned = 0
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and type(entry) == 'table' and entry.node and redis.call('EXISTS', ARGV[2] .. entry.node) == 1
    and entry.provisioned == ARGV[3] and entry.cls == ARGV[4] then
    provisioned = provisioned + 1
  end
end
if provisioned > tonumber(ARGV[5]) and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
