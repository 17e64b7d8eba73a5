package chaos

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var (
	flagAnalyze = flag.String("analyze", "", "history.txt of a failed run: find the shortest non-linearizable window of -key")
	flagKey     = flag.String("key", "", "the workload to analyze")
)

var historyLine = regexp.MustCompile(`^#(\d+) c(\d+) (\S+)\.\.\s*(\S+) (\w+)\((\w+)(?:, (\S+))?\) -> (\S+)(?: (v\d+|absent))? via (.*?) id=`)

// parseHistory reads the operations of one workload back from history.txt. Times have
// millisecond precision, which only widens the intervals: a window that is still not
// linearizable is a real violation.
func parseHistory(path, key string) ([]*opRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	day := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	parse := func(s string) time.Time {
		t, _ := time.Parse("15:04:05.000", s)
		return day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()))
	}
	var out []*opRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := historyLine.FindStringSubmatch(sc.Text())
		if m == nil || m[6] != key {
			continue
		}
		r := &opRecord{kind: m[5], key: m[6], outcome: m[8], via: []string{m[10]}}
		r.id, _ = strconv.Atoi(m[1])
		r.client, _ = strconv.Atoi(m[2])
		r.call = parse(m[3])
		if m[4] != "?" {
			r.ret = parse(m[4]).Add(time.Millisecond - 1) // the whole millisecond
		}
		switch {
		case m[5] == opMove:
		case strings.HasPrefix(m[7], "v"):
			r.version, _ = strconv.Atoi(m[7][1:])
		}
		if r.kind == opGet && r.outcome == outOK {
			r.exists = m[9] != "absent"
			if r.exists {
				r.got, _ = strconv.Atoi(strings.TrimPrefix(m[9], "v"))
			}
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// TestAnalyzeHistory finds, for a failed run, the earliest time T such that the operations
// called before T are already not linearizable, and prints the operations around T.
func TestAnalyzeHistory(t *testing.T) {
	if *flagAnalyze == "" {
		t.Skip("give -analyze history.txt -key NAME")
	}
	recs, err := parseHistory(*flagAnalyze, *flagKey)
	if err != nil {
		t.Fatal(err)
	}
	illegal := func(n int) bool {
		return porcupine.CheckOperationsTimeout(registryModel, porcupineOps(recs[:n]), time.Minute) == porcupine.Illegal
	}
	sortByCall(recs)
	if !illegal(len(recs)) {
		t.Fatalf("%d operations of %s are linearizable", len(recs), *flagKey)
	}
	lo, hi := 1, len(recs)
	for lo < hi {
		mid := (lo + hi) / 2
		if illegal(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	fmt.Printf("the first %d operations of %s (by call time) are not linearizable; the last one and its neighbours:\n", lo, *flagKey)
	for i := max(0, lo-25); i < min(len(recs), lo+5); i++ {
		mark := "  "
		if i == lo-1 {
			mark = "=>"
		}
		fmt.Println(mark, recs[i])
	}
}

func sortByCall(recs []*opRecord) {
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && recs[j].call.Before(recs[j-1].call); j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
}
