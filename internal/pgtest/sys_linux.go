package pgtest

import (
	"os"
	"syscall"
)

// sysProcAttr runs a PostgreSQL program as user as (nil: the current user),
// in its own process group if setpgid, and sends it deathSig when the test
// process dies.
func sysProcAttr(as *runAs, setpgid bool, deathSig syscall.Signal) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: setpgid, Pdeathsig: deathSig}
	if as != nil {
		a.Credential = &syscall.Credential{Uid: as.uid, Gid: as.gid}
	}
	return a
}

// tempBase returns where clusters are made: /dev/shm when it is a tmpfs
// with room (creating a database there takes about 10 ms, on ext4 about
// 200 ms, most of it in the kernel's inode allocator), else the temp dir.
func tempBase() string {
	const shm, need = "/dev/shm", 1 << 30
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err == nil && st.Bsize > 0 && st.Bavail*uint64(st.Bsize) >= need && syscall.Access(shm, 0o7) == nil {
		return shm
	}
	return os.TempDir()
}
