--[[
  Replaces an instance's registry entry only if it is still there (an instance released meanwhile
  must not come back).

  KEYS[1]  the function's instances hash
  ARGV[1]  the instance id
  ARGV[2]  its new JSON

  Output: 1 updated, 0 gone
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
