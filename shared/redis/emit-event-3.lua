-- Appends one event to a job's stream, atomically: assigns the next seq, appends the serialized
-- event to the capped history, updates the live state, refreshes expiry, publishes.
-- All three names carry the job's hash tag, so they share one slot (Redis Cluster safe).
local stateKey = KEYS[1]
local historyKey = KEYS[2]
local channel = KEYS[3]

local jobId = ARGV[1]
local eventType = ARGV[2]
local status = ARGV[3]
local progress = ARGV[4]         -- '' when the event carries no progress
local resultsCount = ARGV[5]
local head = ARGV[6]             -- JSON members from "event_type" to "message"
local metadataMembers = ARGV[7]  -- JSON members of metadata without braces, may be ''
local timestamp = ARGV[8]
local seqFloor = tonumber(ARGV[9])   -- highest seq known elsewhere (worker memory, Postgres)
local maxEvents = tonumber(ARGV[10])
local ttlSeconds = tonumber(ARGV[11])

local seq
local epoch = redis.call('HGET', stateKey, 'epoch')
if epoch then
  seq = redis.call('HINCRBY', stateKey, 'seq', 1)
else
  -- No live state: a new job, or Redis lost it. A new epoch tells resuming clients that the
  -- history they knew is gone; seq continues above the floor so no seq a client saw is reused.
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%06d', tonumber(now[2]))
  seq = seqFloor + 1
  redis.call('HSET', stateKey, 'job_id', jobId, 'epoch', epoch, 'seq', seq)
end

local metadata = '{"epoch":"' .. epoch .. '"'
if metadataMembers ~= '' then
  metadata = metadata .. ',' .. metadataMembers
end
local payload = '{"job_id":' .. jobId .. ',"seq":' .. seq .. ',' .. head
  .. ',"metadata":' .. metadata .. '},"timestamp":"' .. timestamp .. '"}'

redis.call('HSET', stateKey, 'status', status, 'results_count', resultsCount,
  'event_type', eventType, 'updated_at', timestamp)
if progress ~= '' then
  redis.call('HSET', stateKey, 'progress', progress)
end
if eventType == 'job_started' then
  redis.call('HSET', stateKey, 'started_at', timestamp)
  redis.call('HDEL', stateKey, 'completed_at')
elseif eventType == 'job_completed' or eventType == 'job_failed' then
  redis.call('HSET', stateKey, 'completed_at', timestamp)
end

redis.call('RPUSH', historyKey, payload)
redis.call('LTRIM', historyKey, -maxEvents, -1)
redis.call('EXPIRE', stateKey, ttlSeconds)
redis.call('EXPIRE', historyKey, ttlSeconds)
redis.call('PUBLISH', channel, payload)
return { seq, epoch }
