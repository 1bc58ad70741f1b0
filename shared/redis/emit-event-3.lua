-- Appends one or more events of a job to its stream, atomically: assigns the next seqs, appends
-- the serialized events to the capped history, updates the live state, refreshes expiry when it
-- is due, publishes each event. All three names carry the job's hash tag, so they share one slot
-- (Redis Cluster safe, and the channel is a shard channel of that slot).
--
-- The cost of a call is mostly fixed (the script call itself), so a writer sends every event it
-- has at hand in one call, and the script does as few commands as it can per call: one read and
-- one write of the state, a TTL, one append, a trim only when the cap is passed, expiry only when
-- due, and a publish per event.
local stateKey = KEYS[1]
local historyKey = KEYS[2]
local channel = KEYS[3]

local jobId = ARGV[1]
local seqFloor = tonumber(ARGV[2])   -- highest seq known elsewhere (worker memory, Postgres)
local maxEvents = tonumber(ARGV[3])
local ttlSeconds = tonumber(ARGV[4])
local publishCommand = ARGV[5]       -- 'PUBLISH' on a single Redis, 'SPUBLISH' on a cluster
-- A writer numbers its calls for the job 1, 2, 3 … ('' when it does not). A call whose writer's
-- previous call has not run yet (ioredis re-sends a script after NOSCRIPT, which lets a later
-- pipelined call overtake it) is refused with 'order' and changes nothing; a call that already
-- ran (re-sent after a dropped connection) is not applied twice.
local writerField = 'w:' .. ARGV[6]
local writerPrevious = ARGV[7]       -- '' to skip the order check (the writer waited)
local writerIndex = ARGV[8]
-- The job row's identity ('' when the writer does not bind one): a stream written for another row
-- of the same id (the database was recreated, Redis kept its data) is treated as absent.
local identity = ARGV[9]
-- How long the stream stays once the job has ended (its last event's status is final): Postgres
-- serves a finished job's snapshot, so the stream need not be kept as long as a running job's.
local finishedTtl = tonumber(ARGV[10])
local FIRST = 11                     -- then 7 values per event:
-- event_type, status, progress ('' when none), results_count,
-- head (JSON members from "event_type" to "message"), metadata members without braces (may be ''),
-- timestamp

local state = redis.call('HMGET', stateKey, 'epoch', 'seq', writerField, 'identity')
if identity ~= '' and state[1] and state[4] ~= identity then
  -- Another row's stream (or one written before identities existed): none of it is this job's.
  redis.call('DEL', stateKey, historyKey)
  state = {}
end
local epoch = state[1]
local seq = tonumber(state[2])
if ARGV[6] ~= '' then
  local done = state[3] or ''
  if done == writerIndex then
    return { seq, epoch, 'applied' }
  end
  -- Also when the state is missing: the earlier call may be the one that creates it.
  if writerPrevious ~= '' and done ~= writerPrevious then
    return { -1, done, 'order' }
  end
end

local fields = {}
if not epoch or seq < seqFloor then
  -- No live state (a new job, or Redis lost it), or a state behind a seq the writer was given
  -- (a replica promoted without the last writes). A new epoch tells clients that the history
  -- they knew is gone; seq continues above the floor so no seq a client saw is reused, and the
  -- history keeps only the new epoch's events.
  if epoch then
    redis.call('DEL', historyKey)
  end
  local time = redis.call('TIME')
  epoch = time[1] .. string.format('%06d', tonumber(time[2]))
  seq = seqFloor
  fields = { 'job_id', jobId, 'epoch', epoch }
  if identity ~= '' then
    fields[5] = 'identity'
    fields[6] = identity
  end
end

local payloads = {}
local last = #ARGV - 6   -- the last event's first value
local progress, startedAt, completedAt, clearCompleted
for a = FIRST, last, 7 do
  local eventType = ARGV[a]
  seq = seq + 1
  local metadataMembers = ARGV[a + 5]
  if metadataMembers ~= '' then
    metadataMembers = ',' .. metadataMembers
  end
  payloads[#payloads + 1] = '{"job_id":' .. jobId .. ',"seq":' .. seq .. ',' .. ARGV[a + 4]
    .. ',"metadata":{"epoch":"' .. epoch .. '"' .. metadataMembers .. '},"timestamp":"' .. ARGV[a + 6] .. '"}'
  if ARGV[a + 2] ~= '' then
    progress = ARGV[a + 2]
  end
  if eventType == 'job_started' then
    startedAt = ARGV[a + 6]
    completedAt = nil
    clearCompleted = true
  elseif eventType == 'job_completed' or eventType == 'job_failed' then
    completedAt = ARGV[a + 6]
    clearCompleted = false
  end
end

local n = #fields
fields[n + 1] = 'seq'
fields[n + 2] = seq
fields[n + 3] = 'status'
fields[n + 4] = ARGV[last + 1]
fields[n + 5] = 'results_count'
fields[n + 6] = ARGV[last + 3]
fields[n + 7] = 'event_type'
fields[n + 8] = ARGV[last]
fields[n + 9] = 'updated_at'
fields[n + 10] = ARGV[last + 6]
if ARGV[6] ~= '' then
  fields[#fields + 1] = writerField
  fields[#fields + 1] = writerIndex
end
if progress then
  fields[#fields + 1] = 'progress'
  fields[#fields + 1] = progress
end
if startedAt then
  fields[#fields + 1] = 'started_at'
  fields[#fields + 1] = startedAt
end
if completedAt then
  fields[#fields + 1] = 'completed_at'
  fields[#fields + 1] = completedAt
end

-- Both keys expire at least ttlSeconds after the last event. They are given a little more (the
-- slack), so that expiry needs refreshing only once per slack, not on every call: when less than
-- ttlSeconds is left (or the state or history was just created).
local remaining = redis.call('TTL', stateKey)   -- -2: no state yet, -1: no expiry
redis.call('HSET', stateKey, unpack(fields))
local length = redis.call('RPUSH', historyKey, unpack(payloads))
local lastStatus = ARGV[last + 1]
local ended = lastStatus == 'completed' or lastStatus == 'failed' or lastStatus == 'cancelled'
if ended and finishedTtl < ttlSeconds then
  redis.call('EXPIRE', stateKey, finishedTtl)
  redis.call('EXPIRE', historyKey, finishedTtl)
elseif remaining < ttlSeconds or length == #payloads then
  local slack = math.max(1, math.min(60, math.floor(ttlSeconds / 10)))
  redis.call('EXPIRE', stateKey, ttlSeconds + slack)
  redis.call('EXPIRE', historyKey, ttlSeconds + slack)
end
if clearCompleted then
  redis.call('HDEL', stateKey, 'completed_at')
end
if length > maxEvents then
  redis.call('LTRIM', historyKey, -maxEvents, -1)
end

for i = 1, #payloads do
  redis.call(publishCommand, channel, payloads[i])
end
return { seq, epoch, 'applied' }
