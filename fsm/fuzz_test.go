package fsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/hashicorp/raft"
)

// FuzzDecodeLogEntry: Decode never panics, and Apply of anything Decode accepts either
// succeeds, returns an *fsm.Error, or panics with the documented "upgrade this master" message
// for a command this binary does not know; the state stays serializable either way.
func FuzzDecodeLogEntry(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(goldenLogDir(), "*.binpb"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(unknownCommand(f, false, ""))
	f.Add(unknownCommand(f, true, "r1"))
	f.Add([]byte{})
	f.Add([]byte{fsm.FormatVersion})
	f.Add([]byte{2, 0x12, 0x01, 'x'})
	base := snapshotBytes(f, oneOfEverything(f))

	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := fsm.Decode(b)
		if err != nil {
			return
		}
		if _, err := fsm.Encode(e); err != nil {
			t.Fatalf("Encode of a decoded entry: %v", err)
		}
		m := fsm.New(nil)
		restore(t, m, base)
		res, p := applyPanic(m, &raft.Log{Index: 1000, Type: raft.LogCommand, Data: b})
		if p != nil {
			msg := fmt.Sprint(p)
			if !strings.Contains(msg, "upgrade this master") || !strings.Contains(msg, "raft index 1000") {
				t.Fatalf("Apply panicked: %s", msg)
			}
			if commandName(e) != "" || e.GetIgnoreIfUnknown() {
				t.Fatalf("Apply panicked on a known or ignorable command %q: %s", commandName(e), msg)
			}
			return
		}
		r, ok := res.(*fsm.Result)
		if !ok {
			t.Fatalf("Apply returned %#v", res)
		}
		var fe *fsm.Error
		if r.Err != nil && (!errors.As(r.Err, &fe) || fe.Msg == "") {
			t.Fatalf("Apply returned %#v, want an *fsm.Error with a message", r.Err)
		}
		var out bytes.Buffer
		if err := m.WriteSnapshot(&out); err != nil {
			t.Fatal(err)
		}
		if _, _, err := fsm.ValidateSnapshot(&out); err != nil {
			t.Fatalf("the state after the entry does not snapshot: %v", err)
		}
	})
}

// FuzzRestoreSnapshot: Restore never panics, agrees with ValidateSnapshot, and what it accepts
// snapshots again into a canonical stream that restores to the same bytes.
func FuzzRestoreSnapshot(f *testing.F) {
	if b, err := os.ReadFile(goldenSnapshotPath()); err == nil {
		f.Add(b)
	}
	full := snapshotBytes(f, oneOfEverything(f))
	f.Add(full)
	f.Add(full[:len(full)/2])
	f.Add([]byte("CSETSNAP"))
	f.Add([]byte("CSETSNAP\x02\x08\x01"))
	f.Add([]byte("garbage"))

	f.Fuzz(func(t *testing.T, b []byte) {
		m := fsm.New(nil)
		err := m.Restore(io.NopCloser(bytes.NewReader(b)))
		_, _, verr := fsm.ValidateSnapshot(bytes.NewReader(b))
		if (err == nil) != (verr == nil) {
			t.Fatalf("Restore: %v, ValidateSnapshot: %v", err, verr)
		}
		if err != nil {
			return
		}
		once := writeSnapshot(t, m)
		again := fsm.New(nil)
		restore(t, again, once)
		if twice := writeSnapshot(t, again); !bytes.Equal(once, twice) {
			t.Fatal("a restored snapshot does not write back the same bytes")
		}
	})
}
