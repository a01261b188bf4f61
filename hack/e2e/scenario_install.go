package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func init() {
	register(Scenario{
		Name: "install",
		Shows: "an init container runs `podseq install /podseq-bin` into an emptyDir; a plain busybox sidecar " +
			"(httpd, serving 2s after it starts) uses /podseq-bin/podseq in its own postStart; the app starts after",
		Run: installScenario,
	})
}

// installSpec is the shape of manifests/install: podseq copied into an
// emptyDir, used by images that do not ship it.
func installSpec() *corev1.PodSpec {
	bin := corev1.VolumeMount{Name: "podseq-bin", MountPath: "/podseq-bin"}
	return &corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "podseq-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		InitContainers: []corev1.Container{{
			Name: "install-podseq", Image: "podseq:dev", Args: []string{"install", "/podseq-bin"},
			VolumeMounts: []corev1.VolumeMount{bin},
		}},
		Containers: []corev1.Container{
			{
				Name: "sidecar", Image: "busybox",
				Command:      []string{"sh", "-c", "sleep 2; mkdir -p /tmp/www; echo ok > /tmp/www/ready; exec httpd -f -p 127.0.0.1:8080 -h /tmp/www"},
				VolumeMounts: []corev1.VolumeMount{bin},
				Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
					Command: []string{"/podseq-bin/podseq", "wait", "--timeout=1m", "http://127.0.0.1:8080/ready"}}}},
			},
			{Name: "app", Image: "busybox", Command: []string{"sleep", "3600"}},
		},
	}
}

func installScenario(t *T) error {
	spec, err := t.manifestOrCode("install", "", installSpec)
	if err != nil {
		return err
	}
	b, err := t.NewPod("install", spec)
	if err != nil {
		return err
	}
	// Find the container whose postStart runs the installed binary, and the app after it.
	var user, app *corev1.Container
	for i := range b.Spec.Containers {
		c := &b.Spec.Containers[i]
		if h := hookArgv(c); h != nil && len(*h) > 0 && strings.HasSuffix((*h)[0], "/podseq") && (*h)[0] != podseqBin {
			user = c
			if i+1 < len(b.Spec.Containers) {
				app = &b.Spec.Containers[i+1]
			}
			break
		}
	}
	if user == nil || app == nil {
		return fmt.Errorf("no container with an installed podseq in its postStart followed by an app")
	}
	if err := b.WrapMain(user, Stamp("sidecar.started")); err != nil {
		return err
	}
	if err := b.WrapPostStart(user, Stamp("hook.begin"), Stamp("hook.end")+"; echo $rc >> /out/hook.rc"); err != nil {
		return err
	}
	if err := b.WrapMain(app, Stamp("app.started")); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		for _, c := range b.Spec.InitContainers {
			if st, _ := t.Status(b, c.Name); st != nil {
				err = fmt.Errorf("%w; init container %s: %s", err, c.Name, stateString(st.State))
			}
		}
		return err
	}
	for _, c := range b.Spec.InitContainers {
		st, err := t.Status(b, c.Name)
		if err != nil || st == nil || st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			return fmt.Errorf("init container %s did not exit 0: %v %v", c.Name, st, err)
		}
	}
	hookEnd, err := b.ReadStamp("hook.end")
	if err != nil {
		return err
	}
	if rc, _ := os.ReadFile(b.Out("hook.rc")); strings.TrimSpace(string(rc)) != "0" {
		return fmt.Errorf("the installed podseq wait exited %q, want 0", strings.TrimSpace(string(rc)))
	}
	started, _ := b.ReadStamp("sidecar.started")
	if !appStarted.After(hookEnd) {
		return fmt.Errorf("app started before the hook returned")
	}
	t.Figure("sidecar start→hook end", "%s", ms(hookEnd.Sub(started)))
	t.Figure("hook end→app start", "%s", ms(appStarted.Sub(hookEnd)))
	return nil
}
