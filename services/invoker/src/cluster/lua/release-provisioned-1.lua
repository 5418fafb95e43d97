--[[
  Gives up one of this node's provisioned instances when more are provisioned cluster-wide than the
  target asks for, atomically: two nodes trimming at once never go below the target. (Preceded by
  live.lua.)

  KEYS[1]  the function's instances hash
  ARGV[1..2] the live nodes (live.lua)
  ARGV[3]  the instance id this node offers to give up
  ARGV[4]  the qualifier
  ARGV[5]  the instance class
  ARGV[6]  the provision target

  Output: 1 given up (its entry is gone), 0 keep it
]]
local entries = redis.call('HGETALL', KEYS[1])
local provisioned = 0
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and live(entry) and entry.provisioned == ARGV[4] and entry.cls == ARGV[5] then
    provisioned = provisioned + 1
  end
end
if provisioned > tonumber(ARGV[6]) and redis.call('HEXISTS', KEYS[1], ARGV[3]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[3])
  return 1
end
return 0
