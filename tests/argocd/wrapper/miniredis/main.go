// A disposable in-memory Redis for Argo CD's cache (github.com/alicebob/miniredis/v2, already
// in Argo CD's module graph): `miniredis --addr 127.0.0.1:PORT` serves until SIGTERM/SIGINT;
// `miniredis --version` prints the miniredis module version it was built from.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alicebob/miniredis/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "address to listen on")
	showVersion := flag.Bool("version", false, "print the miniredis module version and exit")
	flag.Parse()
	if *showVersion {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, dep := range info.Deps {
				if dep.Path == "github.com/alicebob/miniredis/v2" {
					fmt.Printf("miniredis %s\n", dep.Version)
					return
				}
			}
		}
		fmt.Println("miniredis (unknown version)")
		return
	}
	server := miniredis.NewMiniRedis()
	if err := server.StartAddr(*addr); err != nil {
		fmt.Fprintf(os.Stderr, "miniredis: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("miniredis listening on %s\n", server.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
}
