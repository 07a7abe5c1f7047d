// Package smaps reads this process's memory mappings from
// /proc/self/smaps, for tests that check how the kernel backs a slab
// (huge pages, lazily committed memory).
package smaps

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mapping is what smaps says of one mapping, in kB.
type Mapping struct {
	Rss           int
	AnonHugePages int
}

// Find returns the mapping that holds address a, and whether one does.
func Find(a uintptr) (Mapping, bool, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return Mapping{}, false, err
	}
	defer f.Close()
	var m Mapping
	in, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			if found {
				break // the mapping after ours
			}
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(a) >= l && uint64(a) < h
			found = in
			continue
		}
		if !in || len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "Rss:":
			m.Rss, err = strconv.Atoi(fields[1])
		case "AnonHugePages:":
			m.AnonHugePages, err = strconv.Atoi(fields[1])
		}
		if err != nil {
			return Mapping{}, false, fmt.Errorf("smaps: %q: %w", sc.Text(), err)
		}
	}
	if err := sc.Err(); err != nil {
		return Mapping{}, false, err
	}
	return m, found, nil
}
