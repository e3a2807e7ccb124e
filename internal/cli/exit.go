package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"os/signal"
	"sync"
)

// Interrupted is the cause of a context that NotifyContext canceled: the
// signal received. Main turns it into exit status 128+N (130 for SIGINT).
type Interrupted struct{ Signal os.Signal }

// Error implements error.
func (i Interrupted) Error() string { return i.Signal.String() + " received" }

// NotifyContext returns a context canceled, with cause Interrupted, by the
// first of signals. The command running then stops and cleans up (closes
// its stores, removes temporary files) before Main returns. Once the first
// signal has come, SIGINT gets its default action back, so a second
// Ctrl-C ends a clean-up that hangs; a repeated SIGTERM is ignored, as
// service managers and test harnesses may send it more than once while a
// server drains its requests.
func NotifyContext(parent context.Context, signals ...os.Signal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, signals...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Reset(os.Interrupt)
			cancel(Interrupted{Signal: s})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// errorHint says what to do about an error whose cause the command that
// failed cannot know better than Main: a registry's TLS certificate that
// does not verify, or a registry that speaks plain HTTP, reached by any
// command that takes --insecure.
func errorHint(err error) string {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname), errors.As(err, &invalid):
		return " (the registry's TLS certificate does not verify: give --ca-file with the CA that signed it, add that CA to the system's trust store, or give --insecure to skip verification)"
	case errors.As(err, &record):
		return " (the registry does not speak TLS: give --insecure to reach it over plain HTTP)"
	}
	return ""
}
