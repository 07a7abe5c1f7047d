package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"cbac/dataplane"
	"cbac/internal/sdnotify"
	"cbac/internal/version"
)

// Running under systemd (Type=notify, examples/cbacd.service): READY=1
// once every worker has run a batch, RELOADING=1 and READY=1 around each
// reload, STOPPING=1 when shutdown begins. Outside systemd these send
// nothing.

// notifyReady sends READY=1 once the workers run: each has taken a
// control request between two of its batches.
func notifyReady(ctx context.Context, dp *dataplane.Dataplane, log *slog.Logger) {
	for !dp.Running() {
		if ctx.Err() != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	for i := range dp.Workers {
		dp.Do(i, func(*dataplane.Worker) {})
	}
	if ctx.Err() != nil {
		return
	}
	if err := sdnotify.Ready(); err != nil {
		log.Warn("sd_notify READY=1: " + err.Error())
	}
}

// notifyReload wraps a reload in RELOADING=1 ... READY=1 (READY=1 also
// after a failed reload: the old configuration keeps running).
func notifyReload(reload func() error, log *slog.Logger) func() error {
	return func() error {
		if err := sdnotify.Reloading(); err != nil {
			log.Warn("sd_notify RELOADING=1: " + err.Error())
		}
		err := reload()
		if err != nil {
			sdnotify.Status("reload failed, old configuration kept: " + err.Error())
		} else {
			sdnotify.Status("configuration reloaded")
		}
		if err := sdnotify.Ready(); err != nil {
			log.Warn("sd_notify READY=1: " + err.Error())
		}
		return err
	}
}

// versionMain prints the build: module version, VCS revision and Go version.
func versionMain() {
	fmt.Println("cbacd", version.Read())
}
