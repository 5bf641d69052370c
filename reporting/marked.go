package reporting

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/reportbot/reportbot/reporting/replay"
)

// An interaction's replay mark (package replay) rides in the first Redis call made
// for it. A script that may carry it starts with markPrelude and takes two extra
// arguments in front of its own: KEYS[1] the mark and ARGV[1] its TTL in seconds;
// with TTL "0" there is no mark, and KEYS[1] is any key of the script's slot. The
// prelude hides both, so the script's body reads KEYS and ARGV as if they were not
// there. A replay fails the script before it changes anything, with an error reply
// starting REPLAY.
const markPrelude = `
local mark, markTTL = KEYS[1], ARGV[1]
local KEYS, ARGV = {unpack(KEYS, 2)}, {unpack(ARGV, 2)}
if markTTL ~= '0' and not redis.call('SET', mark, '1', 'NX', 'EX', markTTL) then
  return redis.error_reply('REPLAY interaction already received')
end
`

var markTTL = strconv.Itoa(int(replay.For.Seconds()))

// markedScript is a script whose body may carry a replay mark (markPrelude).
func markedScript(body string) *redis.Script { return redis.NewScript(markPrelude + body) }

// runFn defines the Lua function run(ARGV, i): it runs the commands in ARGV from i on,
// each given as a count n and n words, and returns their replies.
const runFn = `
local function run(ARGV, i)
  local out = {}
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    out[#out + 1] = redis.call(unpack(ARGV, i + 1, i + n))
    i = i + n + 1
  end
  return out
end
`

// commandWords are the commands queued on p (never sent), as run's arguments: the
// same code writes a key in a pipeline and inside a script.
func commandWords(p redis.Pipeliner) []any {
	var args []any
	for _, c := range p.(*redis.Pipeline).Cmds() {
		words := c.Args()
		args = append(append(args, len(words)), words...)
	}
	p.Discard()
	return args
}

// writes runs, in one script with ctx's replay mark, the writes fn queues; keys are
// every key they touch, in one slot. It returns the writes' replies.
type writes struct {
	rdb    redis.UniversalClient
	script *redis.Script
}

func newWrites(rdb redis.UniversalClient) writes {
	return writes{rdb: rdb, script: markedScript(runFn + "return run(ARGV, 1)")}
}

func (w writes) run(ctx context.Context, keys []string, fn func(p redis.Pipeliner)) ([]any, error) {
	p := w.rdb.Pipeline()
	fn(p)
	return runMarked(ctx, w.rdb, w.script, keys, commandWords(p)...).Slice()
}

// hashTag is the part of key Redis Cluster hashes: between the first { and the next }.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// markedArgs puts ctx's mark, if no call carried it yet, in front of a marked
// script's keys and args. The script's own keys share one slot; on one Redis node
// the mark goes inside the script whatever its slot, and on Redis Cluster it does
// when it shares the script's slot, else it is set first, in a round trip to its
// own slot.
func markedArgs(ctx context.Context, rdb redis.UniversalClient, keys []string, args []any) ([]string, []any, error) {
	mark := replay.Take(ctx)
	if _, cluster := rdb.(*redis.ClusterClient); cluster && mark != "" && hashTag(mark) != hashTag(keys[0]) {
		if err := setMark(ctx, rdb, mark); err != nil {
			return nil, nil, err
		}
		mark = ""
	}
	ttl := markTTL
	if mark == "" {
		mark, ttl = keys[0], "0"
	}
	return append([]string{mark}, keys...), append([]any{ttl}, args...), nil
}

// runMarked runs the marked script sc on keys and args with ctx's mark.
func runMarked(ctx context.Context, rdb redis.UniversalClient, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	keys, args, err := markedArgs(ctx, rdb, keys, args)
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	cmd := sc.Run(ctx, rdb, keys, args...)
	if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "REPLAY") {
		cmd.SetErr(replay.Refused(ctx))
	}
	return cmd
}

// setMark sets ctx's mark in a round trip of its own.
func setMark(ctx context.Context, rdb redis.Cmdable, mark string) error {
	fresh, err := rdb.SetNX(ctx, mark, 1, replay.For).Result()
	if err != nil {
		return err
	}
	if !fresh {
		return replay.Refused(ctx)
	}
	return nil
}

// readMarked runs the reads of fn in one pipeline with ctx's mark, if no call
// carried it yet: a replay makes the reads' results worthless, not wrong, so they
// may run beside the mark (on Redis Cluster, in parallel with it on its node).
// Only reads go in fn.
func readMarked(ctx context.Context, rdb redis.UniversalClient, fn func(p redis.Pipeliner)) error {
	var mark *redis.BoolCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if key := replay.Take(ctx); key != "" {
			mark = p.SetNX(ctx, key, 1, replay.For)
		}
		fn(p)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if mark != nil && !mark.Val() {
		return replay.Refused(ctx)
	}
	return nil
}

// MarkReplay sets ctx's mark unless a call already carried it: for an interaction
// answered without Redis. It returns replay.ErrReplayed for a replay.
func (s *Service) MarkReplay(ctx context.Context) error {
	if key := replay.Take(ctx); key != "" {
		return setMark(ctx, s.rdb, key)
	}
	return nil
}

// LoadScripts loads into Redis (every master, on Redis Cluster) the scripts on the
// path to an answer, so that none of them costs a second round trip the first time
// it runs on a node. Redis forgets them on a restart; a script it does not know is
// sent again once, in full.
func (s *Service) LoadScripts(ctx context.Context) error {
	scripts := []*redis.Script{s.file, s.moderate, s.bar, s.choose, s.chooseRecord, s.recordOf,
		s.Settings.write, s.Limits.decide, s.Reports.recent}
	if s.Links != nil {
		scripts = append(scripts, s.Links.writes.script)
	}
	for _, sc := range scripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("loading scripts: %w", err)
		}
	}
	return nil
}
