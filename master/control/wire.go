package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxMessageSize is the largest JSON text, in bytes, that [ReadMessage]
// accepts. Real messages are a few hundred bytes; the limit only stops a
// broken or hostile peer from making the daemon allocate without bound.
const MaxMessageSize = 1 << 20

// maxLengthLine bounds the length line (digits, leading zeros included), so a
// peer sending endless zeros cannot keep a reader busy forever.
const maxLengthLine = 16

// Errors returned (wrapped) by [ReadMessage]. A truncated message wraps
// [io.ErrUnexpectedEOF] instead.
var (
	// ErrBadLength means the length line is not a decimal number.
	ErrBadLength = errors.New("length line is not a decimal number")
	// ErrTooLarge means the announced length exceeds MaxMessageSize.
	ErrTooLarge = errors.New("message too large")
	// ErrBadJSON means the message body is not valid JSON for the target.
	ErrBadJSON = errors.New("invalid JSON")
)

// Counts are the number of workers in each state.
type Counts struct {
	Booting   int `json:"booting"`
	Online    int `json:"online"`
	Dying     int `json:"dying"`
	NewOnline int `json:"new_online"`
}

// String formats c the way naught prints counts:
// "booting: B, online: O, dying: D, new_online: N".
func (c Counts) String() string {
	return fmt.Sprintf("booting: %d, online: %d, dying: %d, new_online: %d",
		c.Booting, c.Online, c.Dying, c.NewOnline)
}

// WorkerStatus describes one worker in a Status event.
type WorkerStatus struct {
	Number             int     `json:"number"`
	Pid                int     `json:"pid"`
	State              string  `json:"state"`
	Restarts           int     `json:"restarts"`
	NextRestartSeconds float64 `json:"nextRestartSeconds,omitempty"`
}

// Event is what the daemon sends to clients, for example
//
//	{"event":"Ready","count":{"booting":0,"online":2,"dying":0,"new_online":0},"waitingFor":null}
//
// WaitingFor is always present (null, "new", "old" or "shutdown"); Count is
// absent when nil; Message (Error events) and Workers (Status events) are
// absent when empty.
type Event struct {
	Event      string         `json:"event"`
	Count      *Counts        `json:"count,omitempty"`
	WaitingFor *string        `json:"waitingFor"`
	Message    string         `json:"message,omitempty"`
	Workers    []WorkerStatus `json:"workers,omitempty"`
}

// String formats ev the way naught logs and the CLI prints events:
// "<Event>. booting: B, online: O, dying: D, new_online: N", with
// "Unknown" in place of the counts when ev carries none.
func (ev Event) String() string {
	if ev.Count == nil {
		return ev.Event + ". Unknown"
	}
	return ev.Event + ". " + ev.Count.String()
}

// Request is what clients send. Action is one of the Action constants;
// the other fields matter for NaughtDeploy (all) and NaughtShutdown
// (Timeout). Timeout is in seconds, nil meaning none; it is always sent,
// as null when nil.
type Request struct {
	Action         string            `json:"action"`
	NewWorkerCount int               `json:"newWorkerCount,omitempty"`
	Environment    map[string]string `json:"environment,omitempty"`
	Timeout        *float64          `json:"timeout"`
	Cwd            string            `json:"cwd,omitempty"`
}

// encode returns v as one framed message: the decimal length of its ASCII
// JSON encoding, "\n", the JSON. Non-ASCII runes are escaped as \uXXXX
// (surrogate pairs above the BMP). HTML characters are not escaped, as in
// JavaScript's JSON.stringify.
func encode(v any) ([]byte, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	js := asciiJSON(bytes.TrimSuffix(body.Bytes(), []byte("\n")))
	msg := make([]byte, 0, len(js)+8)
	msg = strconv.AppendInt(msg, int64(len(js)), 10)
	msg = append(msg, '\n')
	return append(msg, js...), nil
}

// asciiJSON escapes every non-ASCII rune of js, which must be the output of
// encoding/json (valid UTF-8, non-ASCII bytes only inside strings, where
// \uXXXX escapes are legal).
func asciiJSON(js []byte) []byte {
	ascii := true
	for _, b := range js {
		if b >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return js
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(js)+len(js)/2)
	escape := func(u rune) {
		out = append(out, '\\', 'u', hex[u>>12&0xf], hex[u>>8&0xf], hex[u>>4&0xf], hex[u&0xf])
	}
	for i := 0; i < len(js); {
		if js[i] < utf8.RuneSelf {
			out = append(out, js[i])
			i++
			continue
		}
		r, size := utf8.DecodeRune(js[i:])
		i += size
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			escape(r1)
			escape(r2)
		} else {
			// Inside the BMP (encoding/json has already replaced
			// invalid UTF-8 with U+FFFD).
			escape(r)
		}
	}
	return out
}

// WriteMessage writes v to w as one framed message, its JSON as ASCII, in a
// single Write call, so messages written concurrently by different
// goroutines to a socket never interleave. See [ReadMessage] for the
// framing.
func WriteMessage(w io.Writer, v any) error {
	msg, err := encode(v)
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// ReadMessage reads one framed message from r and decodes its JSON into v.
//
// It returns io.EOF itself (not wrapped) when r ends cleanly before a
// message starts. Otherwise errors are wrapped and distinguishable with
// errors.Is: [ErrBadLength] (the length line is not a decimal number),
// [ErrTooLarge] (the length exceeds [MaxMessageSize]; detected before
// reading the body), [io.ErrUnexpectedEOF] (the stream ends inside a
// message) and [ErrBadJSON]. After an error the stream is out of sync and
// should be closed.
func ReadMessage(r *bufio.Reader, v any) error {
	n, err := readLength(r)
	if err != nil {
		return err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read message body (%d bytes): %w", n, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode message: %w: %w", ErrBadJSON, err)
	}
	return nil
}

// readLength reads the length line, one byte at a time so that it never
// reads past MaxMessageSize's digits whatever the peer sends.
func readLength(r *bufio.Reader) (int, error) {
	n := 0
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if i == 0 {
					return 0, io.EOF
				}
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("read message length: %w", err)
		}
		switch {
		case b == '\n' && i > 0:
			if n > MaxMessageSize {
				return 0, fmt.Errorf("message length %d exceeds %d: %w", n, MaxMessageSize, ErrTooLarge)
			}
			return n, nil
		case b < '0' || b > '9':
			return 0, fmt.Errorf("read message length: byte %q at offset %d: %w", b, i, ErrBadLength)
		case i >= maxLengthLine:
			return 0, fmt.Errorf("read message length: longer than %d digits: %w", maxLengthLine, ErrBadLength)
		}
		// n <= MaxMessageSize here, so n*10+9 cannot overflow.
		n = n*10 + int(b-'0')
		if n > MaxMessageSize {
			return 0, fmt.Errorf("message length exceeds %d: %w", MaxMessageSize, ErrTooLarge)
		}
	}
}
