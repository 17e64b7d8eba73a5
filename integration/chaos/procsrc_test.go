package chaos

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pidTable maps the pids of running processes to endpoint names ("m1", ...), so a proxy can
// tell which master opened a connection. All masters dial from 127.0.0.1 with ephemeral
// ports, so the only way to tell them apart on one host is the socket's owner: the proxy looks
// the client port up in /proc/net/tcp and the socket's inode in /proc/PID/fd of each known
// process (Linux only; elsewhere every initiator is unknown and only whole-endpoint faults
// apply).
type pidTable struct {
	mu   sync.Mutex
	pids map[int]string
}

func newPIDTable() *pidTable { return &pidTable{pids: map[int]string{}} }

func (t *pidTable) set(pid int, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, n := range t.pids {
		if n == name {
			delete(t.pids, p)
		}
	}
	if pid > 0 {
		t.pids[pid] = name
	}
}

func (t *pidTable) snapshot() map[int]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int]string, len(t.pids))
	for p, n := range t.pids {
		out[p] = n
	}
	return out
}

// identify returns the endpoint that owns the client side of a connection accepted from
// remote, or "" and the reason when none of the known processes owns it. A few retries cover a socket that
// /proc lists a moment late.
func (t *pidTable) identify(remote net.Addr) (string, string) {
	ta, ok := remote.(*net.TCPAddr)
	if !ok {
		return "", "not TCP"
	}
	why := ""
	for range 3 {
		inode := socketInode(ta.Port)
		if inode == "" {
			why = "no socket with that local port in /proc/net/tcp"
		} else {
			want := "socket:[" + inode + "]"
			snap := t.snapshot()
			for pid, name := range snap {
				if ownsSocket(pid, want) {
					return name, ""
				}
			}
			why = fmt.Sprintf("inode %s owned by none of %v but by %s", inode, snap, anyOwner(want))
		}
		time.Sleep(5 * time.Millisecond) // /proc catching up with accept, not test convergence
	}
	return "", why
}

// socketInode finds the inode of the IPv4 TCP socket whose local port is port.
func socketInode(port int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	suffix := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || !strings.HasSuffix(fields[1], suffix) {
			continue
		}
		if fields[9] != "0" {
			return fields[9]
		}
	}
	return ""
}

func ownsSocket(pid int, want string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == want {
			return true
		}
	}
	return false
}

// anyOwner names the process that owns a socket, for the report of a failed identification.
func anyOwner(want string) string {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if ownsSocket(pid, want) {
			cmd, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
			c := strings.ReplaceAll(string(cmd), "\x00", " ")
			if len(c) > 80 {
				c = c[:80]
			}
			return fmt.Sprintf("pid %d (%s)", pid, c)
		}
	}
	return "no process"
}
