package dataplane_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cbac/dataplane"
)

// Do reaches a running worker through its mailbox; when the worker
// goroutines stop, a Do waiting for one returns false instead of hanging,
// its fn never runs (not even if the workers run again), and later calls
// return false at once.
func TestDoStopped(t *testing.T) {
	h := newHarness(t, compile(t, seedSmall(t)))
	dp := h.dp
	// Driven by the caller: fn runs at once.
	ran := 0
	if !dp.Do(0, func(*dataplane.Worker) { ran++ }) || ran != 1 {
		t.Fatalf("driven dataplane: Do ran fn %d times", ran)
	}

	var stopWorker atomic.Bool
	var wg sync.WaitGroup
	runWorker := func() {
		stopWorker.Store(false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for now := int64(time.Hour); !stopWorker.Load(); now += int64(time.Millisecond) {
				h.w.Step(now)
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	dp.SetRunning(true)
	runWorker()
	if !dp.Do(0, func(*dataplane.Worker) { ran++ }) || ran != 2 {
		t.Fatalf("running worker: Do ran fn %d times in all, want 2", ran)
	}

	// The worker goroutine exits; the dataplane says so a little later,
	// as XDP.Run does after its goroutines have returned.
	stopWorker.Store(true)
	wg.Wait()
	var late atomic.Int32
	result := make(chan bool, 1)
	go func() { result <- dp.Do(0, func(*dataplane.Worker) { late.Add(1) }) }()
	select {
	case ok := <-result:
		t.Fatalf("Do returned %v before the dataplane stopped, with no worker running", ok)
	case <-time.After(50 * time.Millisecond):
	}
	if dp.Stopped() {
		t.Fatal("Stopped before SetRunning(false)")
	}
	dp.SetRunning(false)
	select {
	case ok := <-result:
		if ok {
			t.Error("Do reported true for a worker that had stopped")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do still waiting 10 s after the dataplane stopped")
	}
	if !dp.Stopped() {
		t.Error("not Stopped after SetRunning(false)")
	}
	if dp.Do(0, func(*dataplane.Worker) { late.Add(1) }) {
		t.Error("Do after the stop reported true")
	}
	// Running again, the worker empties its mailbox: the abandoned request
	// must not run then.
	dp.SetRunning(true)
	runWorker()
	if !dp.Do(0, func(*dataplane.Worker) { ran++ }) || ran != 3 {
		t.Errorf("after a restart: Do ran fn %d times in all, want 3", ran)
	}
	stopWorker.Store(true)
	wg.Wait()
	dp.SetRunning(false)
	if n := late.Load(); n != 0 {
		t.Errorf("an abandoned fn ran %d times", n)
	}
}
