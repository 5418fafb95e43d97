--[[
  Records a new asynchronous invocation and indexes it by start time, in one step: a record is
  never left out of its function's listing.

  KEYS[1]  the invocation record
  KEYS[2]  the function's index (sorted set of invocation ids by start time)
  ARGV[1]  the record (JSON)
  ARGV[2]  the invocation id
  ARGV[3]  its start time (ms)
  ARGV[4]  retention (ms)
  ARGV[5]  now (ms)

  Output: 1 created, 0 an invocation with this id exists
]]
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4], 'NX') then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[5]) - tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
