package inject

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/probes"
)

// Annotations of the pod template. The first three are the input (flags
// override them, and inject writes the values it used back); the others are
// written by inject and removed by --undo.
const (
	// AfterPrefix + CONTAINER: "dep[,dep...]": CONTAINER starts only once
	// every dep is ready.
	AfterPrefix = "after.podseq.dev/"
	// ReadyPrefix + CONTAINER: "target[ target...]": what ready means for
	// CONTAINER, as podseq targets.
	ReadyPrefix = "ready.podseq.dev/"
	// ModeKey: the mechanism asked for: gate, native or tombstone.
	ModeKey = "podseq.dev/mode"
	// InjectedKey: the mechanism inject used, and what it did.
	InjectedKey = "podseq.dev/injected"
	// UnsafeKey: set when the order rests on a postStart hook alone, with
	// why and how to make it safe.
	UnsafeKey = "podseq.dev/unsafe"
	// UndoKey: what --undo needs to restore the input.
	UndoKey = "podseq.dev/undo"
)

// Mode is a mechanism that puts a pod's containers in order.
type Mode string

// The mechanisms.
const (
	// Gate: dependencies move ahead of their dependents in containers, and a
	// postStart hook on each holds back the containers after it until it is
	// ready. Any Kubernetes version. The default for pods that restart
	// their containers (restartPolicy Always).
	Gate Mode = "gate"
	// Native: dependencies become native sidecars (init containers with
	// restartPolicy Always), each gated by a podseq postStart hook.
	// Kubernetes 1.29 and later.
	Native Mode = "native"
	// Tombstone: every container involved runs under podseq run, which
	// starts it after its dependencies are ready (birth order) and stops a
	// Job's sidecars once their dependents have exited (death order), or
	// keeps a sidecar up until its dependents have exited (outlive). The
	// default for pods with restartPolicy Never or OnFailure (Jobs).
	Tombstone Mode = "tombstone"
)

// ParseMode parses a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Gate, Native, Tombstone:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q: want gate, native or tombstone", s)
}

// ParseDeps parses the value of an after annotation: names separated by
// commas (blanks around them are ignored).
func ParseDeps(s string) ([]string, error) {
	var deps []string
	for _, d := range strings.Split(s, ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			return nil, fmt.Errorf("%q: an empty container name", s)
		}
		if slices.Contains(deps, d) {
			return nil, fmt.Errorf("%q: %s is named twice", s, d)
		}
		deps = append(deps, d)
	}
	return deps, nil
}

// ParseTargets parses the value of a ready annotation: podseq targets
// separated by blanks.
func ParseTargets(s string) ([]string, error) {
	ts := strings.Fields(s)
	if len(ts) == 0 {
		return nil, fmt.Errorf("no target")
	}
	for _, t := range ts {
		if _, err := probes.Parse(t, probes.Options{}); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// readiness is how a dependent tells that a container is ready.
type readiness struct {
	targets []string // podseq targets
	headers []string // NAME:VALUE for http targets (from httpGet.httpHeaders)
	exec    []string // an exec probe's command, run in the container itself
	// insecure: an HTTPS target derived from a probe, which kubelet checks
	// without verifying the certificate; podseq wait must do the same.
	insecure bool
	// budget is the time kubelet gives the container to start, from its
	// startupProbe (initialDelaySeconds + failureThreshold x periodSeconds);
	// zero without one.
	budget time.Duration
}

// pod is a pod template being injected, with its settings resolved.
type pod struct {
	obj        object
	tmpl       *yaml.Node // metadata + spec
	spec       *yaml.Node
	names      []string              // spec.containers, in order
	containers map[string]*yaml.Node // by name
	initNames  []string              // spec.initContainers, in order
	inits      map[string]*yaml.Node // init containers by name
	sidecars   map[string]bool       // init containers with restartPolicy Always
	after      map[string][]string   // container -> its dependencies
	ready      map[string]readiness  // every dependency's readiness
	mode       Mode
	// auto: the mode was not asked for, inject chose it.
	auto bool
	// preferred: native mode chosen for a dependent without command.
	preferred bool
	restart   string // the pod's restartPolicy
	probing   bool   // a copy that only checks whether a mode would do
}

// docError is a bad document: it names the object and, if any, the container.
type docError struct {
	obj       object
	container string
	msg       string
}

func (e *docError) Error() string {
	if e.container != "" {
		return fmt.Sprintf("%s: container %s: %s", e.obj, e.container, e.msg)
	}
	return fmt.Sprintf("%s: %s", e.obj, e.msg)
}

func (p *pod) errf(container, format string, a ...any) error {
	return &docError{obj: p.obj, container: container, msg: fmt.Sprintf(format, a...)}
}

// annotations returns the template's annotations as a map.
func annotations(tmpl *yaml.Node) map[string]string {
	m := map[string]string{}
	a := path(tmpl, "metadata", "annotations")
	if a == nil || a.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(a.Content); i += 2 {
		m[a.Content[i].Value] = a.Content[i+1].Value
	}
	return m
}

// settings are the annotations inject reads, after the flags override them.
type settings map[string]string

// effective merges the template's annotations with the options' overrides
// for the containers of this pod. used records the overrides that applied.
func effective(ann map[string]string, names map[string]bool, o *Options, used map[string]bool) settings {
	s := settings{}
	for k, v := range ann {
		if strings.HasPrefix(k, AfterPrefix) || strings.HasPrefix(k, ReadyPrefix) || k == ModeKey {
			s[k] = v
		}
	}
	for c, deps := range o.After {
		if names[c] {
			s[AfterPrefix+c] = strings.Join(deps, ",")
			used["after "+c] = true
		}
	}
	for c, ts := range o.Ready {
		if names[c] {
			s[ReadyPrefix+c] = strings.Join(ts, " ")
			used["ready "+c] = true
		}
	}
	if o.Mode != "" {
		s[ModeKey] = string(o.Mode)
	}
	return s
}

// hasOrder reports whether the settings ask for any order.
func (s settings) hasOrder() bool {
	for k := range s {
		if strings.HasPrefix(k, AfterPrefix) {
			return true
		}
	}
	return false
}

// newPod resolves and validates the settings of a pod template.
func newPod(obj object, tmpl *yaml.Node, s settings) (*pod, error) {
	p := &pod{obj: obj, tmpl: tmpl, spec: get(tmpl, "spec"), containers: map[string]*yaml.Node{},
		inits: map[string]*yaml.Node{}, sidecars: map[string]bool{}, after: map[string][]string{}, ready: map[string]readiness{}}
	if p.spec == nil || p.spec.Kind != yaml.MappingNode {
		return nil, p.errf("", "the pod template has no spec")
	}
	cs := get(p.spec, "containers")
	if cs == nil || cs.Kind != yaml.SequenceNode || len(cs.Content) == 0 {
		return nil, p.errf("", "the pod template has no containers")
	}
	for i, c := range cs.Content {
		name := str(c, "name")
		if c.Kind != yaml.MappingNode || name == "" {
			return nil, p.errf("", "containers[%d] has no name", i)
		}
		if p.containers[name] != nil {
			return nil, p.errf(name, "two containers have this name")
		}
		p.names = append(p.names, name)
		p.containers[name] = c
	}
	for i, c := range items(get(p.spec, "initContainers")) {
		name := str(c, "name")
		if c.Kind != yaml.MappingNode || name == "" {
			return nil, p.errf("", "initContainers[%d] has no name", i)
		}
		if p.containers[name] != nil || p.inits[name] != nil {
			return nil, p.errf(name, "two containers have this name")
		}
		p.initNames = append(p.initNames, name)
		p.inits[name] = c
		if str(c, "restartPolicy") == "Always" {
			p.sidecars[name] = true
		}
	}
	p.restart = str(p.spec, "restartPolicy")
	if p.restart == "" {
		p.restart = "Always"
	}
	explicit := map[string][]string{}
	for _, k := range slices.Sorted(maps.Keys(s)) {
		v := s[k]
		if c, ok := strings.CutPrefix(k, AfterPrefix); ok {
			if err := p.known(c, k); err != nil {
				return nil, err
			}
			deps, err := ParseDeps(v)
			if err != nil {
				return nil, p.errf(c, "%s: %v", k, err)
			}
			for _, d := range deps {
				if d == c {
					return nil, p.errf(c, "%s: depends on itself", k)
				}
				if err := p.known(d, k); err != nil {
					return nil, err
				}
			}
			p.after[c] = deps
		}
		if c, ok := strings.CutPrefix(k, ReadyPrefix); ok {
			if err := p.known(c, k); err != nil {
				return nil, err
			}
			ts, err := ParseTargets(v)
			if err != nil {
				return nil, p.errf(c, "%s: %v", k, err)
			}
			explicit[c] = ts
		}
	}
	if cyc := p.cycle(); cyc != nil {
		return nil, p.errf(cyc[0], "the after annotations form a cycle: %s", strings.Join(cyc, " -> "))
	}
	if err := p.resolveMode(s); err != nil {
		return nil, err
	}
	if err := p.checkInits(); err != nil {
		return nil, err
	}
	if err := p.resolveReadiness(explicit); err != nil {
		return nil, err
	}
	if p.auto && p.mode == Gate && p.unwrappable() {
		p.preferNative(explicit)
	}
	return p, nil
}

// resolveReadiness sets every dependency's readiness: its ready annotation
// (explicit), else what its probes say.
func (p *pod) resolveReadiness(explicit map[string][]string) error {
	p.ready = map[string]readiness{}
	for _, c := range p.all() {
		if !p.isDep(c) {
			continue
		}
		budget, err := p.startupBudget(c)
		if err != nil {
			return err
		}
		if ts, ok := explicit[c]; ok {
			p.ready[c] = readiness{targets: ts, budget: budget}
			continue
		}
		r, err := p.probeReadiness(c)
		if err != nil {
			if existingWait(p.ctr(c)) != "" && p.mode != Tombstone {
				// Its own hook already waits: the order holds without a
				// target, only the dependents' own start gate is lost.
				p.ready[c] = readiness{budget: budget}
				continue
			}
			return err
		}
		r.budget = budget
		p.ready[c] = r
	}
	return nil
}

// unwrappable reports whether a dependent has no command in the manifest
// while one of its dependencies is a regular container: in gate mode only
// that dependency's postStart hook would hold it, which a kubelet restart
// skips.
func (p *pod) unwrappable() bool {
	for _, c := range p.all() {
		if len(p.after[c]) == 0 || hasCommand(p.ctr(c)) {
			continue
		}
		if slices.ContainsFunc(p.after[c], func(d string) bool { return p.containers[d] != nil }) {
			return true
		}
	}
	return false
}

// preferNative switches a pod whose mode inject chose from gate to native,
// where its dependencies are held by a startupProbe that a kubelet restart
// runs again, if native mode can inject it; else the pod stays in gate
// mode (and its warning says what holds it).
func (p *pod) preferNative(explicit map[string][]string) {
	q := *p
	q.mode, q.probing = Native, true
	if q.checkInits() != nil || q.resolveReadiness(explicit) != nil {
		return
	}
	if (&injector{p: &q, o: &Options{}}).check() != nil {
		return
	}
	q.probing, q.preferred = false, true
	*p = q
}

// NativeSidecarsNeed is said once when inject made a dependency a native
// sidecar that the pod did not ask for (a dependent without command).
const NativeSidecarsNeed = "a dependent without command in the manifest: its dependencies became native sidecars (initContainers, restartPolicy: Always) held by a startupProbe that runs podseq wait, which a kubelet restart runs again; this needs Kubernetes 1.29 or later: on 1.27, and on 1.28 without the SidecarContainers feature gate, the API server drops restartPolicy from init containers and rejects the pod for the startupProbe of an init container; there, set podseq.dev/mode: gate (or --mode gate)"

// resolveMode sets the mode: the one asked for, else native when a
// dependency is a native sidecar already (the kubelet stops native sidecars
// after the regular containers, so a Job completes), else gate for pods
// that restart their containers (native instead, once the readiness is
// known, where a dependent has no command: preferNative) and tombstone for
// the others.
func (p *pod) resolveMode(s settings) error {
	if m, ok := s[ModeKey]; ok {
		mode, err := ParseMode(m)
		if err != nil {
			return p.errf("", "%s: %v", ModeKey, err)
		}
		p.mode = mode
		return nil
	}
	p.auto = true
	switch {
	case slices.ContainsFunc(p.initNames, func(c string) bool { return p.sidecars[c] && p.isDep(c) }):
		p.mode = Native
	case p.restart == "Always":
		p.mode = Gate
	default:
		p.mode = Tombstone
	}
	return nil
}

// all returns the names of the init containers, then of the containers.
func (p *pod) all() []string { return append(slices.Clone(p.initNames), p.names...) }

// ctr returns the container or init container named c, or nil.
func (p *pod) ctr(c string) *yaml.Node {
	if n := p.containers[c]; n != nil {
		return n
	}
	return p.inits[c]
}

// known checks that an annotation names a container of the pod.
func (p *pod) known(c, key string) error {
	if p.ctr(c) != nil {
		return nil
	}
	return p.errf(c, "%s: no such container in the pod (containers: %s)", key, strings.Join(p.all(), ", "))
}

// isDep reports whether some container depends on c.
func (p *pod) isDep(c string) bool {
	for _, deps := range p.after {
		if slices.Contains(deps, c) {
			return true
		}
	}
	return false
}

// dependents returns the containers that depend on c, init containers
// first, in container order.
func (p *pod) dependents(c string) []string {
	var out []string
	for _, n := range p.all() {
		if slices.Contains(p.after[n], c) {
			out = append(out, n)
		}
	}
	return out
}

// cycle returns a dependency cycle (first name repeated last), or nil.
func (p *pod) cycle() []string {
	state := map[string]int{} // 0 new, 1 on the stack, 2 done
	var stack []string
	var found []string
	var visit func(c string) bool
	visit = func(c string) bool {
		state[c] = 1
		stack = append(stack, c)
		for _, d := range p.after[c] {
			if state[d] == 1 {
				i := slices.Index(stack, d)
				found = append(slices.Clone(stack[i:]), d)
				return true
			}
			if state[d] == 0 && visit(d) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[c] = 2
		return false
	}
	for _, c := range p.all() {
		if state[c] == 0 && visit(c) {
			return found
		}
	}
	return nil
}

// order returns the containers with every dependency moved just ahead of
// its first dependent, every other relative order kept. Init containers
// are not in it: they start before every container anyway.
func (p *pod) order() []string {
	var out []string
	done := map[string]bool{}
	var emit func(c string)
	emit = func(c string) {
		if done[c] {
			return
		}
		done[c] = true
		deps := slices.Clone(p.after[c])
		sort.SliceStable(deps, func(i, j int) bool {
			return slices.Index(p.names, deps[i]) < slices.Index(p.names, deps[j])
		})
		for _, d := range deps {
			if p.containers[d] != nil {
				emit(d)
			}
		}
		out = append(out, c)
	}
	for _, c := range p.names {
		emit(c)
	}
	return out
}

// probeReadiness derives a dependency's readiness from its readinessProbe,
// else its startupProbe, with kubelet's defaults: one method per handler.
func (p *pod) probeReadiness(c string) (readiness, error) {
	ctr := p.ctr(c)
	probe, which := get(ctr, "readinessProbe"), "readinessProbe"
	if probe == nil {
		probe, which = get(ctr, "startupProbe"), "startupProbe"
	}
	if probe == nil {
		return readiness{}, p.errf(c, "others start after it, but it has no readinessProbe, no startupProbe and no %s%s annotation: podseq cannot tell when it is ready", ReadyPrefix, c)
	}
	pr := probeReader{p: p, c: c, which: which}
	switch {
	case get(probe, "httpGet") != nil:
		return pr.httpGet(get(probe, "httpGet"))
	case get(probe, "tcpSocket") != nil:
		return pr.tcpSocket(get(probe, "tcpSocket"))
	case get(probe, "grpc") != nil:
		return pr.grpc(get(probe, "grpc"))
	case get(probe, "exec") != nil:
		return pr.exec(probe)
	}
	return readiness{}, pr.bad("no httpGet, tcpSocket, grpc or exec handler")
}

// probeReader reads the probe which ("readinessProbe" or "startupProbe")
// of container c as podseq wait targets.
type probeReader struct {
	p     *pod
	c     string
	which string
}

// bad is an error about the probe, with the way around it.
func (r probeReader) bad(format string, a ...any) error {
	return r.p.errf(r.c, "%s: %s (or set %s%s)", r.which, fmt.Sprintf(format, a...), ReadyPrefix, r.c)
}

// port resolves a handler's port, a number or the name of a port of the
// container (or of one that starts before it and serves it).
func (r probeReader) port(h *yaml.Node) (string, error) {
	v := get(h, "port")
	if v == nil || v.Value == "" {
		return "", r.bad("no port")
	}
	number := ""
	if v.ShortTag() == "!!int" {
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 1 || n > 65535 {
			return "", r.bad("port %s: want 1-65535", v.Value)
		}
		number = v.Value
	}
	if pt, ok := r.p.portOf(r.c, v.Value, number != ""); ok {
		return pt, nil
	}
	if other, pt, ok := r.p.servedBy(r.c, v.Value, number != ""); ok {
		if err := r.p.servedBefore(r.c, other, r.which, v.Value, pt); err != nil {
			return "", err
		}
		return pt, nil
	}
	if number != "" {
		return number, nil
	}
	return "", r.bad("port %q: the container has no port of that name", v.Value)
}

// host is a handler's host, localhost by default.
func host(h *yaml.Node) string {
	if s := str(h, "host"); s != "" {
		return s
	}
	return "localhost"
}

// httpGet: an http(s):// target with the probe's headers; kubelet's HTTPS
// probes never verify the certificate, nor does the wait.
func (r probeReader) httpGet(h *yaml.Node) (readiness, error) {
	pt, err := r.port(h)
	if err != nil {
		return readiness{}, err
	}
	scheme := strings.ToLower(str(h, "scheme"))
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" && scheme != "https" {
		return readiness{}, r.bad("httpGet scheme %q: want HTTP or HTTPS", str(h, "scheme"))
	}
	pth := str(h, "path")
	if !strings.HasPrefix(pth, "/") {
		pth = "/" + pth
	}
	t := scheme + "://" + net.JoinHostPort(host(h), pt) + pth
	if _, err := probes.Parse(t, probes.Options{}); err != nil {
		return readiness{}, r.bad("%v", err)
	}
	rd := readiness{targets: []string{t}, insecure: scheme == "https"}
	for _, hh := range items(get(h, "httpHeaders")) {
		name := str(hh, "name")
		if name == "" {
			return readiness{}, r.bad("an httpHeader without a name")
		}
		rd.headers = append(rd.headers, name+":"+str(hh, "value"))
	}
	return rd, nil
}

// tcpSocket: a tcp:// target.
func (r probeReader) tcpSocket(h *yaml.Node) (readiness, error) {
	pt, err := r.port(h)
	if err != nil {
		return readiness{}, err
	}
	return readiness{targets: []string{"tcp://" + net.JoinHostPort(host(h), pt)}}, nil
}

// grpc: a grpc:// health target on localhost, with the probe's service.
func (r probeReader) grpc(h *yaml.Node) (readiness, error) {
	pt, err := r.port(h)
	if err != nil {
		return readiness{}, err
	}
	t := "grpc://" + net.JoinHostPort("localhost", pt)
	if svc := str(h, "service"); svc != "" {
		t += "/" + svc
	}
	if _, err := probes.Parse(t, probes.Options{}); err != nil {
		return readiness{}, r.bad("%v", err)
	}
	return readiness{targets: []string{t}}, nil
}

// exec: the probe's command, which --exec-probe must carry unchanged.
func (r probeReader) exec(probe *yaml.Node) (readiness, error) {
	cmd := stringsOf(path(probe, "exec", "command"))
	if len(cmd) == 0 {
		return readiness{}, r.bad("exec without a command")
	}
	if back, err := probes.SplitCommand(probes.QuoteCommand(cmd)); err != nil || !slices.Equal(back, cmd) {
		return readiness{}, r.bad("exec command %q: podseq wait --exec-probe cannot take it (%v)", cmd, err)
	}
	return readiness{exec: cmd}, nil
}
