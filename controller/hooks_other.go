//go:build !unix

package controller

import (
	"context"
	"os/exec"
)

// hookCommand runs the hook; where process groups do not exist only the hook itself is killed
// on cancellation.
func hookCommand(ctx context.Context, hook string) *exec.Cmd {
	return exec.CommandContext(ctx, hook)
}
