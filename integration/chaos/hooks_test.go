package chaos

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hookFiles is the handover hook of the fixed workloads and the files that steer it. The hook
// appends "start", "tick" (every 100 ms while it waits) and "end" lines with its operation, its
// workload, its PID and the time to the log, so the suite can tell when each run was alive. It
// sleeps for the seconds in the slow file when that exists, and fails while the fail file exists.
type hookFiles struct {
	script, log, fail, slow string
}

func newHookFiles(dir string) hookFiles {
	return hookFiles{script: filepath.Join(dir, "hook.sh"), log: filepath.Join(dir, "hooks.log"),
		fail: filepath.Join(dir, "hook-fail"), slow: filepath.Join(dir, "hook-slow")}
}

const hookScript = `#!/bin/sh
# Handover hook of the chaos suite's fixed workloads (integration/chaos/hooks_test.go).
log=%q
now() { date +%%s.%%N; }
echo "start $CSET_OPERATION $CSET_WORKLOAD $$ $(now)" >> "$log"
if [ -f %q ]; then
	ms=$(awk '{ printf "%%d", $1 * 1000 }' %q 2>/dev/null)
	end=$(( $(date +%%s%%N) / 1000000 + ${ms:-0} ))
	while [ $(( $(date +%%s%%N) / 1000000 )) -lt "$end" ]; do
		echo "tick $CSET_OPERATION $CSET_WORKLOAD $$ $(now)" >> "$log"
		sleep 0.1
	done
fi
if [ -f %q ]; then
	echo "end $CSET_OPERATION $CSET_WORKLOAD $$ $(now) fail" >> "$log"
	echo "chaos hook: failing while %s exists"
	exit 1
fi
echo "end $CSET_OPERATION $CSET_WORKLOAD $$ $(now) ok" >> "$log"
`

func (h hookFiles) install() error {
	s := fmt.Sprintf(hookScript, h.log, h.slow, h.slow, h.fail, filepath.Base(h.fail))
	return os.WriteFile(h.script, []byte(s), 0o755)
}

// set creates (on) or removes a control file.
func set(path string, on bool, content string) error {
	if on {
		return os.WriteFile(path, []byte(content), 0o644)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (h hookFiles) setFail(on bool) error { return set(h.fail, on, "fail\n") }

func (h hookFiles) setSlow(on bool) error {
	return set(h.slow, on, fmt.Sprintf("%.1f\n", timings.hookSlow.Seconds()))
}

// hookRun is one run of the hook as its log shows it: alive at least from start to last.
type hookRun struct {
	op, workload string
	pid          int
	start, last  time.Time
	result       string // "ok", "fail", or "" when the run never wrote its end (killed)
}

func (r hookRun) String() string {
	res := r.result
	if res == "" {
		res = "no end line"
	}
	return fmt.Sprintf("pid %d %s..%s (%s)", r.pid, r.start.Format("15:04:05.000"), r.last.Format("15:04:05.000"), res)
}

// readHookRuns parses the hook log.
func readHookRuns(path string) ([]*hookRun, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	byPID := map[int]*hookRun{}
	var runs []*hookRun
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		pid, err1 := strconv.Atoi(fs[3])
		sec, err2 := strconv.ParseFloat(fs[4], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		at := time.Unix(0, int64(sec*1e9))
		r := byPID[pid]
		if fs[0] == "start" || r == nil || r.op != fs[1] {
			r = &hookRun{op: fs[1], workload: fs[2], pid: pid, start: at, last: at}
			byPID[pid] = r
			runs = append(runs, r)
		}
		r.last = at
		if fs[0] == "end" && len(fs) > 5 {
			r.result = fs[5]
		}
	}
	return runs, sc.Err()
}

// hookOverlaps returns, for every operation, each pair of its hook runs that were alive at the
// same time: a new leader must not rerun a hook while its predecessor's run still goes on.
func hookOverlaps(runs []*hookRun) []string {
	by := map[string][]*hookRun{}
	for _, r := range runs {
		by[r.op] = append(by[r.op], r)
	}
	var out []string
	for op, rs := range by {
		slices.SortFunc(rs, func(a, b *hookRun) int { return a.start.Compare(b.start) })
		for i, a := range rs {
			for _, b := range rs[i+1:] {
				if b.start.Before(a.last) {
					out = append(out, fmt.Sprintf("hooks: two runs of the handover hook of operation %s (%s) overlap: %s and %s", op, a.workload, a, b))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
