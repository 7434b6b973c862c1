package master

import "fmt"

// EventName is one of the event names of SPEC §5, spelled exactly as the
// original naught spelled them: scripts match on them.
type EventName string

// The events of SPEC §5.
const (
	EventBootup                  EventName = "Bootup"
	EventSpawnNew                EventName = "SpawnNew"
	EventNewOnline               EventName = "NewOnline"
	EventNewDeath                EventName = "NewDeath"
	EventReady                   EventName = "Ready"
	EventStatus                  EventName = "Status"
	EventShutdownOld             EventName = "ShutdownOld"
	EventOldExit                 EventName = "OldExit"
	EventTimeout                 EventName = "Timeout"
	EventDeployFailed            EventName = "DeployFailed"
	EventDestroyNew              EventName = "DestroyNew"
	EventNewDestroyed            EventName = "NewDestroyed"
	EventDestroyOld              EventName = "DestroyOld"
	EventWorkerOnline            EventName = "WorkerOnline"
	EventWorkerOffline           EventName = "WorkerOffline"
	EventWorkerDeath             EventName = "WorkerDeath"
	EventShutdown                EventName = "Shutdown"
	EventErrorDeployInProgress   EventName = "ErrorDeployInProgress"
	EventErrorShuttingDown       EventName = "ErrorShuttingDown"
	EventErrorNoDeployInProgress EventName = "ErrorNoDeployInProgress"
	EventAlreadyShuttingDown     EventName = "AlreadyShuttingDown"
	EventUnrecognizedMessage     EventName = "UnrecognizedMessage"
	EventIpcListening            EventName = "IpcListening"
	EventError                   EventName = "Error"
)

// WaitingFor is SPEC §5's waitingFor; WaitingForNothing encodes JSON null.
type WaitingFor string

// The values of waitingFor.
const (
	WaitingForNothing  WaitingFor = ""
	WaitingForNew      WaitingFor = "new"
	WaitingForOld      WaitingFor = "old"
	WaitingForShutdown WaitingFor = "shutdown"
)

// Counts are the sizes of the four state buckets.
type Counts struct {
	Booting, Online, Dying, NewOnline int
}

// String is the counts part of the naught log line.
func (c Counts) String() string {
	return fmt.Sprintf("booting: %d, online: %d, dying: %d, new_online: %d", c.Booting, c.Online, c.Dying, c.NewOnline)
}

// Event is one state change of the pool, with the counts taken after it.
type Event struct {
	Name       EventName
	Counts     Counts
	WaitingFor WaitingFor
	// Message explains an Error event.
	Message string
	// Workers is set on Status events: one entry per worker, in spawn order.
	Workers []WorkerInfo
}

// LogLine is the event as the naught log and the CLI print it (SPEC §5).
func (e Event) LogLine() string {
	return fmt.Sprintf("%s. %s", e.Name, e.Counts)
}

// WorkerInfo describes one worker, or one slot waiting to be restarted, for
// status reports.
type WorkerInfo struct {
	Number int
	Pid    int // 0 while a restart is pending
	State  string
	// Crashes is how many times in a row this slot's worker died without
	// staying up; RestartIn is the backoff left before its restart.
	Crashes   int
	RestartIn float64 // seconds
}
