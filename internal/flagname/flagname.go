// Package flagname is the one definition of how a flag's environment
// variable is named, and of the podseq commands and flags that other code
// writes into a pod: cmd/podseq declares its flags with these names, and
// inject builds the argv of the hooks and entrypoints it writes with them. A
// renamed flag therefore changes both, and cmd/podseq's TestInjectArgvParses
// parses every argv inject writes with the real command line.
package flagname

import "strings"

// Env is the environment variable of a flag of podseq or kubectl-podseq:
// PODSEQ_ and its name in upper case, dashes as underscores
// (PODSEQ_EXEC_PROBE for exec-probe).
func Env(flag string) string {
	return "PODSEQ_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// The podseq commands that inject writes.
const (
	Wait    = "wait"
	Run     = "run"
	Install = "install"
)

// The flags of podseq wait that inject writes.
const (
	Timeout            = "timeout"
	Header             = "header"
	ExecProbe          = "exec-probe"
	InsecureSkipVerify = "insecure-skip-verify"
	CommandFirst       = "command-first"
)

// The flags of podseq run that inject writes (besides Header and
// InsecureSkipVerify, which run shares with wait).
const (
	Name         = "name"
	Graveyard    = "graveyard"
	Listen       = "listen"
	BirthDeps    = "birth-deps"
	BirthTimeout = "birth-timeout"
	Ready        = "ready"
	Outlive      = "outlive"
	Grace        = "grace"
	DeathDeps    = "death-deps"
)

// ListenNone is the --listen value that turns run's admin server off.
const ListenNone = "none"

// Flag writes a boolean flag as given on a command line: --name.
func Flag(name string) string { return "--" + name }

// Arg writes a flag and its value as one argument: --name=value.
func Arg(name, value string) string { return "--" + name + "=" + value }
