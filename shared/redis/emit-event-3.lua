-- Appends one or more events of a job to its stream, atomically: assigns the next seqs, appends
-- the serialized events to the capped history, updates the live state, refreshes expiry when it
-- is due, publishes each event. All three names carry the job's hash tag, so they share one slot
-- (Redis Cluster safe, and the channel is a shard channel of that slot).
--
-- The cost of a call is mostly fixed (the script call, each argument, each command it makes, each
-- Lua value it creates), so a writer sends every event it has at hand in one call, and the script
-- does as little as it can per call: one read and one write of the state, a TTL, one append, a
-- trim only when the cap is passed, expiry only when due, and a publish per event. The writer
-- serializes each event but for its seq and epoch (two pieces an event) and sends the live state's
-- new values once a call; no number is converted to text but the seqs; the reply is one string.
local stateKey = KEYS[1]
local historyKey = KEYS[2]
local channel = KEYS[3]

local jobId = ARGV[1]
local seqFloor = ARGV[2]             -- highest seq known elsewhere (worker memory, Postgres)
local maxEvents = ARGV[3]
local ttlSeconds = ARGV[4]
local publishCommand = ARGV[5]       -- 'PUBLISH' on a single Redis, 'SPUBLISH' on a cluster
-- A writer numbers its calls for the job 1, 2, 3 … ('' when it does not). A call whose writer's
-- previous call has not run yet (ioredis re-sends a script after NOSCRIPT, which lets a later
-- pipelined call overtake it) is refused with 'order' and changes nothing; a call that already
-- ran (re-sent after a dropped connection) is not applied twice.
local writerToken = ARGV[6]
local writerField = 'w:' .. writerToken
local writerPrevious = ARGV[7]       -- '' to skip the order check (the writer waited)
local writerIndex = ARGV[8]
-- The job row's identity ('' when the writer does not bind one): a stream written for another row
-- of the same id (the database was recreated, Redis kept its data) is treated as absent.
local identity = ARGV[9]
-- How long the stream stays once the job has ended (its last event's status is final): Postgres
-- serves a finished job's snapshot, so the stream need not be kept as long as a running job's.
local finishedTtl = ARGV[10]
-- The live state after the call's events: the last event's status, results_count, event_type and
-- timestamp; the last progress of the call ('' when none had one); started_at of a job_started in
-- the call (''); completed_at of a job_completed or job_failed after it ('', or '-' to remove it:
-- a job_started came after the call's last end).
local status = ARGV[11]
local startedAt = ARGV[16]
local completedAt = ARGV[17]
local FIRST = 18                     -- then 2 values per event: the text before its epoch (from
-- ',"event_type"' to '"metadata":{"epoch":"'), and the text after it (to the closing brace).

local state = redis.call('HMGET', stateKey, 'epoch', 'seq', writerField, 'identity')
if identity ~= '' and state[1] and state[4] ~= identity then
  -- Another row's stream (or one written before identities existed): none of it is this job's.
  redis.call('DEL', stateKey, historyKey)
  state = {}
end
local epoch = state[1]
if writerToken ~= '' then
  local done = state[3] or ''
  if done == writerIndex then
    return state[2] .. ' ' .. epoch
  end
  -- Also when the state is missing: the earlier call may be the one that creates it.
  if writerPrevious ~= '' and done ~= writerPrevious then
    return 'order ' .. done
  end
end

local seq = tonumber(state[2])
local fields
if not epoch or seq < tonumber(seqFloor) then
  -- No live state (a new job, or Redis lost it), or a state behind a seq the writer was given
  -- (a replica promoted without the last writes). A new epoch tells clients that the history
  -- they knew is gone; seq continues above the floor so no seq a client saw is reused, and the
  -- history keeps only the new epoch's events.
  if epoch then
    redis.call('DEL', historyKey)
  end
  local time = redis.call('TIME')
  epoch = time[1] .. string.format('%06d', tonumber(time[2]))
  seq = tonumber(seqFloor)
  -- The fields every call reads or writes first: a small hash is a list searched from its start.
  fields = { 'epoch', epoch, 'seq', '', 'status', status, 'results_count', ARGV[12], 'event_type', ARGV[13],
    'updated_at', ARGV[14], 'job_id', jobId }
  if identity ~= '' then
    fields[15] = 'identity'
    fields[16] = identity
  end
else
  fields = { 'seq', '', 'status', status, 'results_count', ARGV[12], 'event_type', ARGV[13], 'updated_at', ARGV[14] }
end

local payloads = {}
local prefix = '{"job_id":' .. jobId .. ',"seq":'
local n = 0
local seqText
for a = FIRST, #ARGV, 2 do
  seq = seq + 1
  n = n + 1
  seqText = tostring(seq)
  payloads[n] = prefix .. seqText .. ARGV[a] .. epoch .. ARGV[a + 1]
end
fields[fields[1] == 'seq' and 2 or 4] = seqText
if writerToken ~= '' then
  fields[#fields + 1] = writerField
  fields[#fields + 1] = writerIndex
end
if ARGV[15] ~= '' then
  fields[#fields + 1] = 'progress'
  fields[#fields + 1] = ARGV[15]
end
if startedAt ~= '' then
  fields[#fields + 1] = 'started_at'
  fields[#fields + 1] = startedAt
end
if completedAt ~= '' and completedAt ~= '-' then
  fields[#fields + 1] = 'completed_at'
  fields[#fields + 1] = completedAt
end

-- Both keys expire at least ttlSeconds after the last event. They are given a little more (the
-- slack), so that expiry needs refreshing only once per slack, not on every call: when less than
-- ttlSeconds is left (or the state or history was just created).
local remaining = redis.call('TTL', stateKey)   -- -2: no state yet, -1: no expiry
redis.call('HSET', stateKey, unpack(fields))
local length = redis.call('RPUSH', historyKey, unpack(payloads))
if (status == 'completed' or status == 'failed' or status == 'cancelled') and tonumber(finishedTtl) < tonumber(ttlSeconds) then
  redis.call('EXPIRE', stateKey, finishedTtl)
  redis.call('EXPIRE', historyKey, finishedTtl)
elseif length == n or remaining < tonumber(ttlSeconds) then
  local ttl = tonumber(ttlSeconds)
  local slack = math.max(1, math.min(60, math.floor(ttl / 10)))
  redis.call('EXPIRE', stateKey, ttl + slack)
  redis.call('EXPIRE', historyKey, ttl + slack)
end
if completedAt == '-' then
  redis.call('HDEL', stateKey, 'completed_at')
end
if length > tonumber(maxEvents) then
  redis.call('LTRIM', historyKey, -maxEvents, -1)
end

for i = 1, n do
  redis.call(publishCommand, channel, payloads[i])
end
return seqText .. ' ' .. epoch
