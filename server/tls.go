package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/cset-project/cset/pki"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// setupTLS prepares the TLS configurations of the API, the Raft transport and the connections
// to other masters from -tls-cert, -tls-key and -tls-ca.
func (s *Server) setupTLS() error {
	t := s.cfg.TLS
	if !t.Enabled() {
		return nil
	}
	api, err := pki.APIServerConfig(t.Cert, t.Key, t.CA, t.VerifyClients)
	if err != nil {
		return fmt.Errorf("TLS of the gRPC API: %w", err)
	}
	peerServer, err := pki.PeerServerConfig(t.Cert, t.Key, t.CA)
	if err != nil {
		return fmt.Errorf("TLS of the Raft transport: %w", err)
	}
	peerClient, err := pki.PeerClientConfig(t.Cert, t.Key, t.CA)
	if err != nil {
		return fmt.Errorf("TLS towards other masters: %w", err)
	}
	s.apiTLS, s.raftTLS, s.peerTLS = api, peerServer, peerClient
	return nil
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS: both ends present a master certificate
// of the deployment's CA, so a master without one can neither receive entries nor ask for votes.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

func newTLSStreamLayer(bind string, advertise net.Addr, server, client *tls.Config) (*tlsStreamLayer, error) {
	l, err := tls.Listen("tcp", bind, server)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = l.Addr()
	}
	if ta, ok := advertise.(*net.TCPAddr); !ok || ta.IP.IsUnspecified() {
		l.Close()
		return nil, fmt.Errorf("raft address %v is not advertisable", advertise)
	}
	return &tlsStreamLayer{Listener: l, advertise: advertise, client: client}, nil
}

// Dial connects to another master's Raft port and completes the TLS handshake.
func (l *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: l.client.Clone()}
	return d.Dial("tcp", string(address))
}

// Addr is the advertised address.
func (l *tlsStreamLayer) Addr() net.Addr { return l.advertise }

func newTLSTransport(bind string, advertise net.Addr, server, client *tls.Config, logger hclog.Logger) (*raft.NetworkTransport, error) {
	sl, err := newTLSStreamLayer(bind, advertise, server, client)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithLogger(sl, 3, 10*time.Second, logger), nil
}
