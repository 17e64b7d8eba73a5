// Package proctest runs real processes for tests, in the manner of etcd's end-to-end test
// framework: it builds a main package of this module once per test binary, starts it with
// arguments, environment and working directory, waits for the ready file the program writes,
// signals it (SIGKILL, SIGTERM, SIGSTOP, SIGCONT), waits for its exit, and keeps its output in
// a log whose tail goes into failure messages. Import it only from _test.go files; a package
// that uses it runs its tests through Main.
package proctest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// The directory of the binaries built by this test binary: created by the first build,
// removed when Main returns.
var (
	dirMu  sync.Mutex
	inMain bool
	binDir string
)

// Tests runs the tests of a package: a *testing.M, or a wrapper whose Run prepares something
// between the build of the binaries and the tests.
type Tests interface{ Run() int }

// Main runs the tests of m and removes the binaries built meanwhile; call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(proctest.Main(m, csetd)) }
//
// Unless -short is set it first builds prebuild, so that a package whose every test needs them
// fails once, with the compiler's output, rather than in each test. Under -short it builds
// nothing: the tests that start processes skip.
func Main(m Tests, prebuild ...*Binary) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	dirMu.Lock()
	inMain = true
	dirMu.Unlock()
	defer func() {
		dirMu.Lock()
		defer dirMu.Unlock()
		if binDir != "" {
			os.RemoveAll(binDir)
		}
		binDir, inMain = "", false
	}()
	if !testing.Short() {
		for _, b := range prebuild {
			if _, err := b.Build(); err != nil {
				fmt.Fprintln(os.Stderr, "proctest:", err)
				return 1
			}
		}
	}
	return m.Run()
}

// A Binary is a main package of this module, built at most once per test binary.
type Binary struct {
	pkg string

	mu    sync.Mutex
	built bool
	path  string
	err   error
}

// NewBinary returns the binary of pkg, a package path relative to the module root such as
// "./cmd/csetd". Nothing is built until Build or Path.
func NewBinary(pkg string) *Binary { return &Binary{pkg: pkg} }

// Build builds the binary on its first call and returns its path, or the build's error (then
// and on every later call: a compile error does not go away by retrying).
func (b *Binary) Build() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.built {
		b.path, b.err = build(b.pkg)
		b.built = true
	}
	return b.path, b.err
}

// Path is Build that fails the test when the binary does not build.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	p, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Built reports whether the binary has been built successfully; it is false under -short for
// a binary that Main was given to prebuild.
func (b *Binary) Built() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.built && b.err == nil
}

// build compiles pkg with the go command of the toolchain running the test, from the module
// root, into a directory of its own under binDir: the binary keeps the package's name, which
// is what ps and the log headers show.
func build(pkg string) (string, error) {
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	sub, err := os.MkdirTemp(dir, "bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(sub, path.Base(pkg))
	cmd := exec.Command(goCommand(), "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

func buildDir() (string, error) {
	dirMu.Lock()
	defer dirMu.Unlock()
	if !inMain {
		// Without Main nobody would remove the binaries.
		return "", errors.New("proctest: build outside proctest.Main: call it from TestMain")
	}
	if binDir == "" {
		d, err := os.MkdirTemp("", "cset-proctest-bin-")
		if err != nil {
			return "", err
		}
		binDir = d
	}
	return binDir, nil
}

// moduleRoot is the nearest directory above the working directory (the package under test)
// that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("proctest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// goCommand prefers the go command of the toolchain that built the test, so a binary is built
// by the same Go version as the test that runs it; "go" from PATH otherwise.
func goCommand() string {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		return "go"
	}
	return gobin
}
