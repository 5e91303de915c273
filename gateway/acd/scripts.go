package acd

import "github.com/redis/go-redis/v9"

// Every script starts with this prelude. ARGV[1] is the key prefix
// "{<tag>}:acd:" so that every key a script touches carries the same hash
// tag: on Redis Cluster they all live in one slot, and the keys a script
// derives (an agent's skill sets) are in the slot of the keys it declares.
//
// Layout:
//
//	agent:<ext>   hash  ext skills(csv) wrap(ms) session state reason call
//	                    since(µs) idle(µs) wrapend(µs)
//	ready:<skill> zset  ext → idle-since (µs); only agents in state ready
//	wait:<skill>  zset  call ID → band*1e13 + entry unix ms
//	wrapup        zset  ext → wrap-up end (µs); only agents in wrap_up
//	busy          hash  ext → call ID; only agents ringing or on_call
//	claims        hash  call ID → ext:skill; the agent a claim chose, until released
//	agents        set   every extension that ever logged in
//	clock         string last timestamp handed out (µs), strictly increasing
//
// Every script returns {code, detail, snapshots, skills, receivers}:
// snapshots are the HGETALLs of the agents it changed and skills the skill
// sets that gained a ready agent. The script publishes them itself (in
// result), so a step costs one round trip: each changed agent's new state
// on its event channel as a compact payload (stateMark, then the cjson
// of {at µs, hash}; the subscribers turn it into the AgentEvent, see
// events.go), and each skill on the skill-ready channel. The last two ARGV
// of every script are events built in Go (encoded AgentEvents, empty for
// none) for the agent the step is about (evext): PRE is published before
// the agent's new state (e.g. "ended" before a release), POST after it
// (e.g. the offer after a claim, "connected" after answered); receivers
// is how many streams POST reached. Nothing is published on a channel
// nobody subscribes to.
const prelude = `
local P = ARGV[1]
local PRE, POST = ARGV[#ARGV - 1], ARGV[#ARGV]
local evext = nil
local pre_done = false
local WRAP = P .. 'wrapup'
local BUSY = P .. 'busy'
local CLOCK = P .. 'clock'
local AGENTS = P .. 'agents'
local CLAIMS = P .. 'claims'
local function akey(e) return P .. 'agent:' .. e end
local function rkey(s) return P .. 'ready:' .. s end
local changed = {}
local pub = {}

-- now returns a strictly increasing timestamp in µs (number and string), so
-- that no two agents ever tie on idle-since.
local function now()
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('GET', CLOCK) or '0')
  if us <= last then us = last + 1 end
  local s = string.format('%.0f', us)
  redis.call('SET', CLOCK, s)
  return us, s
end

local function skills_of(e)
  local out = {}
  local s = redis.call('HGET', akey(e), 'skills')
  if s then
    for sk in string.gmatch(s, '[^,]+') do out[#out + 1] = sk end
  end
  return out
end

local function unready(e)
  for _, sk in ipairs(skills_of(e)) do redis.call('ZREM', rkey(sk), e) end
end

local function make_ready(e, ts, idle)
  redis.call('HSET', akey(e), 'state', 'ready', 'reason', '', 'call', '', 'since', ts, 'idle', idle, 'wrapend', '')
  redis.call('ZREM', WRAP, e)
  redis.call('HDEL', BUSY, e)
  for _, sk in ipairs(skills_of(e)) do
    redis.call('ZADD', rkey(sk), idle, e)
    pub[#pub + 1] = sk
  end
  changed[#changed + 1] = e
end

-- promote ends expired wrap-ups; the agent is idle since its wrap-up ended,
-- however late this runs. Returns how many were due.
local function promote(ts)
  local due = redis.call('ZRANGEBYSCORE', WRAP, '-inf', ts, 'WITHSCORES', 'LIMIT', 0, 100)
  for i = 1, #due, 2 do
    local e = due[i]
    if redis.call('HGET', akey(e), 'state') == 'wrap_up' then
      make_ready(e, due[i + 1], due[i + 1])
    else
      redis.call('ZREM', WRAP, e)
    end
  end
  return #due / 2
end

-- spub publishes msg on a sharded channel if anyone subscribes to it, and
-- returns how many received it.
local function spub(ch, msg)
  local n = redis.call('PUBSUB', 'SHARDNUMSUB', ch)
  if tonumber(n[2]) == 0 then return 0 end
  return redis.call('SPUBLISH', ch, msg)
end

local function echan(e) return P .. 'events:' .. e end

-- pre publishes PRE to agent e's streams, once.
local function pre(e)
  if PRE ~= '' and not pre_done then
    pre_done = true
    spub(echan(e), PRE)
  end
end

local function result(code, detail)
  local snaps = {}
  if evext then pre(evext) end
  local t = redis.call('TIME')
  local at = t[1] .. string.format('%06d', tonumber(t[2]))
  for i, e in ipairs(changed) do
    snaps[i] = redis.call('HGETALL', akey(e))
    spub(echan(e), '\0' .. cjson.encode({at = at, a = snaps[i]}))
  end
  local seen = {}
  for _, sk in ipairs(pub) do
    if not seen[sk] then
      seen[sk] = true
      spub(P .. 'skill-ready', sk)
    end
  end
  local n = 0
  if evext and POST ~= '' then n = spub(echan(evext), POST) end
  return {code, detail or '', snaps, pub, n}
end
`

// loginScript. KEYS: agent. ARGV: prefix, ext, skills csv, wrap ms, session.
var loginScript = redis.NewScript(prelude + `
local e = ARGV[2]
local st = redis.call('HGET', KEYS[1], 'state')
if st and st ~= 'logged_out' then
  -- the same request run again (its reply was lost): same session, no change
  if redis.call('HGET', KEYS[1], 'session') == ARGV[5] then
    changed[1] = e
    return result('ok', 'again')
  end
  return {'already', st, {}, {}}
end
local _, ts = now()
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'ext', e, 'skills', ARGV[3], 'wrap', ARGV[4], 'session', ARGV[5],
  'state', 'paused', 'reason', 'login', 'call', '', 'since', ts, 'idle', ts, 'wrapend', '')
redis.call('SADD', AGENTS, e)
changed[1] = e
return result('ok', '')
`)

// setStateScript moves an agent to ready, paused{reason} or logged_out.
// KEYS: agent. ARGV: prefix, ext, target, reason.
var setStateScript = redis.NewScript(prelude + `
local e, target, reason = ARGV[2], ARGV[3], ARGV[4]
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'unknown', '', {}, {}} end
if st == 'ringing' or st == 'on_call' then return {'not_allowed', st, {}, {}} end
if target == 'logged_out' then
  if st == 'logged_out' then return result('ok', '') end
  local _, ts = now()
  unready(e)
  redis.call('ZREM', WRAP, e)
  redis.call('HDEL', BUSY, e)
  redis.call('HSET', KEYS[1], 'state', 'logged_out', 'reason', '', 'call', '', 'since', ts, 'wrapend', '')
  changed[1] = e
  return result('ok', '')
end
if st == 'logged_out' then return {'not_allowed', st, {}, {}} end
if target == 'ready' then
  if st == 'ready' then return result('ok', '') end
  local _, ts = now()
  make_ready(e, ts, ts)
  return result('ok', '')
end
if st == 'paused' and redis.call('HGET', KEYS[1], 'reason') == reason then return result('ok', '') end
local _, ts = now()
unready(e)
redis.call('ZREM', WRAP, e)
redis.call('HSET', KEYS[1], 'state', 'paused', 'reason', reason, 'call', '', 'since', ts, 'wrapend', '')
changed[1] = e
return result('ok', '')
`)

// claimScript pops the longest-idle ready agent of a skill for a call that
// is among the first K waiting calls, K = ready agents of the skill.
// Idempotent per call and skill: a claim run again for a call whose agent is
// still ringing for it (the first reply was lost, or the client resent the
// script) returns that agent again with code 'again' and changes nothing.
// KEYS: ready set, wait set. ARGV: prefix, call ID, skill.
var claimScript = redis.NewScript(prelude + claimOf + claimAgain + claimPick)

// enqueueClaimScript is Enqueue then Claim in one step: a call entering
// its queue is offered a ready agent at once when it is among the first K
// waiting calls. Run again for a call whose claimed agent still rings for
// it, it returns that agent ('again') and leaves the call out of the wait
// set. KEYS: ready set, wait set. ARGV: prefix, call ID, skill, queue score.
var enqueueClaimScript = redis.NewScript(prelude + claimOf + claimAgain + `
redis.call('ZADD', KEYS[2], ARGV[4], call)
` + claimPick)

// claimAgain starts a claim: the agent a claim chose before for the call,
// if it still rings for it, is returned again.
const claimAgain = `
local call = ARGV[2]
local prev, pskill = claim_of(call)
if prev and pskill == ARGV[3] then
  changed[1] = prev
  evext = prev
  return result('again', prev)
end
`

// claimPick pops the longest-idle ready agent for call if it is among the
// first K waiting calls.
const claimPick = `
local _, ts = now()
promote(ts)
local rank = redis.call('ZRANK', KEYS[2], call)
if not rank then return result('not_waiting', '') end
while true do
  local n = redis.call('ZCARD', KEYS[1])
  if n == 0 then return result('no_agent', '') end
  if rank >= n then return result('not_head', tostring(rank)) end
  local e = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  redis.call('ZREM', KEYS[1], e)
  if redis.call('HGET', akey(e), 'state') == 'ready' then
    unready(e)
    redis.call('HSET', akey(e), 'state', 'ringing', 'reason', '', 'call', call, 'since', ts)
    redis.call('HSET', BUSY, e, call)
    redis.call('HSET', CLAIMS, call, e .. ':' .. ARGV[3])
    redis.call('ZREM', KEYS[2], call)
    changed[#changed + 1] = e
    evext = e
    return result('ok', e)
  end
  -- a member whose agent is not ready cannot happen through these scripts;
  -- it was dropped above, try the next one.
end
`

// claimOf defines claim_of(call): the agent and skill of the claim recorded
// for call while that agent is still ringing for it, else nil (and a stale
// record is dropped).
const claimOf = `
local function claim_of(call)
  local rec = redis.call('HGET', CLAIMS, call)
  if not rec then return nil end
  local e, sk = string.match(rec, '^([^:]*):(.*)$')
  if e then
    local a = redis.call('HMGET', akey(e), 'state', 'call')
    if a[1] == 'ringing' and a[2] == call then return e, sk end
  end
  redis.call('HDEL', CLAIMS, call)
  return nil
end
`

// dequeueScript takes a call out of a wait set and gives back an agent that
// a claim in that skill chose for it but that never took the call (still
// ringing for it): the claim's reply may have been lost, so no one else
// would. Safe to run again. KEYS: wait set. ARGV: prefix, call ID, skill.
var dequeueScript = redis.NewScript(prelude + claimOf + `
local call = ARGV[2]
redis.call('ZREM', KEYS[1], call)
local e, sk = claim_of(call)
if not e or sk ~= ARGV[3] then return result('ok', '') end
redis.call('HDEL', CLAIMS, call)
local _, ts = now()
make_ready(e, ts, redis.call('HGET', akey(e), 'idle'))
return result('released', e)
`)

// answeredScript. KEYS: agent. ARGV: prefix, ext, call ID.
var answeredScript = redis.NewScript(prelude + `
local e, call = ARGV[2], ARGV[3]
evext = e
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'unknown', '', {}, {}} end
if redis.call('HGET', KEYS[1], 'call') ~= call or (st ~= 'ringing' and st ~= 'on_call') then
  return {'wrong_call', st, {}, {}}
end
if st == 'on_call' then return result('ok', '') end
local _, ts = now()
redis.call('HSET', KEYS[1], 'state', 'on_call', 'since', ts)
changed[1] = e
return result('ok', '')
`)

// releaseScript ends an agent's part in a call. KEYS: agent. ARGV: prefix,
// ext, call ID, outcome (completed, missed, cancelled, stale), min age µs
// (stale only). A release for a call the agent is not ringing for or on is a
// no-op.
var releaseScript = redis.NewScript(prelude + `
local e, call, outcome = ARGV[2], ARGV[3], ARGV[4]
pre(e) -- whatever the release finds: the desk hears PRE first
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'unknown', '', {}, {}} end
if redis.call('HGET', KEYS[1], 'call') ~= call or (st ~= 'ringing' and st ~= 'on_call') then
  return {'noop', st, {}, {}}
end
local us, ts = now()
if outcome == 'stale' then
  local since = tonumber(redis.call('HGET', KEYS[1], 'since') or '0')
  if us - since < tonumber(ARGV[5]) then return {'young', st, {}, {}} end
  outcome = 'cancelled'
end
redis.call('HDEL', CLAIMS, call)
if st == 'on_call' then outcome = 'completed' end
if outcome == 'missed' then
  redis.call('HDEL', BUSY, e)
  redis.call('HSET', KEYS[1], 'state', 'paused', 'reason', 'missed_call', 'call', '', 'since', ts)
  changed[1] = e
elseif outcome == 'cancelled' then
  make_ready(e, ts, redis.call('HGET', KEYS[1], 'idle'))
else
  local wrap = tonumber(redis.call('HGET', KEYS[1], 'wrap') or '0')
  if wrap > 0 then
    local endt = string.format('%.0f', us + wrap * 1000)
    redis.call('HDEL', BUSY, e)
    redis.call('ZADD', WRAP, endt, e)
    redis.call('HSET', KEYS[1], 'state', 'wrap_up', 'reason', '', 'since', ts, 'wrapend', endt)
    changed[1] = e
  else
    make_ready(e, ts, ts)
  end
end
return result('ok', st)
`)

// promoteScript ends expired wrap-ups. KEYS: wrapup set. ARGV: prefix.
var promoteScript = redis.NewScript(prelude + `
local _, ts = now()
local n = promote(ts)
return result('ok', tostring(n))
`)
