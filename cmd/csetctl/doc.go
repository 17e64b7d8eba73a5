// Command csetctl is the command-line client of a cset cluster set.
//
// It talks gRPC to any master (csetd agent) through the public API in
// proto/cset/api/v1 and imports nothing else of this module. Every command
// prints a table for people by default and a stable, documented JSON document
// with -o json (see docs/cli.md). Exit codes: 0 success, 1 an error reported
// by the server or the environment, 2 a usage error.
//
// The command tree is built afresh for every invocation by run, which takes
// its arguments, streams and environment as parameters, so tests drive the
// real tree in-process.
package main
