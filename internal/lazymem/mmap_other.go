//go:build !linux

package lazymem

import "errors"

func mmap(int) ([]byte, error) { return nil, errors.ErrUnsupported }

func munmap([]byte) {}
