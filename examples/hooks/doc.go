// Package hooks holds no Go code: it ships two example handover hooks as POSIX shell scripts,
// copy-from-backup.sh and http-notify.sh, documented in README.md, and the tests that run them
// with a fake cset environment. See docs/design.md, "The controller" (phase handover).
package hooks
