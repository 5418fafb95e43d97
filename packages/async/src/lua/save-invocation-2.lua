--[[
  Writes an invocation record unless it already reached a final state, and — when a lock token is
  given — only while the caller still holds the job's BullMQ lock. A worker that lost its lock
  (frozen past the lock duration, its job handed to another worker) can then never record a second
  final state. A record being stopped (`Stopping`) only takes a final state: a worker that has not
  noticed the stop yet cannot set it back to Running or Retrying. The fields given are merged into
  the stored record, and each change of state is appended to its `events` here, so concurrent
  writers (a worker, a stop request) never drop each other's changes; every Running write is an
  event too, so a run repeated after a crash shows in the record.

  In "destination" mode it only sets the destinationStatus of a final record, and drops the
  pending destination record it was stored with.

  KEYS[1]  the invocation record
  KEYS[2]  the job's BullMQ lock key
  ARGV[1]  the caller's lock token, or "" to skip the lock check
  ARGV[2]  "write": the fields to set (JSON, with at least `status`); "destination": the destination status
  ARGV[3]  "write" | "destination"
  ARGV[4]  now (ms)
  ARGV[5]  the detail of the state change ("" for none)
  ARGV[6]  retention (ms), for a record that has to be created

  Output: 1 written; 0 refused: the record is already final — or Stopping and the write is not
  final — (write), or not final (destination); -1 the lock is not ours
]]
local finals = { Succeeded = true, Failed = true, Stopped = true, Expired = true, Invalid = true }
local current = redis.call('GET', KEYS[1])
local record
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' then record = decoded end
end
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
if ARGV[3] == 'destination' then
  if not record or not finals[record.status] then return 0 end
  record.destinationStatus = ARGV[2]
  record.pendingDestination = nil
  redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
  return 1
end
local incoming = cjson.decode(ARGV[2])
local events = {}
if record then
  if finals[record.status] then return 0 end
  if record.status == 'Stopping' and not finals[incoming.status] then return 0 end
  if type(record.events) == 'table' then events = record.events end
end
-- Every start of a run is an event of its own (a run taken over after a crash shows twice).
if not record or record.status ~= incoming.status or incoming.status == 'Running' then
  events[#events + 1] = { eventId = #events + 1, status = incoming.status, timestamp = tonumber(ARGV[4]), eventDetail = ARGV[5] }
end
local merged = record or {}
for field, value in pairs(incoming) do merged[field] = value end
merged.events = events
if record then
  redis.call('SET', KEYS[1], cjson.encode(merged), 'KEEPTTL')
else
  redis.call('SET', KEYS[1], cjson.encode(merged), 'PX', ARGV[6])
end
return 1
