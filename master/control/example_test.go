package control_test

import (
	"fmt"
	"os"
	"path/filepath"

	"naught/master/control"
)

// A daemon answering status requests, and a CLI asking for the status.
func Example() {
	dir, err := os.MkdirTemp("", "nctl")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "naught.ipc")

	// The daemon. OnRequest would normally forward the request to the
	// daemon's event loop, which answers with a broadcast.
	var srv *control.Server
	srv, err = control.Listen(control.ServerOptions{
		Path:  path,
		Group: -1,
		OnRequest: func(req control.Request) {
			if req.Action == control.ActionStatus {
				srv.Broadcast(control.Event{Event: control.EventStatus, Count: &control.Counts{Online: 2}})
			}
		},
		Logf: func(format string, args ...any) { fmt.Printf("daemon: "+format+"\n", args...) },
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	// The CLI.
	c, err := control.Dial(path)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Send(control.Request{Action: control.ActionStatus}); err != nil {
		panic(err)
	}
	ev, err := c.Next()
	if err != nil {
		panic(err)
	}
	fmt.Println(ev)
	// Output:
	// Status. booting: 0, online: 2, dying: 0, new_online: 0
}
