// Package integration holds multi-process tests of cset: they build csetd and csetctl once,
// start real masters on loopback with ports chosen by the kernel (read back from each master's
// -ready-file), and drive them only through the public gRPC API, the HTTP health endpoint and
// csetctl, as an operator would. They cover joins, writes through a follower, kill -9 of the
// leader, a full restart on the same data directories, and snapshot save and restore.
//
// The package has no code outside its tests. The tests are skipped under -short; run them with
// `make test-integration` or `go test -count=1 ./integration/`.
package integration
