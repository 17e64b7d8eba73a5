package witness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

func readState(t *testing.T, dir string) stateFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode state: %v", err)
	}
	return f
}

func (b *bed) since(cluster, server string) time.Duration {
	b.t.Helper()
	seen, err := b.c.Cluster(context.Background(), cluster)
	if err != nil {
		b.t.Fatalf("Cluster(%s): %v", cluster, err)
	}
	for _, s := range seen.Servers {
		if s.Server == server {
			return s.SinceHeartbeat
		}
	}
	b.t.Fatalf("Cluster(%s) = %+v, no server %s", cluster, seen, server)
	return 0
}

func (b *bed) heartbeat(cluster, server string) {
	b.t.Helper()
	if err := b.c.Heartbeat(context.Background(), cluster, server); err != nil {
		b.t.Fatalf("Heartbeat: %v", err)
	}
}

func TestServer_LastSeenByWitnessClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		b.heartbeat("ecx1", "s1")
		time.Sleep(1500 * time.Millisecond)
		b.heartbeat("ecx1", "s2")
		time.Sleep(700 * time.Millisecond)
		if got := b.since("ecx1", "s1"); got != 2200*time.Millisecond {
			t.Fatalf("s1 since = %s, want 2.2s", got)
		}
		if got := b.since("ecx1", "s2"); got != 700*time.Millisecond {
			t.Fatalf("s2 since = %s, want 700ms", got)
		}
	})
}

// A server heard for the first time, or after HeartbeatSyncGap of silence, is on disk before
// the heartbeat is answered; frequent heartbeats are written in batches every HeartbeatFlush.
func TestServer_HeartbeatPersistence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{HeartbeatFlush: 5 * time.Second, HeartbeatSyncGap: 3 * time.Second})
		b.heartbeat("ecx1", "s1")
		if age, ok := readState(t, b.dir).Clusters["ecx1"]["s1"]; !ok || age != 0 {
			t.Fatalf("first heartbeat not persisted before the answer (age %d, %v)", age, ok)
		}
		time.Sleep(time.Second)
		b.heartbeat("ecx1", "s1") // within the gap: batched
		time.Sleep(time.Second)
		if age := readState(t, b.dir).Clusters["ecx1"]["s1"]; age != 0 {
			t.Fatalf("batched heartbeat written early: state age %d", age)
		}
		time.Sleep(3*time.Second + time.Millisecond) // the flush at 5s writes it
		synctest.Wait()
		if age := readState(t, b.dir).Clusters["ecx1"]["s1"]; age != 4000 {
			t.Fatalf("after the flush the state says %d ms, want 4000 (last heartbeat at 1s, flush at 5s)", age)
		}
		time.Sleep(10 * time.Second)
		b.heartbeat("ecx1", "s1") // after 14s of silence: written at once
		if age := readState(t, b.dir).Clusters["ecx1"]["s1"]; age != 0 {
			t.Fatalf("heartbeat after silence not persisted before the answer: age %d", age)
		}
	})
}

// After a restart a server's age continues from the persisted age minus HeartbeatSyncGap: the
// witness never reports more silence than it observed (its own downtime is not silence).
func TestServer_LastSeenAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{HeartbeatSyncGap: 3 * time.Second})
		b.heartbeat("ecx1", "s1")
		b.heartbeat("ecx1", "s2")
		time.Sleep(8 * time.Second)
		b.heartbeat("ecx1", "s2")
		time.Sleep(2 * time.Second) // s1 silent 10s, s2 silent 2s
		b.restart(-1)
		time.Sleep(time.Hour) // witness downtime is invisible to it; uptime counts
		if got := b.since("ecx1", "s1"); got != 7*time.Second+time.Hour {
			t.Fatalf("s1 since = %s, want 10s - 3s + 1h", got)
		}
		if got := b.since("ecx1", "s2"); got != time.Hour {
			t.Fatalf("s2 since = %s, want 0 + 1h", got)
		}
	})
}
