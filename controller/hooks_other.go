//go:build !unix

package controller

import "os/exec"

// ownProcessGroup is a no-op where process groups do not exist: only the hook itself is killed.
func ownProcessGroup(*exec.Cmd) {}
