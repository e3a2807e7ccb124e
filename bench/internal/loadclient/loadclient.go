// Package loadclient holds what the benchmarks' load clients share: a
// check that they only ever talk to loopback, and an HTTP client tuned for
// many sequential requests to one server.
package loadclient

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Loopback checks that base is http://127.0.0.1:PORT (or [::1]) and
// returns it parsed: load loops send traffic to this machine only.
func Loopback(base string) (*url.URL, error) {
	return checked(base, net.IP.IsLoopback, "http://127.0.0.1:PORT")
}

// Private checks that base is an http URL of a loopback or private
// address (a network namespace the bench made) and returns it parsed.
func Private(base string) (*url.URL, error) {
	return checked(base, func(ip net.IP) bool { return ip.IsLoopback() || ip.IsPrivate() },
		"http://IP:PORT with a loopback or private IP")
}

func checked(base string, ok func(net.IP) bool, want string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme != "http" || ip == nil || !ok(ip) {
		return nil, fmt.Errorf("%s: want %s", base, want)
	}
	return u, nil
}

// New returns a client keeping idle connections to the server (so a loop
// measures requests, not connects), without transparent compression, and
// with a whole-request timeout.
func New(idle int, timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = idle
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: timeout}
}
