package main

import (
	"context"
	"io"

	"cbac/control"
)

func client(ctx context.Context, sock, cmd string, w io.Writer) error {
	return control.Client(ctx, sock, cmd, w)
}
