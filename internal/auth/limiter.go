package auth

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failLimiter counts failed logins per client address and refuses
// addresses that failed too often. Its map is bounded: when full, it
// forgets the addresses whose allowance has refilled, and failing that, an
// arbitrary half (an attacker spraying addresses then only wins back
// guesses for some of them, and each of those costs it a bcrypt compare).
type failLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	byIP map[string]*rate.Limiter
}

func newFailLimiter(limit rate.Limit, burst, max int) *failLimiter {
	return &failLimiter{limit: limit, burst: burst, max: max, byIP: map[string]*rate.Limiter{}}
}

// clientKey is the limiter's key of a remote address: the IP, or its /64
// for IPv6, where one host commonly holds the whole prefix.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// blocked returns how long the address must wait before its next login
// attempt counts, or 0 when it may try now.
func (l *failLimiter) blocked(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.byIP[key]
	if lim == nil || lim.TokensAt(now) >= 1 {
		return 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return max(d, time.Second)
}

// fail records a failed login of the address.
func (l *failLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.byIP[key]
	if lim == nil {
		if len(l.byIP) >= l.max {
			l.evict(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byIP[key] = lim
	}
	lim.AllowN(now, 1)
}

// evict makes room in the map; l.mu is held.
func (l *failLimiter) evict(now time.Time) {
	for k, lim := range l.byIP {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.byIP, k)
		}
	}
	for k := range l.byIP {
		if len(l.byIP) < l.max/2+1 {
			break
		}
		delete(l.byIP, k)
	}
}

func (l *failLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byIP)
}
