// Package pki creates and loads the certificates of a cset deployment: one private CA, a
// certificate per master (server and client use, organizational unit MasterOU) and a
// certificate per API client (organizational unit ClientOU). ECDSA P-256 keys, crypto/x509 only.
//
// Masters trust each other by CA and unit, not by host name: any certificate with unit MasterOU
// signed by the deployment's CA is a master (Raft peers and forwarding masters dial addresses
// that may not be in a certificate). API clients verify the master's host name as usual.
package pki
