package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/install"
	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/flagname"
	"github.com/podseq/podseq/termination"
)

// exitInstallFailed is install's exit code for an I/O failure (a read-only or
// full directory); bad arguments exit with exitcode.Usage.
const exitInstallFailed = 1

const installDescription = `Copies this podseq executable into DIR (an emptyDir shared with the pod's other
containers) as DIR/podseq, mode 0755, so that a container whose image is not podseq's
(distroless, busybox, anything) can run podseq wait in its postStart hook: no shell, no cp.

The copy is atomic: it is written to a temporary file in DIR, synced, made executable and
renamed into place, so no container ever sees a half-written executable, a failed copy
leaves nothing behind, and a running copy of an older podseq is replaced all the same.
The copy then runs once in place (podseq --version), so that a DIR on a volume mounted noexec
fails here, in the init container, with one line that says so.

EXAMPLE:
   A sidecar whose image is not podseq's holds back the app until it is ready. The init
   container install-podseq makes the copy, before any other container starts; the
   sidecar's postStart hook runs that copy, /podseq-bin/podseq, against the sidecar's own
   endpoint.
   initContainers:
   - name: install-podseq
     image: {{image}}
     args: ["install", "/podseq-bin"]
     volumeMounts: [{name: podseq-bin, mountPath: /podseq-bin}]
   containers:
   - name: proxy                 # first: kubelet starts the app only when this hook returns
     image: envoyproxy/envoy:v1.31.0
     volumeMounts: [{name: podseq-bin, mountPath: /podseq-bin, readOnly: true}]
     lifecycle:
       postStart:
         exec:
           command: ["/podseq-bin/podseq", "wait", "--timeout=2m", "http://localhost:9901/ready"]
   - name: app
     image: example.com/app
   volumes:
   - name: podseq-bin
     emptyDir: {}

EXIT CODES:
   0     installed
   1     the copy failed: DIR is read-only, full, or not writable by this user
   126   the copy cannot be executed from DIR (a volume mounted noexec): the line, also written
         to /dev/termination-log, says why and points at podseq.dev/delivery: image-volume
   2     usage error: DIR missing or not a directory, DIR/NAME is a directory, a bad --name`

func installCommand() *cli.Command {
	flags := []cli.Flag{
		// Not PODSEQ_NAME: that is podseq run's --name (a tombstone's name),
		// which a container may well set.
		&cli.StringFlag{Name: "name", EnvVars: envName("install-name"), Value: install.DefaultName,
			Usage: "file name of the copy in DIR"},
	}
	flags = append(flags, outputFlags()...)
	return &cli.Command{
		Name:        flagname.Install,
		Usage:       "copy podseq into a directory (an emptyDir) for the pod's other containers",
		ArgsUsage:   "DIR",
		Description: withImage(installDescription),
		Flags:       flags,
		Action:      installAction,
	}
}

func installAction(c *cli.Context) error {
	if f := c.String("log-format"); f != "text" && f != "json" {
		return usagef(c, "--log-format %q: want text or json", f)
	}
	args, command := splitCommand(c)
	switch {
	case command != nil:
		return usagef(c, "install takes no command after --")
	case len(args) == 0:
		return usagef(c, "missing DIR: the directory to copy podseq into")
	case len(args) > 1:
		return usagef(c, "one DIR only, got %d arguments", len(args))
	case c.IsSet("name") && c.String("name") == "":
		return usagef(c, "--name is empty: give the copy's file name, or leave --name out for %s", install.DefaultName)
	}
	// The copy runs --version once in place: a volume mounted noexec fails
	// here, in the init container whose status kubelet shows, rather than
	// in every hook.
	res, err := install.Install(install.Options{Src: selfPath(), Dir: args[0], Name: c.String("name"), Check: []string{"--version"}})
	var usage *install.UsageError
	if errors.As(err, &usage) {
		return usagef(c, "%v", wordInstall(usage))
	}
	var noexec *install.ExecError
	if errors.As(err, &noexec) {
		line := fmt.Sprintf("%v: no container can run podseq from this volume; deliver podseq from its image instead, which needs no copy: podseq.dev/delivery: image-volume (podseq inject --delivery image-volume)", noexec)
		if err := termination.Record(termination.DefaultPath, "podseq: "+line, false); err != nil && !errors.Is(err, termination.ErrKept) {
			newLogger(c, false).Warn(err.Error())
		}
		return cli.Exit("podseq: "+line, exitcode.CannotExec)
	}
	if err != nil {
		// err starts "install DIR/NAME: ...".
		return cli.Exit(fmt.Sprintf("podseq: %v", err), exitInstallFailed)
	}
	newLogger(c, c.Bool("quiet")).Info(fmt.Sprintf("installed %s (%d bytes)", res.Path, res.Size))
	return nil
}

// selfPath is the running executable: os.Executable, or /proc/self/exe (the
// running binary's content even when its file was replaced or removed) when
// that path is gone.
func selfPath() string {
	if p, err := os.Executable(); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/proc/self/exe"
}

// wordInstall words an *install.NameError with the --name flag.
func wordInstall(err error) error {
	var ne *install.NameError
	switch {
	case !errors.As(err, &ne):
		return err
	case ne.Path != "":
		return fmt.Errorf("%s is a directory: remove it or choose another --name", ne.Path)
	}
	return fmt.Errorf("--name %q: want a file name, without a slash", ne.Name)
}
