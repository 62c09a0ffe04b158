"""Lua scripts for the multi-step writes that must be atomic. Each touches
keys of one hash slot only (see keys.py).

The status codes a script answers with are not written here as numbers:
each source names them (`${SEND_NEW}`, `${ROOM_FULL}`, ...) and `render` fills
in the values of the enums in statuses.py, the one place they are defined.
"""

from __future__ import annotations

import re
from enum import IntEnum

from .statuses import ChangeStatus, InviteStatus, LoginStatus, RoomCreation, RoomStatus, SendStatus, SessionStatus


def _codes(prefix: str, enum: type[IntEnum]) -> dict[str, int]:
    return {f"{prefix}_{member.name}": int(member) for member in enum}


# Every placeholder a script may use, and its value.
STATUS_CODES: dict[str, int] = {
    **_codes("SEND", SendStatus),
    **_codes("ROOM", RoomCreation),
    **_codes("LOGIN", LoginStatus),
    **_codes("CHANGE", ChangeStatus),
    **_codes("RM", RoomStatus),
    **_codes("SESSION", SessionStatus),
    **_codes("INVITE", InviteStatus),
}


_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")  # Lua itself never writes "${"


def render(source: str, codes: dict[str, int] = STATUS_CODES) -> str:
    """A script's Lua with its status placeholders filled in. An unknown
    placeholder is a KeyError here, at import, not a bad script in Redis."""
    return _PLACEHOLDER.sub(lambda m: str(codes[m.group(1)]), source)


# A send trims the stream itself (not XADD MAXLEN, whose trimmed entries would
# leave their texts and states behind): once it holds more than the history
# to keep plus a slack, the oldest entries go, with their t:/s: fields, at
# most TRIM_BATCH per send, so a script stays short whatever the backlog.
TRIM_BATCH = 256

_ENTRY = """
-- A stream entry's fields: a change entry's first field is 'k' (its kind);
-- a message entry has 'f' sender, then maybe 'c' cmid, 'r' reply_to, and,
-- written before this version, 't' its text.
local function is_message(f) return f[1] ~= 'k' end
local function field(f, name)
  for j = 1, #f, 2 do if f[j] == name then return f[j + 1] end end
  return nil
end
-- The id of the stream's newest entry ('' for none): read just before an
-- XADD, it is the new entry's predecessor, which the hub uses to deliver a
-- conversation in order and to notice an entry it never heard of.
local function newest(stream)
  local e = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if e then return e[1] end
  return ''
end
"""

_SEND_ONE = (
    _ENTRY
    + """
local TRIM_BATCH = """
    + str(TRIM_BATCH)
    + """
local function trim(stream, texts, states, keep, trim_at)
  local n = redis.call('XLEN', stream)
  if n <= trim_at then return end
  local drop = math.min(n - keep, TRIM_BATCH)
  local old = redis.call('XRANGE', stream, '-', '+', 'COUNT', drop)
  local mids = {}
  for i, e in ipairs(old) do mids[i] = e[1] end
  redis.call('HDEL', texts, unpack(mids))
  redis.call('HDEL', states, unpack(mids))
  redis.call('XTRIM', stream, 'MAXLEN', n - drop)
end

local function send_one(stream, texts, states, cmkey, members, from, text, keep, trim_at, ttl, cmid, conv, reply)
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
  if reply ~= '' then
    local parent = redis.call('XRANGE', stream, reply, reply)
    if #parent == 0 or not is_message(parent[1][2]) then return {'', ${SEND_NO_SUCH_MESSAGE}, conv} end
  end
  local prev = newest(stream)
  if reply ~= '' then
    if cmkey then
      id = redis.call('XADD', stream, '*', 'f', from, 'c', cmid, 'r', reply)
    else
      id = redis.call('XADD', stream, '*', 'f', from, 'r', reply)
    end
  elseif cmkey then
    id = redis.call('XADD', stream, '*', 'f', from, 'c', cmid)
  else
    id = redis.call('XADD', stream, '*', 'f', from)
  end
  if cmkey then redis.call('SET', cmkey, conv .. ' ' .. id, 'EX', ttl) end
  redis.call('HSET', texts, id, text)
  if trim_at ~= '' then trim(stream, texts, states, tonumber(keep), tonumber(trim_at)) end
  return {id, ${SEND_NEW}, conv, prev}
end
"""
)

# KEYS: stream, texts, states, [cmid record], [members]; ARGV: from, text,
# keep, trim at ('': this send does not check the length), cmid ttl,
# has_cmid, is_room, cmid, conv id, reply_to ('' for none).  Returns {mid,
# status, conv id[, prev]}, status a SendStatus; a new message's reply also
# has the id of the entry before it ('' for none): stored, the cmid was already used
# (mid and conv id are the original's), the sender is not a member of the
# room, or reply_to is no message of this conversation.
# A cmid record holds "conv mid". The stream entry holds no text: the text
# goes to the texts hash, where a delete can erase it.
# Keeps to the keys of one slot, so it also runs on a cluster.
SEND = render(
    _SEND_ONE
    + """
local i = 4
local cmkey, members
if ARGV[6] == '1' then cmkey = KEYS[i]; i = i + 1 end
if ARGV[7] == '1' then members = KEYS[i] end
return send_one(KEYS[1], KEYS[2], KEYS[3], cmkey, members, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
                ARGV[8], ARGV[9], ARGV[10])
"""
)

# A whole batch of sends in one call, on a single Redis (the keys span
# slots). KEYS: per message stream, texts, states, cmid record or '',
# members or ''; ARGV: per message the 10 arguments of SEND. Returns, flat,
# SEND_WIDTH values per message: SEND's result with its prev (nil when it has
# none), or '', SEND_FAILED, error, nil for a message whose write failed,
# alone. Flat because Redis 6.2 writes each nested array of a script's reply
# with a write(2) of its own, one per message (measured by bench.send_cost;
# docs/performance.md, "SEND_MANY answers flat").
SEND_WIDTH = 4
SEND_MANY = render(
    _SEND_ONE
    + """
local out, n = {}, 0
for m = 0, #KEYS / 5 - 1 do
  local k, a = 5 * m, 10 * m
  local cmkey, members = KEYS[k + 4], KEYS[k + 5]
  if cmkey == '' then cmkey = nil end
  if members == '' then members = nil end
  local ok, res = pcall(send_one, KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], cmkey, members, ARGV[a + 1],
                        ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10])
  if not ok then res = {'', ${SEND_FAILED}, tostring(res)} end
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = res[1], res[2], res[3], res[4] or false
  n = n + 4
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

# One page of the login replay's unread count: the messages not from me,
# less those deleted since, and (optionally) the change entries of the range.
# KEYS: stream; ARGV: range start (an id, or '(' id), range end ('(' id:
# exclusive, or '+'), me, page size, count from (the whole count's first id:
# a delete counts against it only if its message was counted), collect
# changes ('1'/'0'), then any senders not to count (the users `me` blocks:
# their messages are not counted, nor their deleted ones taken off).
# Returns {unread in this page, entries scanned, last id
# scanned or '', changes}; each change as SCAN gives them. A deleted
# message is counted where it stands and taken off where its delete stands
# (a delete entry carries 'a', the message's author).
# A page of 1,000 entries holds Redis about 1.5 ms, whatever the backlog: the
# caller pages on until fewer than `page` come back (see Store.replay).
REPLAY = render(
    _ENTRY
    + _CMP
    + """
local batch = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[4]))
local from, collect, others = ARGV[5], ARGV[6] == '1', 0
local skip = {[ARGV[3]] = true}
for i = 7, #ARGV do skip[ARGV[i]] = true end
local first, changes = nil, {}
for _, e in ipairs(batch) do
  local f = e[2]
  if is_message(f) then
    local sender = f[2]
    if f[1] ~= 'f' then sender = field(f, 'f') end
    if not skip[sender] then others = others + 1 end
  else
    if f[2] == 'd' then
      local target = field(f, 'm')
      local author = field(f, 'a')
      if not (author and skip[author]) and not newer(from, target) then
        if not first then first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1] end
        if not newer(first, target) then others = others - 1 end
      end
    end
    if collect then
      changes[#changes + 1] = {e[1], f[2], field(f, 'm') or '', field(f, 'f') or '', field(f, 'e') or '',
                               field(f, 'o') or '', field(f, 'a') or ''}
    end
  end
end
local last = ''
if #batch > 0 then last = batch[#batch][1] end
return {others, #batch, last, changes}
"""
)

# The read side of a conversation: entries in order (backward with '<',
# forward with '>'), messages with their current text and state, changes as
# they are. KEYS: stream, texts, states, and (a room's history) its members;
# ARGV: direction, from, to (as XREVRANGE/XRANGE take them), messages wanted
# (0: no limit), entries to scan at most, skip deleted messages ('1'/'0'),
# the reader (with the members key: nil, and nothing read, unless the
# reader is a member; else ''), then any senders whose
# messages are skipped (the reader blocks them; they count as scanned, not
# as wanted).  Returns {messages,
# changes, last id scanned or '', 1 if the range was scanned to its end,
# the stream's first id or '', the first id scanned or ''}: a message as {mid, sender, cmid, reply_to,
# text, state} ('' where absent; state is the s: JSON), a change as {id,
# kind code, target mid, actor, emoji, on, author}. It stops after the
# wanted messages or the budget, whichever comes first; the caller goes on
# from '(' last.
SCAN = render(
    _ENTRY
    + """
local cmd = 'XRANGE'
if ARGV[1] == '<' then cmd = 'XREVRANGE' end
local from, to = ARGV[2], ARGV[3]
local want, budget, skipdel = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
if KEYS[4] and redis.call('SISMEMBER', KEYS[4], ARGV[7]) == 0 then return false end
local hidden = nil
if #ARGV > 7 then
  hidden = {}
  for i = 8, #ARGV do hidden[ARGV[i]] = true end
end
local hasstate = redis.call('EXISTS', KEYS[3]) == 1
local msgs, changes = {}, {}
local scanned, last, top, reached, full = 0, '', '', 0, false
while scanned < budget and not full do
  local n = budget - scanned
  if want > 0 then n = math.min(n, want - #msgs + 16) end
  local batch = redis.call(cmd, KEYS[1], from, to, 'COUNT', n)
  for _, e in ipairs(batch) do
    local id, f = e[1], e[2]
    scanned = scanned + 1
    last = id
    if top == '' then top = id end
    if is_message(f) and hidden and hidden[field(f, 'f') or ''] then
      -- a blocked sender's message: read past, never returned
    elseif is_message(f) then
      local state = false
      if hasstate then state = redis.call('HGET', KEYS[3], id) end
      -- a deleted message's state is exactly {"d": who}
      if not (skipdel and state and string.sub(state, 1, 5) == '{"d":') then
        local sender, legacy, cmid, reply = '', nil, '', ''
        for j = 1, #f, 2 do
          local k = f[j]
          if k == 'f' then sender = f[j + 1] elseif k == 't' then legacy = f[j + 1]
          elseif k == 'c' then cmid = f[j + 1] elseif k == 'r' then reply = f[j + 1] end
        end
        local text = redis.call('HGET', KEYS[2], id) or legacy or ''
        msgs[#msgs + 1] = {id, sender, cmid, reply, text, state or ''}
        if want > 0 and #msgs >= want then full = true; break end
      end
    else
      changes[#changes + 1] = {id, f[2], field(f, 'm') or '', field(f, 'f') or '', field(f, 'e') or '',
                               field(f, 'o') or '', field(f, 'a') or ''}
    end
  end
  if not full and #batch < n then reached = 1; break end
  from = '(' .. last
end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
first = first[1] and first[1][1] or ''
return {msgs, changes, last, reached, first, top}
"""
)

# Messages by mid, with their current text and state. KEYS: stream, texts,
# states; ARGV: mids.  Returns one entry per mid that names a message of the
# stream, as SCAN gives them (unknown mids and change ids are left out).
STATES = render(
    _ENTRY
    + """
local out = {}
for _, mid in ipairs(ARGV) do
  local e = redis.call('XRANGE', KEYS[1], mid, mid)[1]
  if e and is_message(e[2]) then
    local f = e[2]
    local text = redis.call('HGET', KEYS[2], mid) or field(f, 't') or ''
    out[#out + 1] = {mid, field(f, 'f') or '', field(f, 'c') or '', field(f, 'r') or '', text,
                     redis.call('HGET', KEYS[3], mid) or ''}
  end
end
return out
"""
)

_TARGET = (
    _ENTRY
    + """
-- The message a change targets: its fields and its state (a table), or nil.
local function target(stream, states, mid)
  local e = redis.call('XRANGE', stream, mid, mid)[1]
  if not e or not is_message(e[2]) then return nil end
  local raw = redis.call('HGET', states, mid)
  local state = {}
  if raw then state = cjson.decode(raw) end
  return e[2], state
end
local function save(states, mid, state)
  if next(state) == nil then redis.call('HDEL', states, mid)
  else redis.call('HSET', states, mid, cjson.encode(state)) end
end
"""
)

# Each change script's DONE reply ends with the id of the entry before the
# change entry ('' for none), as a send's does.
# KEYS: stream, texts, states; ARGV: mid, editor, text.  Returns
# {ChangeStatus, change id, edited ms, prev}: the author replaces the text (the
# old one is gone: the texts hash holds only the current one); a change
# entry {k e, m mid, f editor} records it. A deleted message is no message.
EDIT = render(
    _TARGET
    + """
local f, state = target(KEYS[1], KEYS[3], ARGV[1])
if not f or state.d then return {${CHANGE_NO_SUCH_MESSAGE}} end
if field(f, 'f') ~= ARGV[2] then return {${CHANGE_FORBIDDEN}} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local prev = newest(KEYS[1])
local id = redis.call('XADD', KEYS[1], '*', 'k', 'e', 'm', ARGV[1], 'f', ARGV[2])
state.e = string.match(id, '^(%d+)-')
save(KEYS[3], ARGV[1], state)
return {${CHANGE_DONE}, id, state.e, prev}
"""
)

# KEYS: stream, texts, states; ARGV: mid, actor, may moderate ('1'/'0').
# Returns {ChangeStatus, change id, '', prev}: the author (or a moderator) erases the
# text and the state becomes exactly {"d": actor}, a tombstone; a change
# entry {k d, m mid, f actor, a author} records it. Deleting a deleted
# message changes nothing (a retry is safe). A message whose text is still
# in its stream entry (written before this version) is LEGACY: the caller
# rebuilds the stream without texts (REBUILD) and asks again.
DELETE = render(
    _TARGET
    + """
local f, state = target(KEYS[1], KEYS[3], ARGV[1])
if not f then return {${CHANGE_NO_SUCH_MESSAGE}} end
local author = field(f, 'f')
if author ~= ARGV[2] and ARGV[3] ~= '1' then return {${CHANGE_FORBIDDEN}} end
if state.d then return {${CHANGE_UNCHANGED}} end
if field(f, 't') then return {${CHANGE_LEGACY}} end
redis.call('HDEL', KEYS[2], ARGV[1])
local prev = newest(KEYS[1])
local id = redis.call('XADD', KEYS[1], '*', 'k', 'd', 'm', ARGV[1], 'f', ARGV[2], 'a', author)
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode({d = ARGV[2]}))
return {${CHANGE_DONE}, id, '', prev}
"""
)

# KEYS: stream, texts, states; ARGV: mid, user, emoji, on ('1'/'0'), most
# distinct emoji.  Returns {ChangeStatus, change id, '', prev}. The state's "r" is a
# list of [emoji, [user, ...]] in the order of first reaction, users in the
# order they reacted; an emoji nobody holds any more leaves the list. A
# change entry {k r, m mid, f user, e emoji, o on} records a real change;
# setting a set reaction or clearing an absent one is UNCHANGED.
REACT = render(
    _TARGET
    + """
local f, state = target(KEYS[1], KEYS[3], ARGV[1])
if not f or state.d then return {${CHANGE_NO_SUCH_MESSAGE}} end
local user, emoji, on = ARGV[2], ARGV[3], ARGV[4] == '1'
local r = state.r or {}
local slot
for i, pair in ipairs(r) do if pair[1] == emoji then slot = i; break end end
local at
if slot then
  for i, u in ipairs(r[slot][2]) do if u == user then at = i; break end end
end
if on then
  if at then return {${CHANGE_UNCHANGED}} end
  if slot then
    table.insert(r[slot][2], user)
  else
    if #r >= tonumber(ARGV[5]) then return {${CHANGE_TOO_MANY}} end
    r[#r + 1] = {emoji, {user}}
  end
else
  if not at then return {${CHANGE_UNCHANGED}} end
  table.remove(r[slot][2], at)
  if #r[slot][2] == 0 then table.remove(r, slot) end
end
if #r == 0 then state.r = nil else state.r = r end
save(KEYS[3], ARGV[1], state)
local prev = newest(KEYS[1])
local id = redis.call('XADD', KEYS[1], '*', 'k', 'r', 'm', ARGV[1], 'f', user, 'e', emoji, 'o', ARGV[4])
return {${CHANGE_DONE}, id, '', prev}
"""
)

# One page of rebuilding a stream without the texts its entries still
# carry (written before this version): each entry is copied to the rebuild
# key with the same id, its 't' moved into the texts hash (unless an edit
# put a newer text there). KEYS: stream, rebuild copy, texts; ARGV: after
# ('-' or '(' id), page size, copy ttl ms.  Returns {1, ''} once the copy
# has the whole stream and has replaced it (in this same call, so no entry
# written meanwhile is lost), else {0, last id copied}. What a send trimmed
# meanwhile is trimmed from the copy too. Several rebuilds of one stream at
# once each use their own copy; each copy holds the same entries.
REBUILD = render("""
local page = tonumber(ARGV[2])
local batch = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', page)
for _, e in ipairs(batch) do
  local id, f, out = e[1], e[2], {}
  for j = 1, #f, 2 do
    if f[j] == 't' and f[1] ~= 'k' then
      redis.call('HSETNX', KEYS[3], id, f[j + 1])
    else
      out[#out + 1] = f[j]
      out[#out + 1] = f[j + 1]
    end
  end
  redis.call('XADD', KEYS[2], id, unpack(out))
end
if #batch == page then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return {0, batch[#batch][1]}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if first then redis.call('XTRIM', KEYS[2], 'MINID', first[1]) end
  redis.call('RENAME', KEYS[2], KEYS[1])
  redis.call('PERSIST', KEYS[1])
end
return {1, ''}
""")

# KEYS: user hash, user convs, cursors, read markers; ARGV: display,
# pwhash, created ms, lobby conv id, lobby cursor, lobby read marker ('':
# none, the lobby is empty).  Returns 1 if created, 0 if the name is taken.
# A new user's markers need no migration ('rm').
REGISTER = render("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'dn', ARGV[1], 'pw', ARGV[2], 'ct', ARGV[3], 'rm', '1')
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[4], ARGV[6]) end
return 1
""")

# KEYS: read markers; ARGV: conv, mid.  Moves the user's read marker in
# conv to mid, never backwards. Returns 1 if it moved.
READ = render(
    _CMP
    + """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and not newer(ARGV[2], cur) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
)

# Once per user from before read markers existed: KEYS: user hash, cursors,
# read markers.  Each conversation without a marker gets the cursor's place
# (what was delivered counts as read, as it did before), then the user hash
# says it is done ('rm'). Returns 1 if it ran.
_MIGRATE = """
local function migrate_markers(user, cursors, markers)
  if redis.call('EXISTS', user) == 0 or redis.call('HEXISTS', user, 'rm') == 1 then return 0 end
  local cur = redis.call('HGETALL', cursors)
  for i = 1, #cur, 2 do
    if cur[i + 1] ~= '0-0' then redis.call('HSETNX', markers, cur[i], cur[i + 1]) end
  end
  redis.call('HSET', user, 'rm', '1')
  return 1
end
"""
MIGRATE_MARKERS = render(_MIGRATE + "return migrate_markers(KEYS[1], KEYS[2], KEYS[3])\n")

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
_TAKE = """
local function take(keys, args)
  for i = 1, #keys do
    local c = tonumber(redis.call('GET', keys[i]) or '0')
    if c >= tonumber(args[2 * i - 1]) then
      local t = redis.call('PTTL', keys[i])
      if t < 0 then
        redis.call('EXPIRE', keys[i], args[2 * i])
        t = tonumber(args[2 * i]) * 1000
      end
      return i, math.max(t, 1)
    end
  end
  for i = 1, #keys do
    if redis.call('INCR', keys[i]) == 1 then redis.call('EXPIRE', keys[i], args[2 * i]) end
  end
  return 0, 0
end
"""
TAKE = render(_TAKE + "local which, wait = take(KEYS, ARGV)\nreturn {which, wait}\n")

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

# A resume with a valid token is counted against the user's resume rate
# (counter, limit, window s) and, when allowed, marks the address (its tag)
# as known (a device there holds a token) in the user's known addresses,
# kept `ttl` s, the newest `most`.  Returns ms to wait, 0 when allowed.
_RESUME_COUNT = """
local function resume_count(counter, known, limit, window, tag, now, ttl, most)
  local c = tonumber(redis.call('GET', counter) or '0')
  if c >= tonumber(limit) then return math.max(redis.call('PTTL', counter), 1) end
  if redis.call('INCR', counter) == 1 then redis.call('EXPIRE', counter, window) end
  redis.call('ZADD', known, now, tag)
  redis.call('ZREMRANGEBYRANK', known, 0, -tonumber(most) - 1)
  redis.call('EXPIRE', known, ttl)
  return 0
end
"""

# KEYS: room set, room index, [private rooms] (one slot); ARGV: room, most
# rooms, [private '1'].  Returns a RoomCreation: the room exists, it was
# created, or the server holds the most rooms it may.  A private room goes
# to the private set instead of the index (which lists rooms to everyone).
CREATE_ROOM = render("""
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return ${ROOM_EXISTS} end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return ${ROOM_FULL} end
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  redis.call('SADD', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[2], 'NX', 0, ARGV[1])
end
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


# --- rooms (issue 12) ---------------------------------------------------------
# Every script here keeps to one room's slot: KEYS are among its members set,
# roles, meta, bans and invitations (keys.py, `{#name}`). A role is checked in
# the same script that acts on it, so a demotion racing a kick cannot let the
# kick through. The caller's and target's being server admins come as ARGV
# (that flag lives in the user's slot): an admin ranks above every role.

_RANKS = """
local RANK = {owner = 3, moderator = 2, member = 1}
local function rank_of(members, roles, user, admin)
  if admin == '1' then return 4 end
  if redis.call('SISMEMBER', members, user) == 0 then return 0 end
  return RANK[redis.call('HGET', roles, user) or 'member'] or 1
end
local function owners(roles)
  local n = 0
  for _, r in ipairs(redis.call('HVALS', roles)) do if r == 'owner' then n = n + 1 end end
  return n
end
"""

# KEYS: members, roles, meta, bans, invitations.  ARGV: user, created ('1':
# this user's CREATE_ROOM made the room), private ('1'), topic, now ms,
# admin ('1'), lobby ('1').  The creator becomes owner and the room gets its
# topic and privacy; anyone else needs not to be banned and, for a private
# room, an invitation that has not expired (admins need neither). A room
# left with no members and no owner is as good as new: its next member owns
# it.  Returns {status, members, the user's role, private '1'/'0', topic}:
# DONE, UNCHANGED (already a member), BANNED, INVITE_ONLY.
ROOM_JOIN = render(
    _RANKS
    + """
local user, now = ARGV[1], tonumber(ARGV[5])
local function answer(status)
  local role = redis.call('HGET', KEYS[2], user)
  if redis.call('SISMEMBER', KEYS[1], user) == 1 then role = role or 'member' end
  local meta = redis.call('HMGET', KEYS[3], 'private', 'topic')
  return {status, redis.call('SCARD', KEYS[1]), role or '', meta[1] or '0', meta[2] or ''}
end
if redis.call('SISMEMBER', KEYS[1], user) == 1 then return answer(${RM_UNCHANGED}) end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[3], 'private', ARGV[3], 'topic', ARGV[4], 'created', ARGV[5], 'creator', user)
  redis.call('HSET', KEYS[2], user, 'owner')
else
  if ARGV[6] ~= '1' then
    if redis.call('HEXISTS', KEYS[4], user) == 1 then return {${RM_BANNED}, 0, '', '0', ''} end
    if redis.call('HGET', KEYS[3], 'private') == '1' then
      local inv = redis.call('HGET', KEYS[5], user)
      if not inv or tonumber(string.match(inv, '^(%d+)')) <= now then return {${RM_INVITE_ONLY}, 0, '', '1', ''} end
    end
  end
  if ARGV[7] ~= '1' and redis.call('SCARD', KEYS[1]) == 0 and owners(KEYS[2]) == 0 then
    redis.call('HSET', KEYS[2], user, 'owner')
  end
end
redis.call('HDEL', KEYS[5], user)
redis.call('SADD', KEYS[1], user)
return answer(${RM_DONE})
"""
)

# KEYS: members, roles, bans, invitations.  ARGV: target, actor, actor
# admin, target admin, mode ('leave', 'kick', 'ban', 'unban'), reason, now
# ms, lobby ('1').  Leave is the target's own; kick and ban need a moderator
# or owner whose rank is above the target's (a moderator cannot remove the
# owner); ban records {by, reason, at}, removes the member and any
# invitation, or bans a non-member ahead; unban forgets the ban.  No one
# leaves or is removed from the lobby.  When the last owner of a room with
# other members goes, the room passes to an heir, so it always has an owner:
# its first moderator by name, else the first other member by name of the
# first set page that has one.  Returns {status, the target's role before
# ('' if not a member), members after, the heir or ''}: DONE, UNCHANGED
# (unban of no ban), NOT_MEMBER, FORBIDDEN, OUTRANKED, TARGET_NOT_MEMBER,
# LOBBY.
ROOM_REMOVE = render(
    _RANKS
    + """
local target, actor, mode = ARGV[1], ARGV[2], ARGV[5]
if ARGV[8] == '1' then return {${RM_LOBBY}, '', 0, ''} end
local member = redis.call('SISMEMBER', KEYS[1], target) == 1
local role = ''
if member then role = redis.call('HGET', KEYS[2], target) or 'member' end
if mode == 'leave' then
  if not member then return {${RM_NOT_MEMBER}, '', 0, ''} end
else
  local rank = rank_of(KEYS[1], KEYS[2], actor, ARGV[3])
  if rank == 0 then return {${RM_NOT_MEMBER}, role, 0, ''} end
  if rank < 2 then return {${RM_FORBIDDEN}, role, 0, ''} end
  if mode == 'unban' then
    if redis.call('HDEL', KEYS[3], target) == 0 then return {${RM_UNCHANGED}, role, 0, ''} end
    return {${RM_DONE}, role, redis.call('SCARD', KEYS[1]), ''}
  end
  if mode == 'kick' and not member then return {${RM_TARGET_NOT_MEMBER}, '', 0, ''} end
  local theirs = 1
  if member then theirs = RANK[role] or 1 end
  if ARGV[4] == '1' then theirs = 4 end
  if theirs >= rank then return {${RM_OUTRANKED}, role, 0, ''} end
end
local heir = ''
if role == 'owner' and owners(KEYS[2]) == 1 and redis.call('SCARD', KEYS[1]) > 1 then
  local roles = redis.call('HGETALL', KEYS[2])
  for i = 1, #roles, 2 do
    if roles[i + 1] == 'moderator' and (heir == '' or roles[i] < heir) then heir = roles[i] end
  end
  local cursor = '0'
  while heir == '' do
    local page = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', 20)
    for _, name in ipairs(page[2]) do
      if name ~= target and (heir == '' or name < heir) then heir = name end
    end
    cursor = page[1]
    if cursor == '0' then break end
  end
  if heir ~= '' then redis.call('HSET', KEYS[2], heir, 'owner') end
end
if mode == 'ban' then
  redis.call('HSET', KEYS[3], target, cjson.encode({by = actor, reason = ARGV[6], at = tonumber(ARGV[7])}))
  redis.call('HDEL', KEYS[4], target)
end
redis.call('SREM', KEYS[1], target)
redis.call('HDEL', KEYS[2], target)
return {${RM_DONE}, role, redis.call('SCARD', KEYS[1]), heir}
"""
)

# KEYS: members, roles.  ARGV: actor, actor admin, target, role ('owner',
# 'moderator', 'member'), lobby ('1').  Owners (and admins) only; the room
# always keeps an owner; the lobby has none but the admins.  Returns
# {status, the target's role before}: DONE, UNCHANGED, NOT_MEMBER,
# FORBIDDEN, TARGET_NOT_MEMBER, LAST_OWNER, LOBBY.
ROOM_ROLE = render(
    _RANKS
    + """
local actor, target, role = ARGV[1], ARGV[3], ARGV[4]
local rank = rank_of(KEYS[1], KEYS[2], actor, ARGV[2])
if rank == 0 then return {${RM_NOT_MEMBER}, ''} end
if rank < 3 then return {${RM_FORBIDDEN}, ''} end
if ARGV[5] == '1' and role == 'owner' then return {${RM_LOBBY}, ''} end
if redis.call('SISMEMBER', KEYS[1], target) == 0 then return {${RM_TARGET_NOT_MEMBER}, ''} end
local old = redis.call('HGET', KEYS[2], target) or 'member'
if old == role then return {${RM_UNCHANGED}, old} end
if old == 'owner' and owners(KEYS[2]) == 1 then return {${RM_LAST_OWNER}, old} end
if role == 'member' then redis.call('HDEL', KEYS[2], target) else redis.call('HSET', KEYS[2], target, role) end
return {${RM_DONE}, old}
"""
)

# KEYS: members, roles, meta.  ARGV: actor, actor admin, topic.  Owners and
# moderators (and admins).  Returns {status, private '1'/'0', members}: DONE,
# UNCHANGED (the same topic), NOT_MEMBER, FORBIDDEN.
ROOM_TOPIC = render(
    _RANKS
    + """
local rank = rank_of(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if rank == 0 then return {${RM_NOT_MEMBER}, '0', 0} end
if rank < 2 then return {${RM_FORBIDDEN}, '0', 0} end
local meta = redis.call('HMGET', KEYS[3], 'private', 'topic')
local private, count = meta[1] or '0', redis.call('SCARD', KEYS[1])
if (meta[2] or '') == ARGV[3] then return {${RM_UNCHANGED}, private, count} end
redis.call('HSET', KEYS[3], 'topic', ARGV[3])
return {${RM_DONE}, private, count}
"""
)

# KEYS: members, roles, meta, bans, invitations.  ARGV: actor, actor admin,
# target, expiry ms, now ms.  Any member (or admin) invites; the invitation
# replaces an earlier one of the same user.  Expired invitations are pruned a
# few at a time.  Returns {status, private '1'/'0'}: DONE, UNCHANGED (already
# a member), NOT_MEMBER, BANNED (unban first).
ROOM_INVITE = render(
    _RANKS
    + """
local private = redis.call('HGET', KEYS[3], 'private') or '0'
if rank_of(KEYS[1], KEYS[2], ARGV[1], ARGV[2]) == 0 then return {${RM_NOT_MEMBER}, private} end
if redis.call('SISMEMBER', KEYS[1], ARGV[3]) == 1 then return {${RM_UNCHANGED}, private} end
if redis.call('HEXISTS', KEYS[4], ARGV[3]) == 1 then return {${RM_BANNED}, private} end
local now = tonumber(ARGV[5])
local some = redis.call('HSCAN', KEYS[5], 0, 'COUNT', 20)[2]
for i = 1, #some, 2 do
  if tonumber(string.match(some[i + 1], '^(%d+)')) <= now then redis.call('HDEL', KEYS[5], some[i]) end
end
redis.call('HSET', KEYS[5], ARGV[3], ARGV[4] .. ' ' .. ARGV[1])
return {${RM_DONE}, private}
"""
)

# KEYS: the room's stream, texts, states, members, roles, meta, bans,
# invitations (one slot).  Deletes them all (chinwag-admin's `rooms delete`)
# and returns the members it had, so the caller can take the room out of
# their conversation sets.
ROOM_DELETE = render("""
local members = redis.call('SMEMBERS', KEYS[4])
redis.call('DEL', unpack(KEYS))
return members
""")


# --- accounts: flags, sessions, invitation codes -----------------------------------

# KEYS: user hash; ARGV: field, '1' to set it to "1" or '' to clear it.
# Returns 1, or 0 (and writes nothing) when there is no such user: an HSET
# alone would create a user hash with no password.
USER_FLAG = render("""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], ARGV[1], '1') else redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
""")

# KEYS: the user's session index, the user hash; ARGV: session id, its
# JSON, now ms, token ttl ms, entries before a prune, most sessions kept,
# the user's session generation ('sg') as the login read it with the
# password hash ('' for none).  Adds the session, unless the generation
# moved meanwhile (a password change or an operator revoked the user's
# sessions while this login checked the old password): then nothing is
# added and the answer is -1.  Once the index holds more than the prune
# mark, entries unused for longer than the ttl (their tokens have expired)
# are dropped, and past the most kept, the least recently used others are
# too: a user who logs in often and never looks at the list does not grow
# it without end.  Returns the token hashes of the sessions dropped that
# way while live (the caller ends them).
SESSION_ADD = render("""
if (redis.call('HGET', KEYS[2], 'sg') or '') ~= ARGV[7] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('HLEN', KEYS[1]) <= tonumber(ARGV[5]) then return {} end
local all = redis.call('HGETALL', KEYS[1])
local oldest = tonumber(ARGV[3]) - tonumber(ARGV[4])
local live = {}
for i = 1, #all, 2 do
  local ok, s = pcall(cjson.decode, all[i + 1])
  if not ok or type(s) ~= 'table' or tonumber(s.lu or '0') < oldest then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] ~= ARGV[1] then
    table.insert(live, {tonumber(s.lu or '0'), all[i], tostring(s.t or '')})
  end
end
local evicted = {}
local over = #live + 1 - tonumber(ARGV[6])
if over > 0 then
  table.sort(live, function(a, b) return a[1] < b[1] end)
  for i = 1, over do
    redis.call('HDEL', KEYS[1], live[i][2])
    table.insert(evicted, live[i][3])
  end
end
return evicted
""")

# A resume with a valid token (user hash, the user's session index, session
# id, now ms, token hash): refused for a disabled account; otherwise the
# session's last use is now. A token the index does not list (one issued
# before there was an index) is added to it, unless the user's sessions were
# revoked since ('sg' exists, see SESSION_ADD): then it is no longer honoured.
_SESSION_TOUCH = """
local function touch_session(user, index, sid, now, token_hash)
  if redis.call('HGET', user, 'disabled') == '1' then return ${SESSION_DISABLED} end
  local raw = redis.call('HGET', index, sid)
  if raw then
    local ok, s = pcall(cjson.decode, raw)
    if ok then
      s.lu = now
      redis.call('HSET', index, sid, cjson.encode(s))
      return ${SESSION_OK}
    end
  elseif redis.call('HEXISTS', user, 'sg') == 1 then
    return ${SESSION_REVOKED}
  end
  redis.call('HSET', index, sid, cjson.encode({t = token_hash, c = '', cr = now, lu = now}))
  return ${SESSION_OK}
end
"""

# The first step of a resume, on one Redis (the keys span slots): KEYS: the
# address's resume counter, the token's key; ARGV: limit, window s (TAKE's),
# token ttl s.  The resume is counted against the address (TAKE) and, if it
# has room, the token's user read and its expiry refreshed (a sliding
# window), as TAKE then TOKEN_USE would on a cluster.  Returns {ms to wait (0
# when counted), the token's user or nil}.
_TOKEN_USE = """
local function use_token(key, ttl)
  local name = redis.call('GET', key)
  redis.call('EXPIRE', key, ttl)
  return name
end
"""
RESUME_BEGIN = render(
    _TAKE
    + _TOKEN_USE
    + """
local which, wait = take({KEYS[1]}, {ARGV[1], ARGV[2]})
if which ~= 0 then return {wait, false} end
return {0, use_token(KEYS[2], ARGV[3])}
"""
)

# KEYS: a token's key; ARGV: ttl s.  The token's user (nil if none), its
# expiry refreshed: RESUME_BEGIN's second half, on a cluster.
TOKEN_USE = render(_TOKEN_USE + "return use_token(KEYS[1], ARGV[1])\n")

# The rest of a resume's checks and the login state, in the user's slot (one
# call on one Redis and on a cluster alike).  KEYS: resumes counter, known
# addresses, user hash, session index, conversations, cursors, read markers,
# blocks; ARGV: limit, window s, address tag, now ms, known ttl s, most known
# (resume_count's), session id, token hash.  In this order, each stopping the
# rest: the user's resume rate (returns {ms to wait}); the session
# (touch_session; returns {0, status} unless OK); the read markers' one-time
# migration (MIGRATE_MARKERS).  Then returns {0, OK, conversations, cursors
# and markers (flat field/value lists), blocked users, display name, away,
# status text} (nil where the profile has no such field).
RESUME_STATE = render(
    _RESUME_COUNT
    + _SESSION_TOUCH
    + _MIGRATE
    + """
local wait = resume_count(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
if wait ~= 0 then return {wait} end
local status = touch_session(KEYS[3], KEYS[4], ARGV[7], ARGV[4], ARGV[8])
if status ~= ${SESSION_OK} then return {0, status} end
migrate_markers(KEYS[3], KEYS[6], KEYS[7])
local profile = redis.call('HMGET', KEYS[3], 'dn', 'away', 'status')
return {0, status, redis.call('SMEMBERS', KEYS[5]), redis.call('HGETALL', KEYS[6]), redis.call('HGETALL', KEYS[7]),
        redis.call('SMEMBERS', KEYS[8]), profile[1], profile[2], profile[3]}
"""
)

# KEYS: one invitation code's hash; ARGV: now ms.  Takes one use of the
# code if it is known, unexpired and not used up: check and take in one
# step, so two registrations cannot share a code's last use.
INVITE_TAKE = render("""
local left = redis.call('HGET', KEYS[1], 'left')
if not left then return ${INVITE_UNKNOWN} end
if tonumber(redis.call('HGET', KEYS[1], 'exp') or '0') <= tonumber(ARGV[1]) then return ${INVITE_EXPIRED} end
if tonumber(left) <= 0 then return ${INVITE_USED_UP} end
redis.call('HINCRBY', KEYS[1], 'left', -1)
return ${INVITE_OK}
""")

# KEYS: one invitation code's hash.  Gives back a use INVITE_TAKE took (the
# registration then failed), never past the code's number of uses, and not
# to a code revoked meanwhile.
INVITE_REFUND = render("""
local left = redis.call('HGET', KEYS[1], 'left')
if left and tonumber(left) < tonumber(redis.call('HGET', KEYS[1], 'uses') or '0') then
  redis.call('HINCRBY', KEYS[1], 'left', 1)
end
return 0
""")


# Every script by name, as the engine loads them into Redis.
SCRIPTS: dict[str, str] = {
    "SEND": SEND,
    "SEND_MANY": SEND_MANY,
    "ACK": ACK,
    "ACK_MANY": ACK_MANY,
    "REPLAY": REPLAY,
    "SCAN": SCAN,
    "STATES": STATES,
    "EDIT": EDIT,
    "DELETE": DELETE,
    "REACT": REACT,
    "REBUILD": REBUILD,
    "REGISTER": REGISTER,
    "READ": READ,
    "MIGRATE_MARKERS": MIGRATE_MARKERS,
    "PRESENCE": PRESENCE,
    "REAP": REAP,
    "TAKE": TAKE,
    "REFUND": REFUND,
    "LOGIN_USER": LOGIN_USER,
    "LOGIN_SETTLE": LOGIN_SETTLE,
    "RESUME_BEGIN": RESUME_BEGIN,
    "TOKEN_USE": TOKEN_USE,
    "RESUME_STATE": RESUME_STATE,
    "CREATE_ROOM": CREATE_ROOM,
    "HEARTBEAT": HEARTBEAT,
    "PRESENCE_SYNC": PRESENCE_SYNC,
    # rooms (issue 12)
    "ROOM_JOIN": ROOM_JOIN,
    "ROOM_REMOVE": ROOM_REMOVE,
    "ROOM_ROLE": ROOM_ROLE,
    "ROOM_TOPIC": ROOM_TOPIC,
    "ROOM_INVITE": ROOM_INVITE,
    "ROOM_DELETE": ROOM_DELETE,
    # accounts
    "USER_FLAG": USER_FLAG,
    "SESSION_ADD": SESSION_ADD,
    "INVITE_TAKE": INVITE_TAKE,
    "INVITE_REFUND": INVITE_REFUND,
}
