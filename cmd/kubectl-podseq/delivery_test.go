package main

import (
	"strings"
	"testing"

	"github.com/podseq/podseq/inject"
)

// TestInjectDelivery: --delivery image-volume writes the image volume and
// says once on stderr which versions it needs; --delivery init-container on
// that output gives what injecting the input with it gives.
func TestInjectDelivery(t *testing.T) {
	t.Parallel()
	code, out, stderr := runInject(t, deployment, "inject", "-f", "-", "--after", "app=proxy", "--delivery", "image-volume", "--image", "registry.example/podseq:1.0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"reference: registry.example/podseq:1.0", "pullPolicy: IfNotPresent", inject.DeliveryKey + ": image-volume"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, inject.InstallContainer) {
		t.Errorf("output has the install container:\n%s", out)
	}
	if want := "podseq inject: warning: " + inject.ImageVolumeNeeds + "\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	code, back, stderr := runInject(t, out, "inject", "-f", "-", "--delivery", "init-container", "--image", "registry.example/podseq:1.0")
	if code != 0 || stderr != "" {
		t.Fatalf("switch back: exit %d: %s", code, stderr)
	}
	_, direct, _ := runInject(t, deployment, "inject", "-f", "-", "--after", "app=proxy", "--delivery", "init-container", "--image", "registry.example/podseq:1.0")
	if back != direct {
		t.Errorf("switching to init-container gave:\n%s\ninjecting the input with it gave:\n%s", back, direct)
	}
}
