package wait

import (
	"errors"

	"github.com/podseq/podseq/probes"
)

// ErrNoTarget is ParseTargets' error when it is given nothing to wait for.
var ErrNoTarget = errors.New("no target")

// CommandLineError is an exec probe's command line that ParseTargets
// refused, as *strconv.NumError carries the input: the caller says where it
// came from.
type CommandLineError struct {
	Line string
	Err  error
}

func (e *CommandLineError) Error() string { return "exec probe: " + e.Err.Error() }

func (e *CommandLineError) Unwrap() error { return e.Err }

// ParseTargets parses target URLs (probes.Parse) and exec probes' command
// lines (split as a shell would, run without one), in that order.
func ParseTargets(urls, commandLines []string, o probes.Options) ([]*probes.Target, error) {
	var ts []*probes.Target
	for _, u := range urls {
		t, err := probes.Parse(u, o)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	for _, line := range commandLines {
		argv, err := probes.SplitCommand(line)
		if err != nil {
			return nil, &CommandLineError{Line: line, Err: err}
		}
		t, err := probes.NewExec(argv)
		if err != nil {
			return nil, &CommandLineError{Line: line, Err: err}
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return nil, ErrNoTarget
	}
	return ts, nil
}
