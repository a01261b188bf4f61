package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/inject"
	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/version"
	"github.com/podseq/podseq/probes"
)

const injectDescription = `Reads Kubernetes manifests (a file, or - for standard input: YAML, several documents,
kind: List, or JSON) and writes them to standard output with podseq added to every pod
template that asks for an order. Nothing is installed in the cluster:

   podseq inject -f deploy.yaml | kubectl apply -f -
   kubectl get deploy web -o yaml | podseq inject -f - | kubectl apply -f -
   kustomize build overlays/prod | podseq inject -f - | kubectl apply -f -

inject runs after kustomize build, on its output: injected into a base, containers move and an
overlay's patches by index (containers/1) patch other ones (a warning says so).

POD TEMPLATE ANNOTATIONS (the flags override them):
   after.podseq.dev/CONTAINER: DEP[,DEP...]   CONTAINER starts once every DEP is ready
   ready.podseq.dev/CONTAINER: TARGET[ ...]   what ready means for CONTAINER (podseq targets);
                                              default: its readinessProbe, else startupProbe
   podseq.dev/mode: gate|native|tombstone     the mechanism (default: native when a dependency
                                              is a native sidecar already or a dependent has
                                              no command; else gate, and tombstone for
                                              restartPolicy Never or OnFailure)
   podseq.dev/delivery: init-container|image-volume
                                              how podseq reaches the containers (default
                                              init-container)

MODES:
   gate       dependencies move ahead in containers; a postStart hook (podseq wait) on each
              holds back the containers after it; a dependent whose command is in the
              manifest also waits in its own start (podseq wait TARGET... -- CMD)
   native     dependencies become native sidecars (init containers, restartPolicy Always)
              gated by the same hook (Kubernetes 1.29+); a dependency that is a native sidecar
              already gets the hook where it is, in every mode but tombstone. A dependency that
              a dependent without command waits for gets, instead of the hook, a startupProbe
              that execs podseq wait (it blocks until ready; the kubelet runs it again after a
              restart, a hook never): the default for such pods; on Kubernetes 1.27 and 1.28
              (native sidecars off) the API server rejects the pod: use --mode gate there
   tombstone  podseq run wraps every container involved: birth order by tombstones, and a
              Job's sidecars stop once their dependents exited (a sidecar of a long-running
              pod outlives them instead); every container involved needs its command

DELIVERY:
   init-container  an init container (podseq-install, --image) copies podseq into the emptyDir
                   podseq-bin; any Kubernetes version
   image-volume    the podseq image (--image) is the volume podseq-bin itself (type image,
                   pullPolicy IfNotPresent): no init container, no copy, works where volumes are
                   mounted noexec; needs Kubernetes 1.35+ and containerd 2.1+ or CRI-O 1.31+
   Either way the volume is mounted read-only at /podseq-bin in every container that runs podseq.

inject writes podseq.dev/injected (what it did), podseq.dev/unsafe (where the order rests on
a hook alone) and podseq.dev/undo. It is idempotent, and --undo removes what it added.
Every wait's deadline is --timeout, or a dependency's startupProbe budget when longer. Documents
without an order are copied byte for byte; an order asked for on an object without a pod
template (kinds other than the workloads have one at spec.template) is an error.

EXIT CODES:
   0     done: the whole output is on standard output
   1     the output could not be written (standard output closed, or a write failed)
   2     bad input or flag: one line names the document (Kind/namespace/name), the
         container and what is wrong; nothing is written`

func injectCommand() *cli.Command {
	return &cli.Command{
		Name:        "inject",
		Usage:       "add podseq to existing workloads (Deployment, Job, ...) from their annotations",
		ArgsUsage:   " ",
		Description: injectDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "filename", Aliases: []string{"f"}, EnvVars: envName("inject-filename"),
				Usage: "`FILE` to read, - for standard input"},
			&cli.StringSliceFlag{Name: "after", EnvVars: envName("inject-after"),
				Usage: "`CONTAINER=DEP[,DEP...]`: CONTAINER starts once every DEP is ready (repeat for more)"},
			&cli.StringSliceFlag{Name: "ready", EnvVars: envName("inject-ready"),
				Usage: "`CONTAINER=TARGET`: what ready means for CONTAINER (repeat for more targets)"},
			&cli.StringFlag{Name: "mode", EnvVars: envName("inject-mode"),
				Usage: "`MODE` gate, native or tombstone, for every pod (default: each pod's podseq.dev/mode, else by its restartPolicy)"},
			&cli.StringFlag{Name: "delivery", EnvVars: envName("inject-delivery"),
				Usage: "`DELIVERY` init-container or image-volume, for every pod (default: each pod's podseq.dev/delivery, else init-container)"},
			&cli.StringFlag{Name: "image", EnvVars: envName("inject-image"), Value: version.DefaultImage(),
				Usage: "`IMAGE`: the podseq image that the install init container runs or the image volume mounts: " + version.ImageReason()},
			&cli.DurationFlag{Name: "timeout", EnvVars: envName("inject-timeout"), Value: probes.DefaultTimeout,
				Usage: "`DURATION`: the deadline of every wait inject writes"},
			&cli.BoolFlag{Name: "undo", EnvVars: envName("inject-undo"),
				Usage: "remove what inject added, restoring the input"},
		},
		Action: injectAction,
	}
}

func injectAction(c *cli.Context) error {
	if outputClosed(c.App.Writer) {
		return cli.Exit("podseq inject: standard output is closed: the output would be lost", exitcode.InjectFailed)
	}
	if c.String("filename") == "" {
		return usagef("missing -f FILE (- for standard input)")
	}
	if c.Args().Present() {
		return usagef("no arguments: give the manifests with -f FILE or -f -")
	}
	o := inject.Options{Image: c.String("image"), Undo: c.Bool("undo"), Timeout: inject.FormatTimeout(c.Duration("timeout"))}
	if c.Duration("timeout") <= 0 {
		return usagef("--timeout %s: want a positive duration", c.Duration("timeout"))
	}
	if m := c.String("mode"); m != "" {
		mode, err := inject.ParseMode(m)
		if err != nil {
			return usagef("--mode: %v", err)
		}
		o.Mode = mode
	}
	if d := c.String("delivery"); d != "" || c.IsSet("delivery") {
		delivery, err := inject.ParseDelivery(d)
		if err != nil {
			return usagef("--delivery: %v", err)
		}
		o.Delivery = delivery
	}
	var err error
	if o.After, err = pairs(c.StringSlice("after"), "after", inject.ParseDeps); err != nil {
		return usagef("%v", err)
	}
	if o.Ready, err = pairs(c.StringSlice("ready"), "ready", inject.ParseTargets); err != nil {
		return usagef("%v", err)
	}
	in, err := readInput(c.String("filename"), c.App.Reader)
	if err != nil {
		return usagef("%v", err)
	}
	res, err := inject.Process(in, o)
	if err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), inject.ErrBadInput.Error()+": "))
	}
	if k := kustomization(c.String("filename")); k != "" && !o.Undo {
		res.Warnings = append([]string{inject.BaseWarning(k + " lists the input file's directory as a kustomization")}, res.Warnings...)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "podseq inject: warning: %s\n", w)
	}
	if _, err := c.App.Writer.Write(res.Out); err != nil {
		return cli.Exit(fmt.Sprintf("podseq inject: write the output: %v", err), exitcode.InjectFailed)
	}
	return nil
}

// kustomization returns the kustomization file beside FILE, if any: FILE
// is then one of a kustomize directory's resources, maybe a base's.
func kustomization(name string) string {
	if name == "-" {
		return ""
	}
	for _, k := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		p := filepath.Join(filepath.Dir(name), k)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// pairs parses repeated NAME=VALUE flags; values for one name add up.
func pairs(flags []string, flag string, parse func(string) ([]string, error)) (map[string][]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	m := map[string][]string{}
	for _, f := range flags {
		name, value, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--%s %q: want CONTAINER=VALUE", flag, f)
		}
		vs, err := parse(value)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %v", flag, name, err)
		}
		m[name] = append(m[name], vs...)
	}
	return m, nil
}

// readInput reads FILE, or standard input for "-", up to inject's limit.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("-f: %w", unwrapPath(err))
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, inject.MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", name, err)
	}
	return b, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
