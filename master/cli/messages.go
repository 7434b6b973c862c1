package cli

// The original CLI's exact words (SPEC Appendix A). Scripts grep these:
// keep them byte for byte.
const (
	msgServerNotRunning    = "server not running\n"
	msgCrashedWithoutBoot  = "The server crashed without booting. Check stderr.log.\n"
	msgUnableToStartDaemon = "unable to start daemon: %s\n"
	msgNoAnswerIPC         = "unable to connect to ipc-file `%s`\n\n1. the ipc file specified is invalid, or\n2. the daemon process died unexpectedly\n"
	msgRemovingOldIPC      = "unable to connect to ipc-file `%s`\n\nremoving the ipc-file and attempting to continue\n"
	msgWorkersOnline       = "workers online: %d\n"
	msgWaitingForShutdown  = "Waiting for shutdown already in progress.\nIf it hangs, Ctrl+C this command and try it again with --timeout 1\n"
	msgDone                = "done\n"
	msgDeployInProgress    = "Deploy already in progress. Press Ctrl+C to abort.\n"
	msgDeployFailed        = "Deploy failed. Check stderr.log and usage of 'online' and 'shutdown' events.\n"
	msgBootupNeverSucceed  = "Bootup never succeeded. Check stderr.log and usage of 'online' and 'shutdown' events.\n"
	msgAbortingDeploy      = "aborting deploy\n"
	msgDeployAborted       = "deploy aborted\n"
	msgNoDeployInProgress  = "no deploy in progress\n"
)

// naught's own words.
const (
	// A foreground naught stopped, but its log sinks could not write or
	// compress everything at Close.
	msgStoppedLogsIncomplete = "naught stopped, but %s\n"
	msgDaemonModeAsPID1      = "naught is PID 1 (a container's init): --daemon-mode true would detach the daemon and end the container; use --daemon-mode false (the default as PID 1)"
)
