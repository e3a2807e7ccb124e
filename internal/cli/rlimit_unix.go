//go:build unix

package cli

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft limit on open descriptors to the hard
// limit: each connection of gantry serve holds one, and an upload one more
// while bytes flow, so the usual soft limit of 1024 is what a crowd of
// clients (or a slow one, many times) exhausts first: accept then fails
// and even /v2/ stops answering. The Go runtime raises it too at start on
// some systems; doing it here makes it explicit and logged.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Debug("reading the descriptor limit", "err", err)
		return
	}
	if lim.Cur >= lim.Max {
		log.Debug("descriptor limit", "soft", lim.Cur, "hard", lim.Max)
		return
	}
	was := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Debug("raising the descriptor limit", "soft", was, "hard", lim.Max, "err", err)
		return
	}
	log.Debug("raised the descriptor limit", "from", was, "to", lim.Cur)
}
