// Command hammer sends N requests of one kind with C connections at once
// and prints requests per second and the 50th and 99th percentile latency,
// for the authenticated request-rate benchmark (bench/auth/run.sh) on
// machines without wrk or ab:
//
//	hammer -method HEAD -url URL [-header 'Authorization: Basic ...'] [-accept TYPE] [-n 2000] [-c 16]
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	method := flag.String("method", "HEAD", "HTTP method")
	url := flag.String("url", "", "URL to request")
	header := flag.String("header", "", "one header, 'Name: value'")
	accept := flag.String("accept", "application/vnd.oci.image.manifest.v1+json", "the Accept header")
	n := flag.Int("n", 2000, "requests in all")
	c := flag.Int("c", 16, "requests at once")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "hammer: -url is required")
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c}}
	var next atomic.Int64
	lat := make([]time.Duration, *n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				req, _ := http.NewRequest(*method, *url, nil)
				req.Header.Set("Accept", *accept)
				if name, value, ok := strings.Cut(*header, ": "); ok {
					req.Header.Set(name, value)
				}
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					failed.Add(1)
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	slices.Sort(lat)
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "hammer: %d of %d requests failed\n", f, *n)
		os.Exit(1)
	}
	fmt.Printf("%.0f req/s p50 %.2f ms p99 %.2f ms\n", float64(*n)/took.Seconds(),
		float64(lat[len(lat)/2].Microseconds())/1000, float64(lat[len(lat)*99/100].Microseconds())/1000)
}
