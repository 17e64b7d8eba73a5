//go:build !linux

package dnsserver

import "net"

func (s *Server) serveUDP(c *net.UDPConn) { s.serveUDPSimple(c) }
