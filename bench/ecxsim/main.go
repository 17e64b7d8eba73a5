// Command ecxsim-scale measures the ecxsim binary at scale: it generates a configuration of N
// clusters x S servers x G groups, starts the simulator as a child process with a witness served by
// this program, and reports the start time, resident memory, open file descriptors, heartbeat rate
// and REST latency under load.
//
//	go run ./bench/ecxsim                       # 1,000 clusters x 2 servers x 10 groups
//	go run ./bench/ecxsim -clusters 200 -steady 5s
//
// Run it from the repository root (it builds ./cmd/ecxsim unless -bin is given). Linux only: it
// reads /proc.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	clusters, servers, groups int
	steady                    time.Duration
	bin                       string
	auto, witness             bool
}

func main() {
	var o options
	flag.IntVar(&o.clusters, "clusters", 1000, "number of clusters")
	flag.IntVar(&o.servers, "servers", 2, "servers per cluster")
	flag.IntVar(&o.groups, "groups", 10, "groups per cluster")
	flag.DurationVar(&o.steady, "steady", 10*time.Second, "how long to run with heartbeats before the final measurement")
	flag.StringVar(&o.bin, "bin", "", "ecxsim binary (default: go build ./cmd/ecxsim into a temporary directory)")
	flag.BoolVar(&o.auto, "auto", false, "use listen: auto (127.0.X.Y:29009) instead of 127.0.0.1:0")
	flag.BoolVar(&o.witness, "witness", true, "serve a witness and make every server heartbeat to it every second")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ecxsim-scale:", err)
		os.Exit(1)
	}
}

// witness counts heartbeats.
type witness struct {
	beats atomic.Int64
	url   string
	srv   *http.Server
}

func startWitness() (*witness, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &witness{url: "http://" + ln.Addr().String()}
	w.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.beats.Add(1)
		rw.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = w.srv.Serve(ln) }()
	return w, nil
}

func writeConfig(path string, o options, witnessURL string) error {
	var b bytes.Buffer
	b.WriteString("clusters:\n")
	listen := "127.0.0.1:0"
	if o.auto {
		listen = "auto"
	}
	for c := range o.clusters {
		fmt.Fprintf(&b, "  - name: c%04d\n    user: admin\n    password: secret\n    heartbeat_timeout: 5s\n    heartbeat_interval: 1s\n", c)
		if witnessURL != "" {
			fmt.Fprintf(&b, "    witness_url: %s\n    witness_token: bench\n", witnessURL)
		}
		b.WriteString("    servers:\n")
		for s := range o.servers {
			fmt.Fprintf(&b, "      - {name: c%04d-s%d, listen: %q}\n", c, s+1, listen)
		}
		b.WriteString("    groups:\n")
		for g := range o.groups {
			fmt.Fprintf(&b, "      - {name: app%02d, start_duration: 200ms, stop_duration: 100ms}\n", g)
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

type readyFile struct {
	PID        int                          `json:"pid"`
	ControlURL string                       `json:"control_url"`
	Servers    map[string]map[string]string `json:"servers"`
}

// procStats reads resident memory (current and peak, KiB), threads and open descriptors.
func procStats(pid int) (rss, hwm, threads, fds int, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "VmHWM:":
			hwm = n
		case "Threads:":
			threads = n
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return rss, hwm, threads, len(ents), err
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "ecxsim-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin == "" {
		o.bin = filepath.Join(dir, "ecxsim")
		build := exec.Command("go", "build", "-o", o.bin, "./cmd/ecxsim")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build ecxsim (run from the repository root): %w", err)
		}
	}
	var w *witness
	witnessURL := ""
	if o.witness {
		if w, err = startWitness(); err != nil {
			return err
		}
		defer w.srv.Close()
		witnessURL = w.url
	}
	cfgPath, readyPath := filepath.Join(dir, "scale.yaml"), filepath.Join(dir, "ready.json")
	if err := writeConfig(cfgPath, o, witnessURL); err != nil {
		return err
	}
	fmt.Printf("config: %d clusters x %d servers x %d groups, witness=%v, listen auto=%v\n", o.clusters, o.servers, o.groups, o.witness, o.auto)

	t0 := time.Now()
	cmd := exec.Command(o.bin, "-config", cfgPath, "-control", "127.0.0.1:0", "-ready-file", readyPath, "-log-level", "warn")
	cmd.Stdout = io.Discard
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	var rf readyFile
	for {
		if data, err := os.ReadFile(readyPath); err == nil && json.Unmarshal(data, &rf) == nil {
			break
		}
		if time.Since(t0) > 2*time.Minute {
			return fmt.Errorf("not ready after 2 minutes; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	startup := time.Since(t0)
	rss, hwm, threads, fds, err := procStats(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("ready after %s: RSS %.1f MiB (peak %.1f MiB), %d threads, %d open fds\n", startup.Round(time.Millisecond), float64(rss)/1024, float64(hwm)/1024, threads, fds)

	urls := serverURLs(rf)
	lat, errs := loadREST(urls, o)
	fmt.Printf("REST under load: %d requests (a GET /api/v1/groups and a group start per cluster), %d errors, latency p50 %s p99 %s max %s\n",
		len(lat), errs, pct(lat, 50), pct(lat, 99), pct(lat, 100))

	var base int64
	if w != nil {
		base = w.beats.Load()
	}
	time.Sleep(o.steady)
	if w != nil {
		rate := float64(w.beats.Load()-base) / o.steady.Seconds()
		fmt.Printf("witness heartbeats: %.0f/s (expected about %d/s)\n", rate, o.clusters*o.servers)
	}
	rss, hwm, threads, fds, err = procStats(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("after %s steady state: RSS %.1f MiB (peak %.1f MiB), %d threads, %d open fds\n", o.steady, float64(rss)/1024, float64(hwm)/1024, threads, fds)

	t1 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	err = cmd.Wait()
	fmt.Printf("SIGTERM: exited in %s, %v\n", time.Since(t1).Round(time.Millisecond), exitText(err))
	if hwm > 500*1024 {
		return fmt.Errorf("peak RSS %.1f MiB exceeds the 500 MiB budget", float64(hwm)/1024)
	}
	return nil
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "exit status " + strconv.Itoa(ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}

// serverURLs returns the first server URL of every cluster, in cluster order.
func serverURLs(rf readyFile) []string {
	names := make([]string, 0, len(rf.Servers))
	for c := range rf.Servers {
		names = append(names, c)
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, c := range names {
		servers := make([]string, 0, len(rf.Servers[c]))
		for s := range rf.Servers[c] {
			servers = append(servers, s)
		}
		sort.Strings(servers)
		out = append(out, rf.Servers[c][servers[0]])
	}
	return out
}

// loadREST sends, from 32 workers, a GET /api/v1/groups and a group start to every cluster.
func loadREST(urls []string, o options) ([]time.Duration, int) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	jobs := make(chan string)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range jobs {
				for _, req := range []*http.Request{
					mustRequest(http.MethodGet, u+"/api/v1/groups", ""),
					mustRequest(http.MethodPost, u+"/api/v1/groups/app00/start", ""),
				} {
					start := time.Now()
					resp, err := client.Do(req)
					d := time.Since(start)
					ok := err == nil && resp.StatusCode == http.StatusOK
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					mu.Lock()
					lat = append(lat, d)
					if !ok {
						errs++
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, u := range urls {
		jobs <- u
	}
	close(jobs)
	wg.Wait()
	return lat, errs
}

func mustRequest(method, url, body string) *http.Request {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.SetBasicAuth("admin", "secret")
	return req
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(time.Microsecond)
}
