package main

import (
	"io"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/entrypoint"
	"github.com/podseq/podseq/inject"
	"github.com/podseq/podseq/probes"
)

// TestSharedDefaults pins the facts that have one home and several users:
// the port of podseq run's admin server, the 2-minute deadline of a wait and
// the progress cadence, as each user sees them.
func TestSharedDefaults(t *testing.T) {
	t.Parallel()
	if probes.AdminPort != 15780 || entrypoint.DefaultListen != ":15780" || inject.BasePort != probes.AdminPort || adminReady != "http://localhost:15780/ready" {
		t.Errorf("admin port: probes %d, entrypoint %q, inject %d, wait %q; want 15780 everywhere", probes.AdminPort, entrypoint.DefaultListen, inject.BasePort, adminReady)
	}
	if probes.DefaultTimeout != 2*time.Minute || inject.DefaultTimeout != "2m" {
		t.Errorf("default timeout: probes %s, inject %q; want 2m", probes.DefaultTimeout, inject.DefaultTimeout)
	}
	if probes.ProgressEvery != 5*time.Second || entrypoint.ProgressEvery != probes.ProgressEvery {
		t.Errorf("progress: probes %s, entrypoint %s; want 5s", probes.ProgressEvery, entrypoint.ProgressEvery)
	}
	app := newApp(io.Discard, io.Discard)
	for _, f := range []struct {
		command, flag string
		want          any
	}{
		{"wait", "timeout", 2 * time.Minute},
		{"run", "birth-timeout", 2 * time.Minute},
		{"run", "listen", ":15780"},
	} {
		var got any
		for _, fl := range app.Command(f.command).Flags {
			switch fl := fl.(type) {
			case *cli.DurationFlag:
				if fl.Name == f.flag {
					got = fl.Value
				}
			case *cli.StringFlag:
				if fl.Name == f.flag {
					got = fl.Value
				}
			}
		}
		if got != f.want {
			t.Errorf("podseq %s --%s defaults to %v, want %v", f.command, f.flag, got, f.want)
		}
	}
}
