//go:build !unix

package controller

import (
	"context"
	"os/exec"
)

// hookCommand runs the hook; where process groups do not exist only the hook itself is killed
// on cancellation, and the deadline file is not used.
func hookCommand(ctx context.Context, hook, _ string) *exec.Cmd {
	return exec.CommandContext(ctx, hook)
}
