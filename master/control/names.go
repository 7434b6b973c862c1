package control

// Request actions (SPEC §6). A request with any other action is answered
// with an UnrecognizedMessage event.
const (
	ActionStatus      = "NaughtStatus"
	ActionDeploy      = "NaughtDeploy"
	ActionDeployAbort = "NaughtDeployAbort"
	ActionShutdown    = "NaughtShutdown"
)

// Event names (SPEC §5), shared by the daemon that sends them and the CLI
// that reacts to them.
const (
	EventBootup                  = "Bootup"
	EventSpawnNew                = "SpawnNew"
	EventNewOnline               = "NewOnline"
	EventNewDeath                = "NewDeath"
	EventReady                   = "Ready"
	EventStatus                  = "Status"
	EventShutdownOld             = "ShutdownOld"
	EventOldExit                 = "OldExit"
	EventTimeout                 = "Timeout"
	EventDeployFailed            = "DeployFailed"
	EventDestroyNew              = "DestroyNew"
	EventNewDestroyed            = "NewDestroyed"
	EventDestroyOld              = "DestroyOld"
	EventWorkerOnline            = "WorkerOnline"
	EventWorkerOffline           = "WorkerOffline"
	EventWorkerDeath             = "WorkerDeath"
	EventShutdown                = "Shutdown"
	EventErrorDeployInProgress   = "ErrorDeployInProgress"
	EventErrorShuttingDown       = "ErrorShuttingDown"
	EventErrorNoDeployInProgress = "ErrorNoDeployInProgress"
	EventAlreadyShuttingDown     = "AlreadyShuttingDown"
	EventUnrecognizedMessage     = "UnrecognizedMessage"
	EventIpcListening            = "IpcListening"
	EventError                   = "Error"
)

// Values of Event.WaitingFor (besides nil).
const (
	WaitingForNew      = "new"
	WaitingForOld      = "old"
	WaitingForShutdown = "shutdown"
)
