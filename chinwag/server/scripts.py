"""Lua scripts for the multi-step writes that must be atomic. Each touches
keys of one hash slot only (see keys.py).

The status codes a script answers with are not written here as numbers:
each source names them (`${SEND_NEW}`, `${ROOM_FULL}`, ...) and `render` fills
in the values of the enums in statuses.py, the one place they are defined.
"""

from __future__ import annotations

import re
from enum import IntEnum

from .statuses import LoginStatus, RoomCreation, SendStatus


def _codes(prefix: str, enum: type[IntEnum]) -> dict[str, int]:
    return {f"{prefix}_{member.name}": int(member) for member in enum}


# Every placeholder a script may use, and its value.
STATUS_CODES: dict[str, int] = {
    **_codes("SEND", SendStatus),
    **_codes("ROOM", RoomCreation),
    **_codes("LOGIN", LoginStatus),
}


_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")  # Lua itself never writes "${"


def render(source: str, codes: dict[str, int] = STATUS_CODES) -> str:
    """A script's Lua with its status placeholders filled in. An unknown
    placeholder is a KeyError here, at import, not a bad script in Redis."""
    return _PLACEHOLDER.sub(lambda m: str(codes[m.group(1)]), source)


_SEND_ONE = """
local function send_one(stream, cmkey, members, from, text, maxlen, ttl, cmid, conv)
  if cmkey then
    local prev = redis.call('GET', cmkey)
    if prev then
      local sp = string.find(prev, ' ', 1, true)
      return {string.sub(prev, sp + 1), ${SEND_DUPLICATE}, string.sub(prev, 1, sp - 1)}
    end
  end
  if members and redis.call('SISMEMBER', members, from) == 0 then
    return {'', ${SEND_NOT_MEMBER}, conv}
  end
  local id
  if cmkey then
    id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'f', from, 't', text, 'c', cmid)
    redis.call('SET', cmkey, conv .. ' ' .. id, 'EX', ttl)
  else
    id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'f', from, 't', text)
  end
  return {id, ${SEND_NEW}, conv}
end
"""

# KEYS: stream, [cmid record], [members]; ARGV: from, text, maxlen, cmid ttl,
# has_cmid, is_room, cmid, conv id.  Returns {mid, status, conv id}, status
# a SendStatus: stored, the cmid was already used (mid and conv id are the
# original's), or the sender is not a member of the room.  A cmid record
# holds "conv mid".
# Keeps to the keys of one slot, so it also runs on a cluster.
SEND = render(
    _SEND_ONE
    + """
local i = 2
local cmkey, members
if ARGV[5] == '1' then cmkey = KEYS[i]; i = i + 1 end
if ARGV[6] == '1' then members = KEYS[i] end
return send_one(KEYS[1], cmkey, members, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[7], ARGV[8])
"""
)

# A whole batch of sends in one call, on a single Redis (the keys span
# slots). KEYS: per message stream, cmid record or '', members or ''; ARGV:
# per message the 8 arguments of SEND. Returns one SEND result per message,
# or {'', SEND_FAILED, error} for a message whose write failed, alone.
SEND_MANY = render(
    _SEND_ONE
    + """
local out = {}
for m = 0, #KEYS / 3 - 1 do
  local k, a = 3 * m, 8 * m
  local cmkey, members = KEYS[k + 2], KEYS[k + 3]
  if cmkey == '' then cmkey = nil end
  if members == '' then members = nil end
  local ok, res = pcall(send_one, KEYS[k + 1], cmkey, members, ARGV[a + 1], ARGV[a + 2],
                        ARGV[a + 3], ARGV[a + 4], ARGV[a + 7], ARGV[a + 8])
  if ok then out[m + 1] = res else out[m + 1] = {'', ${SEND_FAILED}, tostring(res)} end
end
return out
"""
)

_CMP = """
local function newer(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams > bms or (ams == bms and aseq > bseq)
end
"""

_ACK_ONE = (
    _CMP
    + """
local function ack_one(key, conv, mid)
  local cur = redis.call('HGET', key, conv)
  if not cur or newer(mid, cur) then
    redis.call('HSET', key, conv, mid)
  end
end
"""
)

# KEYS: cursor hash; ARGV: conv, mid, conv, mid, ...  Cursors never move back.
ACK = render(
    _ACK_ONE
    + """
for i = 1, #ARGV, 2 do ack_one(KEYS[1], ARGV[i], ARGV[i + 1]) end
return 0
"""
)

# Every cursor move of a batch, on a single Redis. KEYS: cursor hashes;
# ARGV: for each key, the number of pairs, then conv, mid pairs.
ACK_MANY = render(
    _ACK_ONE
    + """
local a = 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  for i = a + 1, a + 2 * n, 2 do ack_one(KEYS[k], ARGV[i], ARGV[i + 1]) end
  a = a + 1 + 2 * n
end
return 0
"""
)

# One page of the login replay's unread count. KEYS: stream; ARGV: range
# start (an id, or '(' id), range end ('(' id: exclusive), me, page size.
# Returns {entries not from me, entries scanned, last id scanned or ''}.
# A page of 1,000 entries holds Redis about 1.5 ms, whatever the backlog: the
# caller pages on until fewer than `page` come back (see Store.replay).
REPLAY = render("""
local batch = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[4]))
local me, others = ARGV[3], 0
for _, e in ipairs(batch) do
  local f = e[2]
  local from = f[2]
  if f[1] ~= 'f' then
    from = nil
    for j = 1, #f, 2 do if f[j] == 'f' then from = f[j + 1]; break end end
  end
  if from ~= me then others = others + 1 end
end
local last = ''
if #batch > 0 then last = batch[#batch][1] end
return {others, #batch, last}
""")

# KEYS: user hash, user convs, cursors; ARGV: display, pwhash, created ms,
# lobby conv id, lobby cursor.  Returns 1 if created, 0 if the name is taken.
REGISTER = render("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'dn', ARGV[1], 'pw', ARGV[2], 'ct', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
return 1
""")

# KEYS: online, node hash; ARGV: user, delta.  Returns the user's global count.
PRESENCE = render("""
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
local c = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if c <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]); return 0 end
return c
""")

# KEYS: online, nodes zset, node hash; ARGV: node id.  Removes a dead node's
# connections; returns the users that went offline.  Only one reaper wins.
REAP = render("""
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  return {}
end
local gone = {}
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  local c = redis.call('HINCRBY', KEYS[1], entries[i], -tonumber(entries[i + 1]))
  if c <= 0 then
    redis.call('HDEL', KEYS[1], entries[i])
    gone[#gone + 1] = entries[i]
  end
end
redis.call('DEL', KEYS[3])
return gone
""")

# KEYS: counters of one subject (one slot); ARGV: limit, window seconds, for
# each key.  Takes one event from every counter only if each still has room,
# so a refused attempt is not counted.  Returns {0, 0} when taken, else
# {index of the full counter, ms until its window ends}.  Checking and
# counting in one step is what keeps a burst of concurrent attempts within
# the limit.
TAKE = render("""
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c >= tonumber(ARGV[2 * i - 1]) then
    local t = redis.call('PTTL', KEYS[i])
    if t < 0 then
      redis.call('EXPIRE', KEYS[i], ARGV[2 * i])
      t = tonumber(ARGV[2 * i]) * 1000
    end
    return {i, math.max(t, 1)}
  end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i]) end
end
return {0, 0}
""")

# KEYS: counters taken with TAKE; gives one back to each (never below zero,
# never to a window that already ended).
REFUND = render("""
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if c > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
""")

_DELAY = """
local function delay_left(key, free, base, maxd, now)
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  if n < free then return 0 end
  local t = tonumber(redis.call('HGET', key, 't') or '0')
  return t + math.min(maxd, base * 2 ^ (n - free)) - now
end
local function count_failure(key, now, forget)
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 't', now)
  redis.call('EXPIRE', key, forget)
end
local function give_back(key)
  if redis.call('EXISTS', key) == 1 and tonumber(redis.call('HGET', key, 'n') or '0') > 0 then
    redis.call('HINCRBY', key, 'n', -1)
  end
end
"""

# Before a password is verified, in the user's slot.  KEYS: user failures
# (from unknown addresses), pair failures (this address), known addresses,
# successful logins.  ARGV: address tag, now ms, free user failures, free
# pair failures, base delay ms, max delay ms, forget after s, known ttl ms,
# logins per window, window s.  The address is "known" if the user logged in
# or resumed from it within the ttl; then the user's failures from other
# addresses do not apply.  After the free failures, each further one doubles
# the wait (up to the max) from the last.  When allowed, the attempt is
# counted as a failure up front (a success gives it back), so concurrent
# attempts cannot all pass the check.  Returns {status, ms to wait, known},
# status a LoginStatus: go ahead, failures (growing delay), too many logins.
LOGIN_USER = render(
    _DELAY
    + """
local tag, now = ARGV[1], tonumber(ARGV[2])
local base, maxd, forget = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[8]))
local known = redis.call('ZSCORE', KEYS[3], tag) and 1 or 0
local wait = delay_left(KEYS[2], tonumber(ARGV[4]), base, maxd, now)
if known == 0 then
  wait = math.max(wait, delay_left(KEYS[1], tonumber(ARGV[3]), base, maxd, now))
end
if wait > 0 then return {${LOGIN_DELAYED}, math.ceil(wait), known} end
local s = tonumber(redis.call('GET', KEYS[4]) or '0')
if s >= tonumber(ARGV[9]) then return {${LOGIN_TOO_MANY}, math.max(redis.call('PTTL', KEYS[4]), 1), known} end
if redis.call('INCR', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], ARGV[10]) end
count_failure(KEYS[2], now, forget)
if known == 0 then count_failure(KEYS[1], now, forget) end
return {${LOGIN_GO}, 0, known}
"""
)

# After the verification (or instead of it), in the user's slot.  KEYS as
# LOGIN_USER.  ARGV: address tag, outcome ('ok', 'fail' or 'cancel'), known
# (1/0), now ms, known ttl s, most known addresses.  'ok' clears this
# address's failures, gives back the user failure the attempt took and
# records the address as known; 'fail' keeps the failure and gives back the
# login; 'cancel' (never verified) gives back both.
LOGIN_SETTLE = render(
    _DELAY
    + """
local tag, outcome, known = ARGV[1], ARGV[2], ARGV[3] == '1'
if outcome == 'ok' then
  redis.call('DEL', KEYS[2])
  if not known then give_back(KEYS[1]) end
  redis.call('ZADD', KEYS[3], ARGV[4], tag)
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[6]) - 1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  return 0
end
local s = tonumber(redis.call('GET', KEYS[4]) or '0')
if s > 0 then redis.call('DECR', KEYS[4]) end
if outcome == 'cancel' then
  give_back(KEYS[2])
  if not known then give_back(KEYS[1]) end
end
return 0
"""
)

# KEYS: resumes counter, known addresses (the user's slot); ARGV: limit,
# window s, address tag, now ms, known ttl s, most known addresses.  A
# resume with a valid token is counted against the user's resume rate and,
# when allowed, marks the address as known (a device there holds a token).
# Returns ms to wait, 0 when allowed.
RESUME_USER = render("""
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c >= tonumber(ARGV[1]) then return math.max(redis.call('PTTL', KEYS[1]), 1) end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[6]) - 1)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 0
""")

# KEYS: room set, room index (one slot); ARGV: room, most rooms.  Returns a
# RoomCreation: the room exists, it was created, or the server holds the
# most rooms it may.
CREATE_ROOM = render("""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return ${ROOM_EXISTS} end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return ${ROOM_FULL} end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', 0, ARGV[1])
return ${ROOM_CREATED}
""")

# KEYS: nodes zset; ARGV: node id, ttl ms.  Records the node alive until
# Redis's own clock + ttl (so the nodes' clocks never matter) and returns
# {1 if the node was not listed (first start, reaped, or Redis lost its
# data), ids whose time is up by Redis's clock}.  Whether those are really
# dead is the caller's judgement (see presence.py: not after a stall).
HEARTBEAT = render("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {added, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)}
""")

# KEYS: online, node hash; ARGV: user, count, user, count, ... (this node's
# counted connections, from its memory).  Makes the node hash exactly that
# and moves the global counts by the difference, so running it twice is
# the same as once.  Returns {users now online who were not, users now
# offline who were}.
PRESENCE_SYNC = render("""
local want, have = {}, {}
for i = 1, #ARGV, 2 do want[ARGV[i]] = tonumber(ARGV[i + 1]) end
local old = redis.call('HGETALL', KEYS[2])
for i = 1, #old, 2 do have[old[i]] = tonumber(old[i + 1]) end
local came, went = {}, {}
local function move(user, delta)
  if delta == 0 then return end
  local before = tonumber(redis.call('HGET', KEYS[1], user) or '0')
  local after = redis.call('HINCRBY', KEYS[1], user, delta)
  if after <= 0 then redis.call('HDEL', KEYS[1], user) end
  if before <= 0 and after > 0 then came[#came + 1] = user end
  if before > 0 and after <= 0 then went[#went + 1] = user end
end
for i = 1, #old, 2 do move(old[i], (want[old[i]] or 0) - have[old[i]]) end
for i = 1, #ARGV, 2 do
  if not have[ARGV[i]] then move(ARGV[i], want[ARGV[i]]) end
end
redis.call('DEL', KEYS[2])
for i = 1, #ARGV, 1000 do
  redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return {came, went}
""")


# Every script by name, as the engine loads them into Redis.
SCRIPTS: dict[str, str] = {
    "SEND": SEND,
    "SEND_MANY": SEND_MANY,
    "ACK": ACK,
    "ACK_MANY": ACK_MANY,
    "REPLAY": REPLAY,
    "REGISTER": REGISTER,
    "PRESENCE": PRESENCE,
    "REAP": REAP,
    "TAKE": TAKE,
    "REFUND": REFUND,
    "LOGIN_USER": LOGIN_USER,
    "LOGIN_SETTLE": LOGIN_SETTLE,
    "RESUME_USER": RESUME_USER,
    "CREATE_ROOM": CREATE_ROOM,
    "HEARTBEAT": HEARTBEAT,
    "PRESENCE_SYNC": PRESENCE_SYNC,
}
