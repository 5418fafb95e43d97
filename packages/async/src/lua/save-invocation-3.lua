--[[
  Updates an invocation record unless it already reached a final state, and — when a lock token is
  given — only while the caller still holds the job's BullMQ lock. A worker that lost its lock
  (frozen past the lock duration, its job handed to another worker) can then never record a second
  final state. A record being stopped (`Stopping`) only takes a final state: a worker that has not
  noticed the stop yet cannot set it back to Running or Retrying. Only the fields given change, and
  each change of state is appended to the events here, so concurrent writers (a worker, a stop
  request) never drop each other's changes; every Running write is an event too, so a run repeated
  after a crash shows in the record.

  In "destination" mode it only sets the destinationStatus of a final record and drops the pending
  destination record stored with it.

  KEYS[1]  the invocation record (hash)
  KEYS[2]  its events (list)
  KEYS[3]  the job's BullMQ lock key
  ARGV[1]  the caller's lock token, or "" to skip the lock check
  ARGV[2]  "write" | "destination"
  ARGV[3]  write: the new status; destination: the destination status
  ARGV[4]  retention (ms), for a record that has to be created again (it expired)
  ARGV[5]  write: how many events follow (n)
  ARGV[6..5+n] write: the events to append on a change of state (JSON, oldest first: a run that
           ended quickly records its Running event with its final state, in one write)
  ARGV[6+n..] write: field, value, … (status included)

  Output: 1 written; 0 refused (the record is final — or Stopping and the write is not final — for
  a write; not final for destination); -1 the lock is not ours
]]
local finals = { Succeeded = true, Failed = true, Stopped = true, Expired = true, Invalid = true }
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return -1
end
local current = redis.call('HGET', KEYS[1], 'status')
if ARGV[2] == 'destination' then
  if not current or not finals[current] then return 0 end
  redis.call('HSET', KEYS[1], 'destinationStatus', ARGV[3])
  redis.call('HDEL', KEYS[1], 'pendingDestination')
  return 1
end
local status = ARGV[3]
if current then
  if finals[current] then return 0 end
  if current == 'Stopping' and not finals[status] then return 0 end
end
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], unpack(ARGV, 6 + n))
if n > 0 and (current ~= status or status == 'Running' or n > 1) then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 6, 5 + n))
end
if not current then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1
