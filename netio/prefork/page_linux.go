package prefork

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newPageFile makes the memfd for a new worker's page.
func newPageFile() (int, error) {
	fd, err := unix.MemfdCreate("coop-prefork", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("memfd_create", err)
	}
	if err := unix.Ftruncate(fd, int64(pageSize)); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("ftruncate", err)
	}
	return fd, nil
}

// mapPage maps the page file fd.
func mapPage(fd int) (*page, []byte, error) {
	mem, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, os.NewSyscallError("mmap", err)
	}
	if len(mem) < pageSize {
		unix.Munmap(mem)
		return nil, nil, fmt.Errorf("prefork: page mapping of %d bytes, want %d", len(mem), pageSize)
	}
	return (*page)(unsafe.Pointer(&mem[0])), mem, nil
}
