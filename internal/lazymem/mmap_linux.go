package lazymem

import "golang.org/x/sys/unix"

func mmap(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}

func munmap(b []byte) { _ = unix.Munmap(b) }
