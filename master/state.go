package master

import "fmt"

// workerState is one of the four states SPEC §4 names; they are exactly the
// buckets of the event counts.
type workerState int

const (
	stateBooting   workerState = iota // started, not yet online
	stateOnline                       // online, current generation
	stateDying                        // asked to shut down (or destroyed); waiting for its exit
	stateNewOnline                    // online, new generation, waiting for the old one to go
)

func (s workerState) String() string {
	switch s {
	case stateBooting:
		return "booting"
	case stateOnline:
		return "online"
	case stateDying:
		return "dying"
	case stateNewOnline:
		return "new_online"
	}
	return fmt.Sprintf("workerState(%d)", int(s))
}

// legalTransitions lists every state change the pool may make. A worker
// leaves the pool only by exiting, from any state.
var legalTransitions = map[workerState][]workerState{
	stateBooting:   {stateOnline, stateNewOnline, stateDying},
	stateOnline:    {stateDying},
	stateNewOnline: {stateOnline, stateDying},
	stateDying:     {},
}

func checkTransition(from, to workerState) error {
	for _, s := range legalTransitions[from] {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("invalid transition %s -> %s", from, to)
}

// phase is what the pool as a whole is doing; it determines waitingFor.
type phase int

const (
	phaseBoot        phase = iota // first workers booting
	phaseSteady                   // serving; no deploy, no shutdown
	phaseDeployNew                // deploy: new generation booting
	phaseDeployOld                // deploy: new generation online, old one dying
	phaseAbortingNew              // deploy failed or aborted: new generation being destroyed
	phaseShutdown                 // stopping: every worker dying
	phaseBootFailed               // a first worker died before Ready: everything is being destroyed
)

func (p phase) String() string {
	return [...]string{"boot", "steady", "deploy-new", "deploy-old", "aborting-new", "shutdown", "boot-failed"}[p]
}

// waitingFor is the value of SPEC §5's waitingFor for this phase ("" = null).
func (p phase) waitingFor() WaitingFor {
	switch p {
	case phaseBoot, phaseDeployNew, phaseAbortingNew:
		return WaitingForNew
	case phaseDeployOld:
		return WaitingForOld
	case phaseShutdown, phaseBootFailed:
		return WaitingForShutdown
	}
	return WaitingForNothing
}
