// Command ready is the smallest program proctest's tests build: it writes its pid to the file
// named by -ready-file and runs until SIGTERM, on which it exits 0.
package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ready := flag.String("ready-file", "", "where to write the pid once running")
	flag.Parse()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	b, _ := json.Marshal(map[string]int{"pid": os.Getpid()})
	if err := os.WriteFile(*ready, b, 0o644); err != nil {
		os.Exit(1)
	}
	<-term
}
