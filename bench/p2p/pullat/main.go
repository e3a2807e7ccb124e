// Command pullat is the pull of bench/p2p/run.sh inside one node: started
// before T0, it GETs the image's manifest if asked to (-before, as
// containerd does before it asks for a layer), sleeps until T0, GETs one
// blob, reads it to its end and prints one line,
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
	before := flag.String("before", "", "a URL to GET, untimed, before T0 (the manifest naming the blob)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: pullat [-at UNIX_NS] [-timeout D] [-before URL] URL")
		os.Exit(2)
	}
	for _, u := range []string{flag.Arg(0), *before} {
		if u == "" {
			continue
		}
		if _, err := loadclient.Private(u); err != nil {
			fmt.Fprintln(os.Stderr, "pullat:", err)
			os.Exit(2)
		}
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
	if *before != "" {
		// A failure here fails the pull: the blob's own GET would then
		// show what gantry does without a manifest, not what was meant.
		breq, err := http.NewRequest(http.MethodGet, *before, nil)
		if err == nil {
			var status int
			if status, _, err = pull(client, breq); err == nil && status != http.StatusOK {
				err = fmt.Errorf("HTTP %d", status)
			}
		}
		if err != nil {
			fmt.Printf("0 0 000 0 GET %s before T0: %v\n", *before, err)
			return
		}
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
