// Package hooks holds no Go code: it ships two example handover hooks as POSIX shell scripts,
// copy-from-backup.sh and http-notify.sh, documented in README.md, and the tests that run them
// with a fake cset environment. See DESIGN.md section 5 ("Act", phase handover).
package hooks
