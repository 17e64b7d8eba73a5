package core

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/proctest"
)

var (
	bulkWorkloads = flag.Int("core.bulk-workloads", 10000, "workloads declared by BenchmarkBulk")
	bulkProfile   = flag.Duration("core.bulk-profile", 5*time.Second, "length of the leader's CPU profile from the start of BenchmarkBulk's first apply (with -core.profile-dir)")
	csetctl       = proctest.NewBinary("./cmd/csetctl")
)

// BenchmarkBulk measures the bulk paths of the CLI against a three-master set, each step a real
// csetctl process against the leader: `apply -f` of a file declaring -core.bulk-workloads
// workloads over 10 members (one Raft entry), a re-apply of the same file (the plan finds
// nothing to change and commits nothing), and `workload list -o json` of all of them (the
// listing read, encoded and printed). Goals (issue 19): apply ≤ 3 s and list ≤ 300 ms for 10,000.
func BenchmarkBulk(b *testing.B) {
	c := newCluster(b, nil)
	leader := c.waitLeader(c.masters)
	ctl := csetctl.Path(b)
	dir := b.TempDir()
	file := filepath.Join(dir, "bulk.yaml")
	var y strings.Builder
	y.WriteString("set: {name: bench, zone: cset.bench.}\nmembers:\n")
	const members = 10
	for m := range members {
		// Port 1 on loopback refuses at once: the members are down, which changes nothing here.
		fmt.Fprintf(&y, "  - {name: m%d, servers: [{name: m%d-1, url: \"http://127.0.0.1:1\"}]}\n", m, m)
	}
	y.WriteString("workloads:\n")
	for i := range *bulkWorkloads {
		fmt.Fprintf(&y, "  - {name: w%05d, group: g%05d, candidates: [m%d, m%d], desired: offline, addresses: {m%d: [10.%d.%d.%d]}}\n",
			i, i, i%members, (i+1)%members, i%members, i%members, i/250%250, i%250+1)
	}
	if err := os.WriteFile(file, []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(args ...string) (time.Duration, []byte) {
		b.Helper()
		cmd := exec.Command(ctl, append([]string{"--addr", leader.addrs.GRPC, "--timeout", "5m"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("csetctl %s: %v\n%s", strings.Join(args, " "), err, errb.Bytes())
		}
		return d, out.Bytes()
	}
	b.ResetTimer()
	var apply, reapply, list time.Duration
	for range b.N {
		var prof sync.WaitGroup
		if *profileDir != "" {
			// The profile covers the first apply (and what follows of it, if it is quicker): the
			// benchmark waits for it, so the masters are not stopped under it.
			prof.Go(func() {
				leaderProfile(b, leader, *bulkProfile, filepath.Join(*profileDir, "BenchmarkBulk-apply.pprof"))
			})
		}
		apply, _ = run("apply", "-f", file)
		reapply, _ = run("apply", "-f", file)
		var out []byte
		list, out = run("workload", "list", "-o", "json")
		var ws []json.RawMessage
		if err := json.Unmarshal(out, &ws); err != nil || len(ws) != *bulkWorkloads {
			b.Fatalf("workload list -o json: %d workloads, err %v; want %d", len(ws), err, *bulkWorkloads)
		}
		b.ReportMetric(float64(len(out)), "list-bytes")
		prof.Wait()
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(apply), "apply-ms")
	b.ReportMetric(ms(reapply), "reapply-ms")
	b.ReportMetric(ms(list), "list-ms")
}
