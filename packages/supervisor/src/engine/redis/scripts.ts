/**
 * The Redis engine's atomic steps, one Lua script each, and the keys they
 * use. Every script declares the shebang `#!lua`, so Redis (7.0 or newer)
 * checks `maxmemory` before a writing script runs: an out-of-memory refusal
 * never leaves half a step behind. Readers declare `flags=no-writes` and so
 * still run when Redis is full.
 *
 * Keys (all under `smegchat:`; BOARD is a board name, TAG a session hash):
 *
 *     smegchat:gen                    a random token, part of every public epoch:
 *                                     replaced when Redis is found to have gone back
 *     smegchat:clock                  counts writes; a lower value later means Redis went back
 *     smegchat:boards                 set of board names (for --max-boards)
 *     smegchat:b:{BOARD}:meta         hash: e epoch, h head seq, f first seq since the
 *                                     last clear, n messages and z bytes since it
 *     smegchat:b:{BOARD}:log          stream, one entry per message, ID `<seq>-0`,
 *                                     fields f (the frame) and g (the sender's tag)
 *     smegchat:b:{BOARD}:ids:{TAG}    sorted set of the ids this session sent, by seq
 *                                     (the last N, expiring): the dedupe
 *     smegchat:op:{HOST}              hash: hwm, this host's highest applied operation,
 *                                     and o<op>, the outcomes of its last operations
 *     smegchat:wake:{HOST}            a one-entry stream that wakes this host's reader
 */

const PREFIX = 'smegchat:';

export const keys = {
  gen: `${PREFIX}gen`,
  clock: `${PREFIX}clock`,
  boards: `${PREFIX}boards`,
  meta: (board: string): string => `${PREFIX}b:{${board}}:meta`,
  log: (board: string): string => `${PREFIX}b:{${board}}:log`,
  ids: (board: string, tag: string): string => `${PREFIX}b:{${board}}:ids:${tag}`,
  op: (host: string): string => `${PREFIX}op:${host}`,
  wake: (host: string): string => `${PREFIX}wake:${host}`,
  /** The board a stream key belongs to, or null if it is no board's log. */
  boardOfLog(key: string): string | null {
    const m = /^smegchat:b:\{([A-Za-z0-9_-]{1,64})\}:log$/.exec(key);
    return m === null ? null : m[1]!;
  },
};

/**
 * The welcome's fields and the replay, read in one step.
 * KEYS: meta, log, gen. ARGV: since ('' for none), the client's epoch ('' for none).
 * Returns {'missing'} when the board (or the generation) does not exist yet,
 * else {public epoch, head, reset (0/1), frame, frame, ...}.
 */
export const JOIN = `#!lua flags=no-writes
local gen = redis.call('GET', KEYS[3])
local e = redis.call('HGET', KEYS[1], 'e')
if not gen or not e then return {'missing'} end
local h = tonumber(redis.call('HGET', KEYS[1], 'h'))
local f = tonumber(redis.call('HGET', KEYS[1], 'f'))
local epoch = e .. gen
local reset = 0
local from = f
if ARGV[1] ~= '' then
  local since = tonumber(ARGV[1])
  if ARGV[2] ~= epoch or since > h then reset = 1 else from = math.max(since + 1, f) end
end
local out = {epoch, h, reset}
if from <= h then
  local entries = redis.call('XRANGE', KEYS[2], string.format('%d', from) .. '-0', string.format('%d', h) .. '-0')
  for i = 1, #entries do
    local fields = entries[i][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'f' then out[#out + 1] = fields[j + 1] end
    end
  end
end
return out
`;

/**
 * Creates a board (and the generation) if missing, within the board limit.
 * KEYS: meta, boards, gen. ARGV: board name, max boards, new board epoch, new generation.
 * Returns 'ok' or 'full'.
 */
export const CREATE = `#!lua
if not redis.call('GET', KEYS[3]) then redis.call('SET', KEYS[3], ARGV[4]) end
if redis.call('HEXISTS', KEYS[1], 'e') == 1 then return 'ok' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 and redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 'full' end
redis.call('HSET', KEYS[1], 'e', ARGV[3], 'h', 0, 'f', 1, 'n', 0, 'z', 0)
redis.call('SADD', KEYS[2], ARGV[1])
return 'ok'
`;

/**
 * Sequences one sender's messages on one board: the whole step of CONTRACT §4
 * in one atomic script. For each message: a resent id of this session is a
 * duplicate ('d'); a board over its bounds refuses all but a clear ('f');
 * else the next seq, the frame appended with ID `<seq>-0`, the id remembered
 * ('s<seq>'). A clear restarts the bounds and trims the stream to what
 * follows it (keeping `keep` entries before it for readers that lag). An
 * undo or redo ('u') or an erase ('e') is first checked against the seqs it
 * names, as engine/targets.ts says (the embedded engine keeps the same rule):
 * 'n<seq>' when one is no stroke (or, for undo and redo, erase) since the
 * last clear, 'y<seq>' when an undo or redo names another session's.
 *
 * The operation id `op` is this host's, increasing: one at or below the
 * host's high-water mark was applied already (a resend after Redis died
 * before it answered) and is answered with what it did then, never applied
 * again.
 *
 * KEYS: meta, log, ids (this sender's), op, clock.
 * ARGV: op, max messages, max bytes, ids kept, ids TTL (s), op TTL (s), tag,
 *       keep, then per message: id, its kind ('c' clear, 'u' undo or redo,
 *       'e' erase, 'm' any other), the frame without its closing brace, that
 *       prefix's length as JavaScript counts it, and the seqs it names
 *       (space-separated; '' for none).
 * Returns {'ok', outcomes, clock}, {'replayed', outcomes or false}, or
 * {'lost'} when the board's state is gone (Redis lost it).
 */
export const SUBMIT = `#!lua
local op = tonumber(ARGV[1])
local hwm = tonumber(redis.call('HGET', KEYS[4], 'hwm') or '0')
if op <= hwm then
  return {'replayed', redis.call('HGET', KEYS[4], 'o' .. ARGV[1])}
end
if redis.call('HEXISTS', KEYS[1], 'e') == 0 then return {'lost'} end
local meta = redis.call('HMGET', KEYS[1], 'h', 'f', 'n', 'z')
local h, f, n, z = tonumber(meta[1]), tonumber(meta[2]), tonumber(meta[3]), tonumber(meta[4])
local maxn, maxz, keep = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[8])
local head0 = h
local out = {}
local function refusal(kind, targets)
  for t in string.gmatch(targets, '%d+') do
    local seq = tonumber(t)
    if seq < f or seq > h then return 'n' .. t end
    local entry = redis.call('XRANGE', KEYS[2], t .. '-0', t .. '-0')[1]
    if not entry then return 'n' .. t end
    local frame, g = '', ''
    for j = 1, #entry[2], 2 do
      if entry[2][j] == 'f' then frame = entry[2][j + 1] elseif entry[2][j] == 'g' then g = entry[2][j + 1] end
    end
    local stroke = string.sub(frame, 1, 13) == '{"t":"stroke"'
    if kind == 'e' then
      if not stroke then return 'n' .. t end
    else
      if not stroke and string.sub(frame, 1, 12) ~= '{"t":"erase"' then return 'n' .. t end
      if g ~= ARGV[7] then return 'y' .. t end
    end
  end
  return nil
end
for i = 9, #ARGV, 5 do
  local id, kind, prefix, plen = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local dup = redis.call('ZSCORE', KEYS[3], id)
  local no = nil
  if not dup and (kind == 'u' or kind == 'e') then no = refusal(kind, ARGV[i + 4]) end
  if dup then
    out[#out + 1] = 'd'
  elseif no then
    out[#out + 1] = no
  else
    local seq = h + 1
    local s = string.format('%d', seq)
    local flen = plen + 8 + #s
    if kind ~= 'c' and (n >= maxn or z + flen > maxz) then
      out[#out + 1] = 'f'
    else
      redis.call('XADD', KEYS[2], s .. '-0', 'f', prefix .. ',"seq":' .. s .. '}', 'g', ARGV[7])
      if kind == 'c' then
        n, z, f = 0, 0, seq
        if seq - keep > 1 then redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d', seq - keep) .. '-0') end
      end
      h, n, z = seq, n + 1, z + flen
      redis.call('ZADD', KEYS[3], seq, id)
      out[#out + 1] = 's' .. s
    end
  end
end
local clock = tonumber(redis.call('GET', KEYS[5]) or '0')
if h ~= head0 then
  redis.call('HSET', KEYS[1], 'h', h, 'f', f, 'n', n, 'z', z)
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[4]) + 1))
  redis.call('EXPIRE', KEYS[3], ARGV[5])
  clock = redis.call('INCR', KEYS[5])
end
local outcomes = table.concat(out, ',')
redis.call('HSET', KEYS[4], 'hwm', ARGV[1], 'o' .. ARGV[1], outcomes)
redis.call('HDEL', KEYS[4], 'o' .. string.format('%d', op - 1024))
redis.call('EXPIRE', KEYS[4], ARGV[6])
return {'ok', outcomes, clock}
`;

/** The watchdog's look: KEYS: clock, gen, boards. Returns {clock, gen or false, boards}. */
export const PROBE = `#!lua flags=no-writes
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('GET', KEYS[2]), redis.call('SCARD', KEYS[3])}
`;

/**
 * Replaces the generation if it is still what this host found wrong (another
 * host may have replaced it already). KEYS: gen. ARGV: the value found ('' for
 * none), the new one. Returns the generation now in force.
 */
export const REGENERATE = `#!lua
local cur = redis.call('GET', KEYS[1])
if (not cur and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return cur
`;

/** Wakes a reader blocked on its wake stream. KEYS: wake. ARGV: TTL (s). */
export const WAKE = `#!lua
redis.call('XADD', KEYS[1], 'MAXLEN', '1', '*', 'w', '1')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
`;
