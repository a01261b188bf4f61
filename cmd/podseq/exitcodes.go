package main

// exitCodesHelp lists the exit codes of wait (internal/exitcode) in its --help; a
// test runs the binary for each.
const exitCodesHelp = `EXIT CODES:
   0     ready (or --fail-open was given and the deadline passed)
   1     not ready by the deadline (--timeout)
   2     usage error: a malformed flag, target or argument
   126   -- COMMAND cannot be executed (checked before the wait, and at the exec)
   127   -- COMMAND not found (checked before the wait)
   130   interrupted by SIGINT
   143   terminated by SIGTERM
   With -- COMMAND, once ready the exit code is COMMAND's: podseq is no longer there.`
