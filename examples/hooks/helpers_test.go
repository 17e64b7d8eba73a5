package hooks_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// hookEnv is the environment cset gives a hook during a planned move of web from east to west.
func hookEnv(op string) map[string]string {
	return map[string]string{
		"CSET_WORKLOAD": "web", "CSET_GROUP": "failover-web", "CSET_OPERATION": op, "CSET_REASON": "planned",
		"CSET_FROM_MEMBER": "east", "CSET_FROM_SERVER": "east-1", "CSET_TO_MEMBER": "west", "CSET_TO_SERVER": "west-2",
	}
}

// result is one run of a hook script.
type result struct {
	exit   int
	output string // stdout and stderr, as cset records them
}

// script returns the absolute path of an example hook, skipping the test when sh is missing.
func script(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skipf("the example hooks are POSIX sh scripts and sh is not on PATH: %v", err)
	}
	p, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runHook runs a hook as cset does (the file itself, so its #! line and execute bit count) with
// only PATH, TMPDIR and env in its environment.
func runHook(t *testing.T, path string, env map[string]string) result {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return result{0, out.String()}
	case errors.As(err, &exit):
		return result{exit.ExitCode(), out.String()}
	default:
		t.Fatalf("run %s: %v", path, err)
		return result{}
	}
}

// tree describes every entry under root except the names in skip: kind, permission bits and
// the content of files or the target of symlinks.
func tree(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s {
				return nil
			}
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link -> " + target
		case info.IsDir():
			if rel != "." {
				out[rel] = fmt.Sprintf("dir %v", info.Mode().Perm())
			}
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %v %q", info.Mode().Perm(), b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not subject to the umask
		t.Fatal(err)
	}
}

func TestHooks_AreExecutableShellScripts(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"copy-from-backup.sh", "http-notify.sh"} {
		p := script(t, name)
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("%s has mode %v: cset runs hooks directly, so it must be executable", name, info.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("#!/bin/sh\n")) || !bytes.Contains(b, []byte("\nset -eu\n")) {
			t.Errorf("%s must start with #!/bin/sh and run with set -eu", name)
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", name, err, out)
		}
	}
}
