package notify_test

import (
	"flag"
	"os"
	"testing"

	"github.com/cset-project/cset/fsm"
)

// Every test of the package (not a benchmark: -bench turns it off) checks that no reader changes the state the FSM publishes (Data is
// shared, read-only): each publication is compared with a deep copy of the state.
func TestMain(m *testing.M) {
	flag.Parse()
	fsm.VerifyPublished(flag.Lookup("test.bench").Value.String() == "")
	os.Exit(m.Run())
}
