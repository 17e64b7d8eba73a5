package guard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// MastersConfig configures a MastersClient.
type MastersConfig struct {
	// Addrs are the gRPC addresses (host:port) of the masters; any of them forwards the heartbeat
	// to the leader. They are tried in turn, starting with the last one that answered.
	Addrs []string
	// Token is sent as "authorization: Bearer <token>" (a token with role guard) when not empty.
	Token string
	// Creds are the transport credentials (TLS); nil is plaintext.
	Creds credentials.TransportCredentials
}

// MastersClient sends guard heartbeats to the masters over the public gRPC API. It satisfies
// Masters and is safe for concurrent use.
type MastersClient struct {
	addrs []string
	conns []*grpc.ClientConn
	token string
	next  atomic.Int32 // index of the master that answered last
	once  sync.Once
}

// NewMastersClient checks cfg and creates one lazy connection per master; it does not dial.
func NewMastersClient(cfg MastersConfig) (*MastersClient, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("guard: no master address")
	}
	creds := cfg.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	m := &MastersClient{addrs: append([]string(nil), cfg.Addrs...), token: cfg.Token}
	for _, a := range cfg.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			m.Close()
			return nil, fmt.Errorf("guard: master address %q is not host:port: %w", a, err)
		}
		cc, err := grpc.NewClient(a, grpc.WithTransportCredentials(creds))
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("guard: master %s: %w", a, err)
		}
		m.conns = append(m.conns, cc)
	}
	return m, nil
}

// Heartbeat sends one GuardHeartbeat, trying each master in turn within ctx (each try gets an
// equal share of what is left of it). It returns the managed groups when a leader acknowledged.
func (m *MastersClient) Heartbeat(ctx context.Context, cluster, server string, known []string) ([]string, error) {
	if m.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+m.token)
	}
	first := int(m.next.Load())
	var errs []error
	for k := range len(m.conns) {
		i := (first + k) % len(m.conns)
		tctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			tctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(m.conns)-k))
		}
		resp, err := apiv1.NewClusterSetServiceClient(m.conns[i]).GuardHeartbeat(tctx, &apiv1.GuardHeartbeatRequest{Cluster: cluster, Server: server, KnownGroups: known})
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", m.addrs[i], err))
		case !resp.GetAcknowledged():
			errs = append(errs, fmt.Errorf("%s: not acknowledged", m.addrs[i]))
		default:
			m.next.Store(int32(i))
			return resp.GetGroups(), nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Close closes the connections.
func (m *MastersClient) Close() error {
	m.once.Do(func() {
		for _, cc := range m.conns {
			cc.Close()
		}
	})
	return nil
}
