//go:build !linux

package pgtest

import (
	"os"
	"syscall"
)

// sysProcAttr is a no-op outside Linux: no parent-death signal, and the
// cluster runs as the current user (which must not be root).
func sysProcAttr(as *runAs, setpgid bool, deathSig syscall.Signal) *syscall.SysProcAttr {
	return nil
}

// tempBase returns where clusters are made.
func tempBase() string { return os.TempDir() }
