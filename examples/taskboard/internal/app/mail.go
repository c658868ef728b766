package app

import (
	"context"
	"log/slog"
	"sync"
)

// Mail is one message to one address.
type Mail struct {
	To, Subject, Body string
}

// Mailer sends mail: the links that prove a person owns an address go through it. A deployment
// plugs in its mail service; the demo and the tests use an Outbox.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Outbox is a Mailer that sends nothing: it writes each message to the server's log, where
// whoever runs the demo finds the links, and keeps the latest for tests. Never to an HTTP
// answer, which would hand the link to whoever typed the address.
type Outbox struct {
	log  *slog.Logger
	mu   sync.Mutex
	sent []Mail
}

// outboxKeep bounds the messages an Outbox remembers.
const outboxKeep = 100

// NewOutbox returns an Outbox that logs to log (slog.Default() if nil).
func NewOutbox(log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{log: log}
}

// Send logs the message and keeps it.
func (o *Outbox) Send(ctx context.Context, m Mail) error {
	o.log.InfoContext(ctx, "mail (outbox: not sent)", "to", m.To, "subject", m.Subject, "body", m.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	if len(o.sent) > outboxKeep {
		o.sent = o.sent[len(o.sent)-outboxKeep:]
	}
	return nil
}

// Sent returns the messages kept, oldest first.
func (o *Outbox) Sent() []Mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Mail(nil), o.sent...)
}
