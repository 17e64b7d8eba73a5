//go:build !windows

package main

import (
	"context"
	"errors"
	"io"
)

// platformServiceManager: only Windows has one csetd drives; Linux uses systemd units.
func platformServiceManager() serviceManager { return nil }

func runAsService(context.Context, string, []string, io.Writer, io.Writer) error {
	return errors.New("csetd service run is for the Windows service manager: on Linux run the systemd units (docs/deployment.md)")
}
