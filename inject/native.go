package inject

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Kubelet's probe defaults, for a startupProbe's budget.
const (
	probePeriodSeconds    = 10
	probeFailureThreshold = 3
)

// checkInits rejects orders that the kubelet's start of init containers
// cannot give. Init containers start one by one, in their order, before
// every regular container; the next one starts once a native sidecar
// (restartPolicy Always) has started, postStart hook included, and once a
// one-shot init container has exited.
func (p *pod) checkInits() error {
	for _, c := range p.all() {
		for _, d := range p.after[c] {
			if p.inits[d] != nil && !p.sidecars[d] {
				return p.errf(d, "%s%s: an init container without restartPolicy: Always has run to completion before the containers after it start: podseq orders after native sidecars and regular containers", AfterPrefix, c)
			}
			if p.inits[c] == nil {
				continue
			}
			if p.containers[d] != nil {
				return p.errf(c, "%s%s: an init container starts before every regular container, so it cannot start after %s: make %s a native sidecar (an init container with restartPolicy: Always) listed before %s", AfterPrefix, c, d, d, c)
			}
			if slices.Index(p.initNames, d) > slices.Index(p.initNames, c) {
				return p.errf(c, "%s%s: %s is listed after it in initContainers, and the kubelet starts init containers in their order: list %s before %s", AfterPrefix, c, d, d, c)
			}
		}
	}
	if p.mode == Tombstone {
		for _, c := range p.initNames {
			if p.isDep(c) || len(p.after[c]) > 0 {
				return p.errf(c, "an init container in an order: the tombstone mode runs regular containers under podseq run, and the kubelet starts init containers itself%s", p.suggest(Tombstone))
			}
		}
	}
	return nil
}

// suggest names, as the end of a message, a mode other than not that this
// pod can be injected with, or says that none can: never a mode that fails.
func (p *pod) suggest(not Mode) string {
	if p.probing {
		return ""
	}
	for _, m := range []Mode{Native, Gate, Tombstone} {
		if m == not {
			continue
		}
		if m == Gate && p.restart != "Always" && slices.ContainsFunc(p.names, p.isDep) {
			continue // a regular sidecar of a Job would never stop: the Job would never end
		}
		q := *p
		q.mode, q.probing = m, true
		if q.checkInits() != nil {
			continue
		}
		in := &injector{p: &q, o: &Options{}}
		if in.check() == nil {
			return fmt.Sprintf("; use %s: %s", ModeKey, m)
		}
	}
	return ""
}

// startupBudget is the time the kubelet gives container c to start: its
// startupProbe's initialDelaySeconds + failureThreshold x periodSeconds,
// with kubelet's defaults; zero without a startupProbe.
func (p *pod) startupBudget(c string) (time.Duration, error) {
	probe := get(p.ctr(c), "startupProbe")
	if probe == nil || probe.Kind != yaml.MappingNode {
		return 0, nil
	}
	field := func(key string, def, least int) (int, error) {
		v := get(probe, key)
		if v == nil || v.Value == "" || v.ShortTag() == "!!null" {
			return def, nil
		}
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < least || n > 1<<24 {
			return 0, p.errf(c, "startupProbe.%s %q: want an integer from %d", key, v.Value, least)
		}
		return n, nil
	}
	delay, err := field("initialDelaySeconds", 0, 0)
	if err != nil {
		return 0, err
	}
	period, err := field("periodSeconds", probePeriodSeconds, 1)
	if err != nil {
		return 0, err
	}
	failures, err := field("failureThreshold", probeFailureThreshold, 1)
	if err != nil {
		return 0, err
	}
	return time.Duration(delay+failures*period) * time.Second, nil
}

// waiters are the commands of postStart hooks that already hold a pod's
// next containers until their container is ready: a program's base name,
// and the word after it if any.
var waiters = [][2]string{
	{"linkerd-await", ""},
	{"pilot-agent", "wait"},
	{"kuma-dp", "wait"},
	{"podseq", "wait"},
}

// existingWait returns the command of a container's postStart exec hook if
// it is one that already waits for the container to be ready, else "".
func existingWait(ctr *yaml.Node) string {
	argv := stringsOf(path(ctr, "lifecycle", "postStart", "exec", "command"))
	if len(argv) == 0 || argv[0] == Bin {
		return ""
	}
	for _, w := range waiters {
		if filepath.Base(argv[0]) != w[0] {
			continue
		}
		if w[1] == "" {
			return w[0]
		}
		if len(argv) > 1 && argv[1] == w[1] {
			return w[0] + " " + w[1]
		}
	}
	return ""
}

// portOf returns the port number that container c declares as v: a port's
// name, or (number) the number itself.
func (p *pod) portOf(c, v string, number bool) (string, bool) {
	for _, cp := range items(get(p.ctr(c), "ports")) {
		if (number && str(cp, "containerPort") == v) || (!number && str(cp, "name") == v) {
			return str(cp, "containerPort"), true
		}
	}
	return "", false
}

// servedBy returns another container of the pod that declares the port v,
// and its number.
func (p *pod) servedBy(c, v string, number bool) (string, string, bool) {
	for _, o := range p.all() {
		if o == c {
			continue
		}
		if pt, ok := p.portOf(o, v, number); ok {
			return o, pt, true
		}
	}
	return "", "", false
}

// startsAt is where a container is in the kubelet's start sequence once
// inject is done: init containers first, in order, then the containers.
func (p *pod) startsAt(c string) int {
	seq := slices.Clone(p.initNames)
	order := p.order()
	if p.mode == Native {
		for _, n := range order {
			if p.isDep(n) {
				seq = append(seq, n)
			}
		}
	}
	for _, n := range order {
		if !slices.Contains(seq, n) {
			seq = append(seq, n)
		}
	}
	return slices.Index(seq, c)
}

// servedBefore checks that the container other, whose port c's probe uses,
// is running when c's postStart hook waits for it: a hook that waits for a
// container the kubelet starts only after the hook never returns.
func (p *pod) servedBefore(c, other, which, v, pt string) error {
	running := p.startsAt(other) < p.startsAt(c) && (p.inits[other] == nil || p.sidecars[other])
	if running {
		return nil
	}
	what := "starts after it"
	if p.inits[other] != nil && !p.sidecars[other] {
		what = "has exited before it starts"
	}
	return p.errf(c, "%s port %s (%s) is declared by container %s, which %s: a postStart hook on %s waiting for that port would never return; set %s%s to a target that %s serves itself (such as its own port, or unix:// or file:// of its socket)", which, v, pt, other, what, c, ReadyPrefix, c, c)
}
