// Command pullat is the pull of bench/p2p/run.sh inside one node: started
// before T0, it sleeps until T0, GETs one blob, reads it to its end and
// prints one line,
//
//	END_NS START_NS STATUS BYTES [ERROR]
//
// its stamps in Unix nanoseconds (the clock bash's EPOCHREALTIME reads).
// A node's containerd is running when its pull starts; a curl exec'd at T0
// is not. With 32 nodes on two cores, 32 curls and their subshells started
// at once took about 0.8 s of CPU, and the median pull reached its agent
// 0.8 s after T0 (0.05 s with two nodes).
//
// The URL must name a loopback or private address: the bench's traffic
// stays in the namespaces it made.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gantry-dev/gantry/bench/internal/loadclient"
)

func main() {
	at := flag.Int64("at", 0, "T0 in Unix nanoseconds (0: now)")
	timeout := flag.Duration("timeout", 10*time.Minute, "bound on the whole pull")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: pullat [-at UNIX_NS] [-timeout D] URL")
		os.Exit(2)
	}
	if _, err := loadclient.Private(flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "pullat:", err)
		os.Exit(2)
	}
	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{DisableCompression: true, Proxy: nil},
	}
	req, err := http.NewRequest(http.MethodGet, flag.Arg(0), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pullat:", err)
		os.Exit(2)
	}
	if *at > 0 {
		time.Sleep(time.Until(time.Unix(0, *at)))
	}
	start := time.Now()
	status, n, err := pull(client, req)
	end := time.Now()
	line := fmt.Sprintf("%d %d %03d %d", end.UnixNano(), start.UnixNano(), status, n)
	if err != nil {
		line += " " + err.Error()
	}
	fmt.Println(line)
}

// pull sends req and reads its answer's body to the end.
func pull(client *http.Client, req *http.Request) (status int, n int64, err error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n, err
}
