// Package controller is the leader-only loop of docs/design.md, "The controller": it observes every member
// through ecxclient, decides placements with scheduler, and acts on ECX under the witness fence,
// committing every phase of every operation to Raft before its action.
package controller
