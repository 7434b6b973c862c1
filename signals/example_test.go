package signals_test

import (
	"context"
	"log"
	"os"

	"golang.org/x/sys/unix"

	"naught/reaper"
	"naught/signals"
)

// daemon stands for naught's master loop: each method only posts an event.
type daemon struct {
	events chan string
	pgids  func() []int // the process groups of the current workers
}

func (d *daemon) Deploy()     { d.events <- "deploy" }
func (d *daemon) Stop()       { d.events <- "stop" }
func (d *daemon) ReopenLogs() { d.events <- "reopen-logs" }
func (d *daemon) Forward(sig os.Signal) {
	if err := signals.ForwardToGroups(sig.(unix.Signal), d.pgids()); err != nil {
		log.Print(err)
	}
}

// The daemon's wiring: one Loop, driving the one Reaper; workers are
// started only once the Loop is Ready. (Not run as a test: it would
// subscribe the test process to every signal.)
func ExampleLoop() {
	r := reaper.New()
	d := &daemon{events: make(chan string, 16), pgids: func() []int { return nil }}
	ready := make(chan struct{})
	l := &signals.Loop{
		Handler: d,
		Reap:    r.Reap,
		Logf:    log.Printf,
		Ready:   func() { close(ready) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := l.Run(ctx); err != nil {
			log.Fatal(err)
		}
	}()
	<-ready
	// ... start workers through r.Start, serve d.events ...
}
