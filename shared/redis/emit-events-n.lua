-- Appends events of one or more jobs to their streams. For each job (a section of the call):
-- assigns the next seqs, appends the serialized events to the capped history, updates the live
-- state, refreshes expiry when it is due, publishes each event. Each section has three keys, which
-- carry its job's hash tag and so share one slot (Redis Cluster safe, and the channel is a shard
-- channel of that slot); a call of several sections names the keys of several jobs, which only a
-- single Redis (or jobs of one slot) can take.
--
-- The cost of a call is mostly fixed (the script call, each argument, each command it makes, each
-- Lua value it creates), so a writer sends every event it has at hand in one call, those of
-- several jobs too, and the script does as little as it can per section: one read and one write
-- of the state, a TTL, one append, a trim only when the cap is passed, expiry only when due, and a
-- publish per event. The writer serializes each event but for its seq and epoch (two pieces an
-- event) and sends the live state's new values once a section; no number is converted to text but
-- the seqs; the reply is one string a section.
--
-- KEYS: per section its job's state, history and channel.
-- ARGV: the call's settings, the event counts of all sections but the last (whose events run to
-- the end of ARGV, so that a call of one section carries no count), then each section's header
-- (HEADER values) followed by two pieces per event.
local maxEvents = ARGV[1]
local ttlSeconds = ARGV[2]
local publishCommand = ARGV[3]       -- 'PUBLISH' on a single Redis, 'SPUBLISH' on a cluster
-- How long the stream stays once the job has ended (its last event's status is final): Postgres
-- serves a finished job's snapshot, so the stream need not be kept as long as a running job's.
local finishedTtl = ARGV[4]
local HEADER = 13

local function emit(stateKey, historyKey, channel, at, stop)
  local jobId = ARGV[at]
  local seqFloor = ARGV[at + 1]      -- highest seq known elsewhere (worker memory, Postgres)
  -- A writer numbers its calls for the job 1, 2, 3 … ('' when it does not). A section whose
  -- writer's previous call has not run yet (ioredis re-sends a script after NOSCRIPT, which lets a
  -- later pipelined call overtake it) is refused with 'order' and changes nothing; a section that
  -- already ran (re-sent after a dropped connection) is not applied twice.
  local writerToken = ARGV[at + 2]
  local writerField = 'w:' .. writerToken
  local writerPrevious = ARGV[at + 3] -- '' to skip the order check (the writer waited)
  local writerIndex = ARGV[at + 4]
  -- The job row's identity ('' when the writer does not bind one): a stream written for another
  -- row of the same id (the database was recreated, Redis kept its data) is treated as absent.
  local identity = ARGV[at + 5]
  -- The live state after the section's events: the last event's status, results_count,
  -- event_type and timestamp; the last progress of the section ('' when none had one); started_at
  -- of a job_started in it (''); completed_at of a job_completed or job_failed after it ('', or
  -- '-' to remove it: a job_started came after the section's last end).
  local status = ARGV[at + 6]
  local progress = ARGV[at + 10]
  local startedAt = ARGV[at + 11]
  local completedAt = ARGV[at + 12]
  -- Then 2 values per event: the text before its epoch (from ',"event_type"' to
  -- '"metadata":{"epoch":"'), and the text after it (to the closing brace).
  local first = at + HEADER

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
    fields = { 'epoch', epoch, 'seq', '', 'status', status, 'results_count', ARGV[at + 7], 'event_type', ARGV[at + 8],
      'updated_at', ARGV[at + 9], 'job_id', jobId }
    if identity ~= '' then
      fields[15] = 'identity'
      fields[16] = identity
    end
  else
    fields = { 'seq', '', 'status', status, 'results_count', ARGV[at + 7], 'event_type', ARGV[at + 8], 'updated_at', ARGV[at + 9] }
  end

  local payloads = {}
  local prefix = '{"job_id":' .. jobId .. ',"seq":'
  local n = 0
  local seqText
  for a = first, stop, 2 do
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
  if progress ~= '' then
    fields[#fields + 1] = 'progress'
    fields[#fields + 1] = progress
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
end

local sections = #KEYS / 3
if sections == 1 then
  -- One job: its reply, and an error of its commands is the call's error, as ever.
  return emit(KEYS[1], KEYS[2], KEYS[3], 5, #ARGV)
end

-- Several jobs: one reply each, in section order. An error in one section ends that section
-- only ('error <message>'; what it wrote before the error stays, as in a call of its own) and the
-- next sections still run: each job's writer learns its own job's outcome.
local replies = {}
local at = 4 + sections          -- the first section's header (after the counts)
for s = 1, sections do
  local stop
  if s < sections then
    stop = at + HEADER + 2 * tonumber(ARGV[4 + s]) - 1
  else
    stop = #ARGV
  end
  local k = 3 * s
  local ok, reply = pcall(emit, KEYS[k - 2], KEYS[k - 1], KEYS[k], at, stop)
  if ok then
    replies[s] = reply
  else
    replies[s] = 'error ' .. (type(reply) == 'table' and tostring(reply.err) or tostring(reply))
  end
  at = stop + 1
end
return replies
