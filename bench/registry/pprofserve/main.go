// Command pprofserve runs the registry handler over the disk store in one
// process with net/http/pprof on a second address, for CPU profiles of the
// loads of bench/registry/run.sh:
//
//	pprofserve -root DIR -addr 127.0.0.1:PORT -pprof 127.0.0.1:PORT2
//	go tool pprof -top http://127.0.0.1:PORT2/debug/pprof/profile?seconds=10
//
// It is gantry serve without the request log and the Prometheus metrics
// (their middleware is internal to internal/cli): a profile of the real
// binary, with them, comes from perf (run.sh's PROFILE=1).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store/disk"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pprofserve:", err)
		os.Exit(1)
	}
}

func run() error {
	root := flag.String("root", "", "store directory")
	addr := flag.String("addr", "127.0.0.1:0", "registry address")
	paddr := flag.String("pprof", "127.0.0.1:0", "pprof address")
	flag.Parse()
	if *root == "" {
		return fmt.Errorf("-root is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := disk.Open(*root, disk.Options{})
	if err != nil {
		return err
	}
	defer store.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	servers := []*http.Server{
		{Handler: registry.New(store, registry.Options{}), ReadHeaderTimeout: 30 * time.Second},
		{Handler: mux, ReadHeaderTimeout: 30 * time.Second},
	}
	errc := make(chan error, 2)
	for i, a := range []string{*addr, *paddr} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		slog.Info("listening", "addr", ln.Addr().String(), "what", []string{"registry", "pprof"}[i])
		go func() { errc <- servers[i].Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	return nil
}
