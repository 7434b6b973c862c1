package control

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"
)

func ptr[T any](v T) *T { return &v }

// countingWriter records each Write call separately.
type countingWriter struct{ writes [][]byte }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// splitFrame returns the announced length and the body of one frame.
func splitFrame(t *testing.T, frame []byte) (int, []byte) {
	t.Helper()
	head, body, ok := bytes.Cut(frame, []byte("\n"))
	if !ok {
		t.Fatalf("no length line in %q", frame)
	}
	n, err := strconv.Atoi(string(head))
	if err != nil {
		t.Fatalf("length line %q: %v", head, err)
	}
	return n, body
}

func TestWriteMessageASCIIAndUTF16Length(t *testing.T) {
	ev := Event{
		Event:      EventError,
		Count:      &Counts{Booting: 1, Online: 2, Dying: 3, NewOnline: 4},
		WaitingFor: ptr(WaitingForNew),
		Message:    "café 😀 <&> \u2028",
	}
	var w countingWriter
	if err := WriteMessage(&w, ev); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 1 {
		t.Fatalf("WriteMessage made %d Write calls, want 1", len(w.writes))
	}
	n, body := splitFrame(t, w.writes[0])
	for i, b := range body {
		if b >= 0x80 {
			t.Fatalf("non-ASCII byte %#x at %d in %s", b, i, body)
		}
	}
	if n != len(body) {
		t.Errorf("length line says %d, body is %d bytes", n, len(body))
	}
	if u := len(utf16.Encode([]rune(string(body)))); u != n {
		t.Errorf("UTF-16 length %d != announced length %d", u, n)
	}
	for _, want := range []string{`caf\u00e9`, `\ud83d\ude00`, `<&>`, `\u2028`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("body %s lacks %s", body, want)
		}
	}
	want := `{"event":"Error","count":{"booting":1,"online":2,"dying":3,"new_online":4},"waitingFor":"new","message":"caf\u00e9 \ud83d\ude00 <&> \u2028"}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}

	var got Event
	if err := ReadMessage(bufio.NewReader(bytes.NewReader(w.writes[0])), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Errorf("round trip: got %+v, want %+v", got, ev)
	}
}

func TestEventJSONShape(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{Event{Event: EventReady, Count: &Counts{Online: 2}},
			`{"event":"Ready","count":{"booting":0,"online":2,"dying":0,"new_online":0},"waitingFor":null}`},
		{Event{Event: EventIpcListening}, `{"event":"IpcListening","waitingFor":null}`},
		{Event{Event: EventStatus, Count: &Counts{}, Workers: []WorkerStatus{{Number: 0, Pid: 42, State: "online"}}},
			`{"event":"Status","count":{"booting":0,"online":0,"dying":0,"new_online":0},"waitingFor":null,"workers":[{"number":0,"pid":42,"state":"online","restarts":0}]}`},
		{Request{Action: ActionStatus}, `{"action":"NaughtStatus","timeout":null}`},
		{Request{Action: ActionShutdown, Timeout: ptr(1.5)}, `{"action":"NaughtShutdown","timeout":1.5}`},
		{Request{Action: ActionDeploy, NewWorkerCount: 3, Environment: map[string]string{"A": "b"}, Cwd: "/srv"},
			`{"action":"NaughtDeploy","newWorkerCount":3,"environment":{"A":"b"},"timeout":null,"cwd":"/srv"}`},
	}
	for _, c := range cases {
		var w countingWriter
		if err := WriteMessage(&w, c.v); err != nil {
			t.Fatal(err)
		}
		if _, body := splitFrame(t, w.writes[0]); string(body) != c.want {
			t.Errorf("got  %s\nwant %s", body, c.want)
		}
	}
}

func TestEventString(t *testing.T) {
	ev := Event{Event: EventReady, Count: &Counts{Booting: 1, Online: 2, Dying: 3, NewOnline: 4}}
	if got, want := ev.String(), "Ready. booting: 1, online: 2, dying: 3, new_online: 4"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (Event{Event: EventError}).String(), "Error. Unknown"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadTwoMessagesFromOneBuffer(t *testing.T) {
	var buf bytes.Buffer
	reqs := []Request{{Action: ActionStatus}, {Action: ActionShutdown, Timeout: ptr(2.0)}}
	for _, r := range reqs {
		if err := WriteMessage(&buf, r); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(&buf)
	for i, want := range reqs {
		var got Request
		if err := ReadMessage(br, &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d: got %+v, want %+v", i, got, want)
		}
	}
	var extra Request
	if err := ReadMessage(br, &extra); err != io.EOF {
		t.Errorf("after the last message: got %v, want io.EOF", err)
	}
}

func TestReadMessageSplitAcrossReads(t *testing.T) {
	var buf bytes.Buffer
	want := Event{Event: EventStatus, Count: &Counts{Online: 1}, Message: "héllo wörld"}
	if err := WriteMessage(&buf, want); err != nil {
		t.Fatal(err)
	}
	// One byte per Read; then a pipe fed in three pieces, the first of
	// them cutting the length line.
	var got Event
	if err := ReadMessage(bufio.NewReader(iotest.OneByteReader(bytes.NewReader(buf.Bytes()))), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	pr, pw := io.Pipe()
	frame := buf.Bytes()
	go func() {
		_, _ = pw.Write(frame[:1])
		_, _ = pw.Write(frame[1 : len(frame)/2])
		_, _ = pw.Write(frame[len(frame)/2:])
		_ = pw.Close()
	}()
	got = Event{}
	if err := ReadMessage(bufio.NewReader(pr), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// malformed inputs, each with the error ReadMessage must report.
var malformed = []struct {
	name  string
	input string
	want  error
}{
	{"letters", "abc\n{}", ErrBadLength},
	{"negative", "-1\n{}", ErrBadLength},
	{"empty length line", "\n{}", ErrBadLength},
	{"space", "2 \n{}", ErrBadLength},
	{"endless zeros", strings.Repeat("0", 100) + "2\n{}", ErrBadLength},
	{"too large", strconv.Itoa(MaxMessageSize+1) + "\n", ErrTooLarge},
	{"huge", "99999999999999999999999\n", ErrTooLarge},
	{"truncated body", "10\n{\"a\":", io.ErrUnexpectedEOF},
	{"truncated length", "12", io.ErrUnexpectedEOF},
	{"invalid JSON", "3\n{x}", ErrBadJSON},
	{"zero length", "0\n", ErrBadJSON},
	{"wrong type", `15` + "\n" + `{"action":true}`, ErrBadJSON},
}

func TestReadMessageMalformed(t *testing.T) {
	for _, c := range malformed {
		t.Run(c.name, func(t *testing.T) {
			var req Request
			err := ReadMessage(bufio.NewReader(strings.NewReader(c.input)), &req)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, c.want)
			}
			for _, other := range []error{ErrBadLength, ErrTooLarge, io.ErrUnexpectedEOF, ErrBadJSON} {
				if other != c.want && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
		})
	}
}

func TestReadMessageMaxSizeAccepted(t *testing.T) {
	body := `{"action":"` + strings.Repeat("x", MaxMessageSize-len(`{"action":""}`)) + `"}`
	input := strconv.Itoa(len(body)) + "\n" + body
	var req Request
	if err := ReadMessage(bufio.NewReader(strings.NewReader(input)), &req); err != nil {
		t.Fatalf("a message of exactly MaxMessageSize bytes: %v", err)
	}
	if len(req.Action) != MaxMessageSize-len(`{"action":""}`) {
		t.Errorf("action has %d bytes", len(req.Action))
	}
}
