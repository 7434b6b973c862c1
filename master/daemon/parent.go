package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"naught/master/control"
	"naught/master/nodeipc"
)

// ParentChannel is the IPC channel of the Node.js process that started
// naught, if any (NODE_CHANNEL_FD in naught's own environment): naught
// sends it every event, as the original's daemon did (SPEC §5). The daemon
// uses it in the foreground; in daemon mode the starting CLI relays to it.
type ParentChannel struct{ ch *nodeipc.Channel }

// parentEvent is the exact shape SPEC §5 prescribes.
type parentEvent struct {
	Event      string          `json:"event"`
	Count      *control.Counts `json:"count"`
	WaitingFor *string         `json:"waitingFor"`
}

// OpenParentChannel opens NODE_CHANNEL_FD, or returns nil when naught has
// no Node.js parent.
func OpenParentChannel() (*ParentChannel, error) {
	v := os.Getenv("NODE_CHANNEL_FD")
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("NODE_CHANNEL_FD=%q is not a descriptor", v)
	}
	ch, err := nodeipc.Open(os.NewFile(uintptr(fd), "node-parent"), nodeipc.Options{})
	if err != nil {
		return nil, fmt.Errorf("unable to open the Node.js parent's channel: %w", err)
	}
	return &ParentChannel{ch: ch}, nil
}

// Send relays ev; IpcListening goes alone, as {"event":"IpcListening"}.
func (p *ParentChannel) Send(ev control.Event) {
	var msg any = parentEvent{Event: ev.Event, Count: ev.Count, WaitingFor: ev.WaitingFor}
	if ev.Event == control.EventIpcListening {
		msg = json.RawMessage(`{"event":"IpcListening"}`)
	}
	_ = p.ch.Send(msg) // a parent that went away is not the daemon's problem
}

// flushTimeout bounds how long Close waits for the last events to reach a
// parent that has stopped reading.
const flushTimeout = 2 * time.Second

// Close delivers the events still queued (at most flushTimeout), then
// closes the channel.
func (p *ParentChannel) Close() error {
	_ = p.ch.Flush(flushTimeout) // a parent that stopped reading loses the rest
	return p.ch.Close()
}
