package main

import (
	"context"
	"fmt"
	"io"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/go-hclog"
)

// startDev prints what to try against a -dev master.
func startDev(_ context.Context, srv *server.Server, cfg config.Config, logger hclog.Logger, stdout io.Writer) error {
	a := srv.Addrs()
	logger.Warn("dev mode: one master, temporary data, no TLS and no authentication on loopback")
	fmt.Fprintf(stdout, `
cset dev master %q is running.
  gRPC API  %s     (csetctl --addr %s status)
  HTTP      %s     (curl http://%s/v1/health)
Try:
  csetctl status
  csetctl set init dev --zone cset.test.
Stop with Ctrl-C; the data directory is temporary.
`, a.NodeID, a.GRPC, a.GRPC, a.HTTP, a.HTTP)
	return nil
}
