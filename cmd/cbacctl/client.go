package main

import (
	"context"
	"io"

	"cbac/control"
)

// commands is the command list cbacd understands (cbacctl -h).
const commands = control.Usage

func client(ctx context.Context, sock, cmd string, w io.Writer) error {
	return control.Client(ctx, sock, cmd, w)
}
