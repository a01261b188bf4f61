package main

// Exit codes of podseq. README.md and every command's --help list them; a test
// runs the binary for each.
const (
	// exitOK: ready (wait), or the child exited 0 (run).
	exitOK = 0
	// exitNotReady: a target was not ready by the deadline.
	exitNotReady = 1
	// exitUsage: a malformed flag, target or argument.
	exitUsage = 2
	// exitCannotExec: the COMMAND of run (or of wait's -- COMMAND) was found
	// but could not be executed.
	exitCannotExec = 126
	// exitNotFound: the COMMAND of run or wait was not found.
	exitNotFound = 127
	// exitSignalBase + N: podseq was stopped by signal N (130 for SIGINT,
	// 143 for SIGTERM), or run's child died of signal N.
	exitSignalBase = 128
)

const exitCodesHelp = `EXIT CODES:
   0     ready (or --fail-open was given and the deadline passed)
   1     not ready by the deadline (--timeout)
   2     usage error: a malformed flag, target or argument
   126   -- COMMAND cannot be executed (checked before the wait, and at the exec)
   127   -- COMMAND not found (checked before the wait)
   130   interrupted by SIGINT
   143   terminated by SIGTERM
   With -- COMMAND, once ready the exit code is COMMAND's: podseq is no longer there.`
