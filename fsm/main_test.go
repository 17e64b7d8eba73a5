package fsm_test

import (
	"flag"
	"os"
	"testing"

	"github.com/cset-project/cset/fsm"
)

// Every test of the package (not a benchmark: -bench turns it off) checks each publication of the state against a deep copy.
func TestMain(m *testing.M) {
	flag.Parse()
	fsm.VerifyPublished(flag.Lookup("test.bench").Value.String() == "")
	os.Exit(m.Run())
}
