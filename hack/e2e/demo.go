package main

import (
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// demoPod makes manifests/demo a static pod named name, the pod the order,
// timeout, fail-open and delete-during-wait scenarios share (or another
// manifest of the same shape, with demoPodFrom): the sidecar's
// podseq run turns ready after readyAfter; its postStart podseq wait gets
// --timeout hookTimeout unless that is empty; and the pod's output records
// sidecar.started, hook.begin, hook.end and the hook's exit code (hook.rc).
func demoPod(t *T, name, readyAfter, hookTimeout string) (b *PodBuilder, sidecar, app *corev1.Container, err error) {
	return demoPodFrom(t, "demo", name, readyAfter, hookTimeout)
}

// demoPodFrom is demoPod on the manifest at rel (under manifests/).
func demoPodFrom(t *T, rel, name, readyAfter, hookTimeout string) (b *PodBuilder, sidecar, app *corev1.Container, err error) {
	spec, err := t.manifest(rel)
	if err != nil {
		return nil, nil, nil, err
	}
	if b, err = t.NewPod(name, spec); err != nil {
		return nil, nil, nil, err
	}
	if sidecar, err = b.Container("sidecar"); err != nil {
		return nil, nil, nil, err
	}
	if app, err = b.Container("app"); err != nil {
		return nil, nil, nil, err
	}
	argv := mainArgv(sidecar)
	if *argv, err = setFlag(*argv, "run", "ready-after", readyAfter); err != nil {
		return nil, nil, nil, err
	}
	if hookTimeout != "" {
		hook := hookArgv(sidecar)
		if hook == nil {
			return nil, nil, nil, fmt.Errorf("container sidecar has no postStart exec hook")
		}
		if *hook, err = setFlag(*hook, "wait", "timeout", hookTimeout); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := stampHook(b, sidecar); err != nil {
		return nil, nil, nil, err
	}
	return b, sidecar, app, nil
}

// stampHook records in the pod's output when container c started
// (sidecar.started), when its postStart hook began and ended (hook.begin,
// hook.end), and the exit code of each run of the hook (hook.rc).
func stampHook(b *PodBuilder, c *corev1.Container) error {
	if err := b.WrapMain(c, Stamp("sidecar.started")); err != nil {
		return err
	}
	return stampPostStart(b, c, "")
}

// stampPostStart stamps PREFIXhook.begin and PREFIXhook.end around c's
// postStart hook, and appends the exit code of each of its runs to
// PREFIXhook.rc. The code is written before the end stamp, so that whoever
// sees a run's end also reads its code.
func stampPostStart(b *PodBuilder, c *corev1.Container, prefix string) error {
	return b.WrapPostStart(c, Stamp(prefix+"hook.begin"), "echo $rc >> "+outMount+"/"+prefix+"hook.rc; "+Stamp(prefix+"hook.end"))
}

// hookCodes returns the exit codes stampPostStart recorded with prefix, one
// a run of the hook ("" for stampHook's).
func hookCodes(b *PodBuilder, prefix string) []string {
	rc, _ := os.ReadFile(b.Out(prefix + "hook.rc"))
	return strings.Fields(string(rc))
}
