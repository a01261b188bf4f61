package flagname

import "testing"

func TestEnv(t *testing.T) {
	t.Parallel()
	for flag, want := range map[string]string{"timeout": "PODSEQ_TIMEOUT", "exec-probe": "PODSEQ_EXEC_PROBE", "inject-timeout": "PODSEQ_INJECT_TIMEOUT"} {
		if got := Env(flag); got != want {
			t.Errorf("Env(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestArgv(t *testing.T) {
	t.Parallel()
	if got := Arg(Timeout, "2m"); got != "--timeout=2m" {
		t.Errorf("Arg = %q", got)
	}
	if got := Flag(CommandFirst); got != "--command-first" {
		t.Errorf("Flag = %q", got)
	}
}
