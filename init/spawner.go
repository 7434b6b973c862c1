package pid1

import (
	"runtime"
	"sync"
)

// ThreadSpawner runs every start function on one dedicated OS thread that is
// locked (runtime.LockOSThread) and never exits, so Pdeathsig set on children
// started from it means "when the naught process dies".
//
// The kernel sends a child its parent-death signal when the *thread* that
// forked it exits, not the process (golang/go#27505). The Go runtime ends a
// thread when a goroutine that locked it returns without unlocking it, and a
// child started from an ordinary goroutine may have been forked by any
// thread, so its Pdeathsig could fire at an arbitrary moment. The spawner's
// goroutine locks its thread and never unlocks it nor returns, not even after
// Close: handing the thread back to the scheduler would let some other
// goroutine lock it and end it.
type ThreadSpawner struct {
	reqs      chan spawnReq // never closed
	closed    chan struct{}
	closeOnce sync.Once
}

type spawnReq struct {
	f    func()
	done chan any // receives the panic value of f, or nil
}

// NewThreadSpawner starts the spawner's goroutine, locked to its own thread.
func NewThreadSpawner() *ThreadSpawner {
	s := &ThreadSpawner{
		reqs:   make(chan spawnReq),
		closed: make(chan struct{}),
	}
	go s.loop()
	return s
}

func (s *ThreadSpawner) loop() {
	runtime.LockOSThread() // never unlocked; see ThreadSpawner
	for req := range s.reqs {
		req.done <- run(req.f)
	}
}

// run calls f and returns what it panicked with, so a panicking start
// function neither ends the spawner's thread nor is lost.
func run(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// Do runs f on the spawner's locked thread and waits for it to return. If f
// panics, Do panics with the same value in the caller's goroutine. f must not
// call runtime.UnlockOSThread, runtime.Goexit or Do. Do panics if Close has
// returned.
func (s *ThreadSpawner) Do(f func()) {
	select {
	case <-s.closed:
		panic("pid1: ThreadSpawner.Do called after Close")
	default:
	}
	req := spawnReq{f: f, done: make(chan any, 1)}
	select {
	case s.reqs <- req:
	case <-s.closed:
		panic("pid1: ThreadSpawner.Do called after Close")
	}
	if p := <-req.done; p != nil {
		panic(p)
	}
}

// Close makes later calls to Do panic. It does not end the spawner's thread:
// children started from it may still be running, and their Pdeathsig is tied
// to that thread, so it stays parked, locked, until the process exits (one
// idle thread per closed spawner; naught makes one for its whole life).
// Close is idempotent.
func (s *ThreadSpawner) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}
