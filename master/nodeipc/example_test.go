package nodeipc_test

import (
	"encoding/json"
	"log"
	"os"
	"os/exec"

	"naught/master/listeners"
	"naught/master/nodeipc"
)

// Spawning one cluster worker whose server.listen() is answered from a
// shared registry, then retiring it (NODE-IPC.md §3).
func Example() {
	reg := listeners.NewRegistry()
	defer reg.Close()

	parentEnd, childEnd, err := nodeipc.Socketpair()
	if err != nil {
		log.Fatal(err)
	}
	online := make(chan struct{}, 1)
	ch, err := nodeipc.Open(parentEnd, nodeipc.Options{
		OnMessage: func(msg json.RawMessage) {
			if string(msg) == `"online"` {
				online <- struct{}{}
			}
		},
		OnClose:   func(err error) { log.Printf("worker channel closed: %v", err) },
		Listeners: reg,
		Logf:      log.Printf,
	})
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command("node", "server.js")
	cmd.Env = append(os.Environ(), "NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json", "NODE_UNIQUE_ID=1")
	cmd.ExtraFiles = []*os.File{childEnd}
	err = cmd.Start()
	_ = childEnd.Close() // P2: otherwise the channel never sees EOF
	if err != nil {
		_ = ch.Close()
		log.Fatal(err)
	}
	<-online

	// Retire: "shutdown" for naught's protocol, then the cluster disconnect
	// act (never a bare Close, P12); the worker drains and closes the channel.
	_ = ch.Send("shutdown")
	_ = ch.Disconnect()
	<-ch.Done()
	_ = cmd.Wait() // a real master also arms a kill timeout here
}
