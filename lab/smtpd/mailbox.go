package smtpd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Message is one accepted mail: the envelope and the data exactly as the
// client sent it after dot-unstuffing (RFC 5321 4.5.2), without the
// terminating ".<CRLF>".
type Message struct {
	ID       string   // queue id given in the 250 reply to DATA
	Remote   string   // client address
	Helo     string   // argument of the last HELO/EHLO
	AuthUser string   // user name of a successful AUTH, "" if none
	From     string   // MAIL FROM:<...> reverse path, without brackets
	To       []string // RCPT TO:<...> forward paths, without brackets
	Data     []byte
	Received time.Time
}

// Mailbox keeps accepted messages and the command lines the server saw,
// both bounded: the oldest entries go first. Safe for concurrent use.
type Mailbox struct {
	// Dir, when set before the server runs, also receives every message as
	// NNNNNN.eml (the data bytes) and NNNNNN.env (the envelope).
	Dir string

	maxMessages int
	maxBytes    int64
	maxCommands int

	mu       sync.Mutex
	messages []Message // guarded by mu; oldest first
	bytes    int64     // guarded by mu; sum of len(Data) over messages
	commands []string  // guarded by mu; oldest first
	dropped  int       // guarded by mu; commands dropped from the log
	seq      int       // guarded by mu; messages ever accepted
	changed  chan struct{}
}

// Default bounds of NewMailbox(0, 0).
const (
	DefaultMaxMessages = 1000
	DefaultMaxBytes    = 256 << 20
	DefaultMaxCommands = 10000
)

// NewMailbox returns an empty mailbox keeping at most maxMessages messages
// and maxBytes bytes of data (0: the defaults).
func NewMailbox(maxMessages int, maxBytes int64) *Mailbox {
	if maxMessages <= 0 {
		maxMessages = DefaultMaxMessages
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Mailbox{
		maxMessages: maxMessages,
		maxBytes:    maxBytes,
		maxCommands: DefaultMaxCommands,
		changed:     make(chan struct{}),
	}
}

// deliver stores m under a new queue id, evicting the oldest messages past the bounds, and
// writes it to Dir if set.
func (mb *Mailbox) deliver(m Message) (id string, err error) {
	mb.mu.Lock()
	mb.seq++
	n := mb.seq
	m.ID = fmt.Sprintf("%06d", n)
	mb.messages = append(mb.messages, m)
	mb.bytes += int64(len(m.Data))
	for len(mb.messages) > 1 && (len(mb.messages) > mb.maxMessages || mb.bytes > mb.maxBytes) {
		mb.bytes -= int64(len(mb.messages[0].Data))
		mb.messages[0] = Message{}
		mb.messages = mb.messages[1:]
	}
	mb.notifyLocked()
	dir := mb.Dir
	mb.mu.Unlock()

	if dir == "" {
		return m.ID, nil
	}
	env := fmt.Sprintf("Remote: %s\nHelo: %s\nAuth: %s\nFrom: <%s>\nTo: <%s>\nReceived: %s\n",
		m.Remote, m.Helo, m.AuthUser, m.From, strings.Join(m.To, ">, <"), m.Received.Format(time.RFC3339Nano))
	base := filepath.Join(dir, m.ID)
	if err := os.WriteFile(base+".eml", m.Data, 0o644); err != nil {
		return m.ID, fmt.Errorf("store message %s: %w", m.ID, err)
	}
	if err := os.WriteFile(base+".env", []byte(env), 0o644); err != nil {
		return m.ID, fmt.Errorf("store envelope %s: %w", m.ID, err)
	}
	return m.ID, nil
}

// logCommand records one command line as received (without CRLF).
func (mb *Mailbox) logCommand(line string) {
	mb.mu.Lock()
	mb.commands = append(mb.commands, line)
	if len(mb.commands) > mb.maxCommands {
		drop := len(mb.commands) - mb.maxCommands
		mb.commands = append(mb.commands[:0], mb.commands[drop:]...)
		mb.dropped += drop
	}
	mb.notifyLocked()
	mb.mu.Unlock()
}

// notifyLocked wakes every Wait.
func (mb *Mailbox) notifyLocked() {
	close(mb.changed)
	mb.changed = make(chan struct{})
}

// Messages returns a copy of the stored messages, oldest first.
func (mb *Mailbox) Messages() []Message {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	out := make([]Message, len(mb.messages))
	for i, m := range mb.messages {
		m.To = append([]string(nil), m.To...)
		m.Data = append([]byte(nil), m.Data...)
		out[i] = m
	}
	return out
}

// Commands returns a copy of the command log: every line received outside
// message data, including AUTH responses, as received (without the line
// end; over-long lines cut at the server's limit), oldest first.
func (mb *Mailbox) Commands() []string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]string(nil), mb.commands...)
}

// Reset empties the mailbox and the command log.
func (mb *Mailbox) Reset() {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.messages, mb.commands, mb.bytes, mb.dropped = nil, nil, 0, 0
	mb.notifyLocked()
}

// Wait blocks until cond holds for the mailbox (checked now and after every
// change) or ctx ends. cond runs with the mailbox locked and must not call
// its methods; it gets the messages and the command log.
func (mb *Mailbox) Wait(ctx context.Context, cond func(msgs []Message, cmds []string) bool) error {
	for {
		mb.mu.Lock()
		ok := cond(mb.messages, mb.commands)
		ch := mb.changed
		mb.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// WaitMessages waits until at least n messages are stored and returns them.
func (mb *Mailbox) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	err := mb.Wait(ctx, func(msgs []Message, _ []string) bool { return len(msgs) >= n })
	return mb.Messages(), err
}
