package inject

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/internal/flagname"
	"github.com/podseq/podseq/probes"
)

// Names of what inject adds to a pod. --undo removes exactly these.
const (
	// BinDir is where the podseq-bin emptyDir is mounted (read-only, except
	// in the install container).
	BinDir = "/podseq-bin"
	// Bin is the podseq executable that the hooks and wrapped commands run.
	Bin = BinDir + "/podseq"
	// BinVolume is the emptyDir that carries the podseq executable.
	BinVolume = "podseq-bin"
	// GraveyardDir is where the tombstone emptyDir is mounted.
	GraveyardDir = "/podseq-graveyard"
	// GraveyardVolume is the emptyDir of the tombstones (tombstone mode).
	GraveyardVolume = "podseq-graveyard"
	// InstallContainer is the init container that runs podseq install.
	InstallContainer = "podseq-install"
	// InstallUID is the podseq image's USER, which the install container
	// runs as; it is written only into pods that run as root.
	InstallUID = 65532
	// BasePort is the first admin port given to podseq run (tombstone mode),
	// its default (probes.AdminPort); the next free ones follow. A
	// hostNetwork pod gets none: its ports would be the node's.
	BasePort = probes.AdminPort
	// DefaultContainerKey is kubectl's annotation for the container that
	// kubectl logs and exec reach without -c. inject sets it to the first
	// container of the input when it puts another one first.
	DefaultContainerKey = "kubectl.kubernetes.io/default-container"
)

// record is what --undo needs beyond the marks inject leaves.
type record struct {
	// Containers: the names of spec.containers, in their original order.
	Containers []string `json:"containers"`
	// Native: containers moved into initContainers as native sidecars.
	Native []string `json:"native,omitempty"`
	// Created: fields inject created (metadata, annotations, initContainers,
	// volumes, CONTAINER/volumeMounts, CONTAINER/lifecycle).
	Created []string `json:"created,omitempty"`
	// Settings: the annotations inject set from flags, with their previous
	// values (null: absent).
	Settings map[string]*string `json:"settings,omitempty"`
	// Probes: the startupProbes inject replaced by its own, as YAML, by
	// container.
	Probes map[string]string `json:"probes,omitempty"`
}

// injector applies one pod's plan.
type injector struct {
	p     *pod
	o     *Options
	rec   record
	notes []string // what the injected annotation says, per container
	weak  []string // containers gated by a hook alone: why and how to fix
	// kept: dependencies whose own postStart hook already waits (the
	// hook's program), left as they are.
	kept    map[string]string
	mounted map[string]bool // containers given the podseq-bin mount
	// probed: native sidecars held by a startupProbe that runs podseq wait
	// instead of a postStart hook.
	probed map[string]bool
	// delivery: how podseq reaches the containers; imageVolume: it is
	// mounted from its image in this pod.
	delivery    Delivery
	imageVolume bool
	// src: the document's text, where a replaced value's lines are found
	// (nil: none, as for a pod the webhook plans).
	src *source
}

// probeRecord returns the undo record of the startupProbe old of the
// container ctr: its lines as the file has them where they can be found
// (or as an earlier --undo in this run put them back), else printed from
// the tree with its comments.
func (in *injector) probeRecord(ctr, old *yaml.Node) (string, error) {
	if in.src != nil {
		if t, ok := in.src.verbatim[old]; ok {
			return t, nil
		}
		if t, ok := in.src.valueText(keyNode(ctr, "startupProbe")); ok {
			if n, err := yaml.Parse(t); err == nil && sameTree(n.YNode(), old) {
				return t, nil
			}
		}
	}
	old = copyNode(old, func(*yaml.Node) bool { return true })
	dropTrailingComments(old) // the text keeps the lines that end the probe
	b, err := yaml.MarshalWithOptions(old, &yaml.EncoderOptions{SeqIndent: yaml.WideSequenceStyle})
	return string(b), err
}

// ensure returns m[key], creating it (a mapping or a sequence) if absent and
// recording label in rec.Created.
func (in *injector) ensure(m *yaml.Node, key, label string, kind yaml.Kind) *yaml.Node {
	if v := get(m, key); v != nil && v.Kind == kind {
		return v
	}
	v := &yaml.Node{Kind: kind, Tag: map[yaml.Kind]string{yaml.MappingNode: "!!map", yaml.SequenceNode: "!!seq"}[kind]}
	del(m, key) // null or empty: replaced, restored as absent
	set(m, key, v)
	in.rec.Created = append(in.rec.Created, label)
	return v
}

func (in *injector) mount(c string, volume, dir string, readOnly bool) {
	ctr := in.p.ctr(c)
	vms := in.ensure(ctr, "volumeMounts", c+"/volumeMounts", yaml.SequenceNode)
	m := mapping("name", volume, "mountPath", dir)
	if readOnly {
		m.Content = append(m.Content, scalar("readOnly"), boolean(true))
	}
	vms.Content = append(vms.Content, m)
}

// mountBin mounts podseq-bin read-only in c, once.
func (in *injector) mountBin(c string) {
	if in.mounted[c] {
		return
	}
	if in.mounted == nil {
		in.mounted = map[string]bool{}
	}
	in.mounted[c] = true
	in.mount(c, BinVolume, BinDir, true)
}

// hook makes podseq wait (argv: wait and its flags and targets) c's
// postStart hook. An exec hook it already has runs first, to its end, as
// the command of podseq wait --command-first ... -- HOOK.
func (in *injector) hook(c string, argv []string) {
	ctr := in.p.ctr(c)
	in.mountBin(c)
	if cmd := path(ctr, "lifecycle", "postStart", "exec", "command"); cmd != nil && cmd.Kind == yaml.SequenceNode && len(cmd.Content) > 0 {
		in.prefix(cmd, append([]string{Bin, argv[0], flagname.Flag(flagname.CommandFirst)}, argv[1:]...))
		return
	}
	lc := in.ensure(ctr, "lifecycle", c+"/lifecycle", yaml.MappingNode)
	set(lc, "postStart", mapping("exec", mapping("command", seq(append([]string{Bin}, argv...)...))))
}

// wrap puts argv and "--" in front of the container's command. Its args,
// which the runtime appends to the command, stay as they are.
func (in *injector) wrap(c string, argv []string) {
	in.prefix(get(in.p.ctr(c), "command"), argv)
}

// prefix puts argv and "--" in front of the command cmd.
func (in *injector) prefix(cmd *yaml.Node, argv []string) {
	add := seq(append(slices.Clone(argv), "--")...).Content
	if cmd.Style&yaml.FlowStyle != 0 { // quote as the first word is quoted
		for _, a := range add {
			a.Style = cmd.Content[0].Style
		}
	}
	cmd.Content = append(add, cmd.Content...)
}

// waitArgs is podseq wait for the given readiness, without the executable.
func (in *injector) waitArgs(rs ...readiness) []string {
	args := []string{flagname.Wait, flagname.Arg(flagname.Timeout, in.timeoutFor(rs...))}
	if slices.ContainsFunc(rs, func(r readiness) bool { return r.insecure }) {
		args = append(args, insecureFlag)
	}
	var targets []string
	for _, r := range rs {
		for _, h := range r.headers {
			if !slices.Contains(args, flagname.Arg(flagname.Header, h)) {
				args = append(args, flagname.Arg(flagname.Header, h))
			}
		}
		if r.exec != nil {
			args = append(args, flagname.Arg(flagname.ExecProbe, probes.QuoteCommand(r.exec)))
		}
		targets = append(targets, r.targets...)
	}
	return append(args, targets...)
}

// insecureFlag makes podseq check an HTTPS target without verifying its
// certificate, as kubelet's probes do.
var insecureFlag = flagname.Flag(flagname.InsecureSkipVerify)

// timeoutFor is the deadline of a wait for rs: the longest startupProbe
// budget among them, at least the --timeout of the options.
func (in *injector) timeoutFor(rs ...readiness) string {
	floor := in.o.timeout()
	longest, err := time.ParseDuration(floor)
	if err != nil {
		return floor // checkOptions rejected it
	}
	budget := longest
	for _, r := range rs {
		budget = max(budget, r.budget)
	}
	if budget == longest {
		return floor
	}
	return formatDuration(budget)
}

// formatDuration prints 10m0s as 10m and 1h0m0s as 1h.
func formatDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// ourVolume reports whether a volume of that name is one inject adds.
func ourVolume(name string) bool { return name == BinVolume || name == GraveyardVolume }

func hasCommand(ctr *yaml.Node) bool {
	cmd := get(ctr, "command")
	return cmd != nil && cmd.Kind == yaml.SequenceNode && len(cmd.Content) > 0
}

// check rejects what inject cannot do to this pod, before any change.
func (in *injector) check() error {
	p := in.p
	for _, v := range items(get(p.spec, "volumes")) {
		if n := str(v, "name"); ourVolume(n) {
			return p.errf("", "a volume is already named %s (inject adds it)", n)
		}
	}
	if p.ctr(InstallContainer) != nil {
		return p.errf(InstallContainer, "a container already has this name (inject adds it)")
	}
	for _, c := range p.names {
		involved := p.isDep(c) || len(p.after[c]) > 0
		if !involved {
			continue
		}
		ctr := p.containers[c]

		if p.mode == Tombstone {
			if !hasCommand(ctr) {
				what := "it starts after " + strings.Join(p.after[c], ", ")
				if p.isDep(c) {
					what = "it must stop once " + strings.Join(p.dependents(c), ", ") + " exited"
					if p.restart == "Always" {
						what = "it must outlive " + strings.Join(p.dependents(c), ", ")
					}
				}
				return p.errf(c, "no command in the manifest: tombstone mode runs it under podseq run because %s, which needs its command (podseq never looks an image up): write the image's entrypoint as command%s", what, p.suggest(Tombstone))
			}
			if r, ok := p.ready[c]; ok && r.exec != nil {
				return p.errf(c, "readiness by an exec probe: podseq run takes URL targets; set %s%s", ReadyPrefix, c)
			}
			continue
		}
		if p.isDep(c) && p.mode == Native && get(ctr, "restartPolicy") != nil {
			return p.errf(c, "already has a restartPolicy: cannot become a native sidecar%s", p.suggest(Native))
		}
	}
	if p.mode == Tombstone {
		return nil
	}
	for _, c := range p.all() {
		if !p.isDep(c) {
			continue
		}
		ps := path(p.ctr(c), "lifecycle", "postStart")
		if ps == nil || existingWait(p.ctr(c)) != "" {
			continue
		}
		if cmd := path(ps, "exec", "command"); cmd == nil || cmd.Kind != yaml.SequenceNode || len(cmd.Content) == 0 {
			return p.errf(c, "already has a postStart hook that is not an exec command, which podseq wait cannot run before it waits: write the hook as an exec command, or drop it%s", p.suggest(p.mode))
		}
	}
	return nil
}

// apply injects the pod's plan and returns warnings for hook-only gates.
func (in *injector) apply(s settings) error {
	if err := in.check(); err != nil {
		return err
	}
	p := in.p
	var err error
	if in.delivery, err = p.delivery(s); err != nil {
		return err
	}
	in.rec.Containers = slices.Clone(p.names)
	in.kept = map[string]string{}
	for _, c := range p.all() {
		if w := existingWait(p.ctr(c)); w != "" && p.isDep(c) && p.mode != Tombstone {
			in.kept[c] = w
		}
	}
	switch p.mode {
	case Gate:
		in.gate()
	case Native:
		if err := in.native(); err != nil {
			return err
		}
	case Tombstone:
		in.tombstone()
	}
	if len(in.mounted) > 0 || p.mode == Tombstone { // else every hook was kept
		in.deliver()
	}
	if cs := get(p.spec, "containers"); len(cs.Content) > 0 && str(cs.Content[0], "name") != p.names[0] {
		if _, set := annotations(p.tmpl)[DefaultContainerKey]; !set {
			s = maps.Clone(s)
			s[DefaultContainerKey] = p.names[0]
		}
	}
	return in.annotate(s)
}

// gateDep gives a dependency its postStart hook, unless its own already
// waits.
func (in *injector) gateDep(c string) {
	if w := in.kept[c]; w != "" {
		in.notes = append(in.notes, fmt.Sprintf("%s's own postStart hook (%s) kept", c, w))
		return
	}
	in.hook(c, in.waitArgs(in.p.ready[c]))
}

func (in *injector) gate() {
	p := in.p
	cs := get(p.spec, "containers")
	order := p.order()
	cs.Content = cs.Content[:0]
	for _, c := range order {
		cs.Content = append(cs.Content, p.containers[c])
	}
	for _, c := range p.initNames {
		if p.isDep(c) {
			in.gateDep(c)
		}
		in.gateOwnStart(c, "native sidecar's postStart hook")
	}
	for _, c := range order {
		if p.isDep(c) {
			in.gateDep(c)
		}
		in.gateOwnStart(c, "postStart hook")
	}
}

// gateOwnStart makes a dependent wait in its own command too, where it can.
func (in *injector) gateOwnStart(c, by string) {
	p := in.p
	deps := p.after[c]
	if len(deps) == 0 {
		return
	}
	var rs []readiness
	var execDeps, blind, hidden []string
	for _, d := range deps {
		r := p.ready[d]
		if r.exec != nil {
			execDeps = append(execDeps, d)
		}
		if r.exec == nil && len(r.targets) == 0 {
			blind = append(blind, d)
		}
		var ts []string
		for _, t := range r.targets {
			nt, why := p.translate(d, c, t)
			if why != "" {
				hidden = append(hidden, why)
			}
			ts = append(ts, nt)
		}
		r.targets = ts
		rs = append(rs, r)
	}
	list := strings.Join(deps, ", ")
	hookOnly := func(why string) {
		in.weak = append(in.weak, why)
		in.notes = append(in.notes, fmt.Sprintf("%s after %s (%s only)", c, list, by))
	}
	var hooked []string // dependencies that only a postStart hook holds
	for _, d := range deps {
		if !in.probed[d] {
			hooked = append(hooked, d)
		}
	}
	switch {
	case !hasCommand(p.ctr(c)) && len(hooked) == 0:
		in.notes = append(in.notes, fmt.Sprintf("%s after %s (native sidecar's startupProbe)", c, list))
	case !hasCommand(p.ctr(c)):
		whose := "its postStart hook"
		if len(hooked) > 1 {
			whose = "their postStart hooks"
		}
		hookOnly(fmt.Sprintf("%s: no command in the manifest and %s can only be held by %s, which a kubelet restart skips (kubernetes#122803): %s may start before %s is ready; write %s's command in the manifest and inject again", c, strings.Join(hooked, ", "), whose, c, strings.Join(hooked, ", "), c))
	case len(execDeps) > 0:
		hookOnly(fmt.Sprintf("%s: %s is ready by an exec probe, which runs only in its own container, so only the %s holds %s back; set %s%s to a URL to make it safe", c, strings.Join(execDeps, ", "), by, c, ReadyPrefix, execDeps[0]))
	case len(blind) > 0:
		hookOnly(fmt.Sprintf("%s: %s has no probe and no %s%s annotation, so only its own postStart hook holds %s back; set %s%s to make %s wait in its own start too", c, blind[0], ReadyPrefix, blind[0], c, ReadyPrefix, blind[0], c))
	case len(hidden) > 0:
		hookOnly(fmt.Sprintf("%s: only the %s holds it back, since its own start cannot check the target: %s", c, by, hidden[0]))
	default:
		in.mountBin(c)
		in.wrap(c, append([]string{Bin}, in.waitArgs(rs...)...))
		in.notes = append(in.notes, fmt.Sprintf("%s after %s (%s and its own command)", c, list, by))
	}
}

// sidecarGate holds back what starts after the native sidecar c: by a
// startupProbe that runs podseq wait where a dependent has no command (the
// kubelet runs a startupProbe again after it restarts, a postStart hook
// never), else by its postStart hook, as in gate mode.
func (in *injector) sidecarGate(c string) error {
	p := in.p
	if in.kept[c] != "" || !slices.ContainsFunc(p.dependents(c), func(d string) bool { return !hasCommand(p.ctr(d)) }) {
		in.gateDep(c)
		return nil
	}
	ctr := p.ctr(c)
	if old := get(ctr, "startupProbe"); old != nil {
		text, err := in.probeRecord(ctr, old)
		if err != nil {
			return p.errf(c, "startupProbe: cannot record it for --undo: %v", err)
		}
		if in.rec.Probes == nil {
			in.rec.Probes = map[string]string{}
		}
		in.rec.Probes[c] = text
	}
	r := p.ready[c]
	timeout := in.timeoutFor(r)
	d, _ := time.ParseDuration(timeout) // checkOptions and timeoutFor give a valid one
	in.mountBin(c)
	set(ctr, "startupProbe", mapping(
		"exec", mapping("command", seq(append([]string{Bin}, in.waitArgs(r)...)...)),
		"periodSeconds", 1,
		// Above the wait's own --timeout: the kubelet shows podseq's
		// line, not its own "timed out".
		"timeoutSeconds", int((d+probeExecSlack+time.Second-1)/time.Second),
		// The wait has retried for its whole timeout: then the kubelet
		// restarts c, and starts nothing after it meanwhile.
		"failureThreshold", 1,
		"successThreshold", 1,
	))
	if in.probed == nil {
		in.probed = map[string]bool{}
	}
	in.probed[c] = true
	in.notes = append(in.notes, c+"'s startupProbe waits")
	return nil
}

// probeExecSlack is how much longer than its podseq wait --timeout the
// kubelet lets a startupProbe's exec run.
const probeExecSlack = 10 * time.Second

func (in *injector) native() error {
	p := in.p
	var natives []string // in start order
	for _, c := range p.order() {
		if p.isDep(c) {
			natives = append(natives, c)
		}
	}
	cs := get(p.spec, "containers")
	cs.Content = cs.Content[:0]
	for _, c := range p.names {
		if !p.isDep(c) {
			cs.Content = append(cs.Content, p.containers[c])
		}
	}
	for _, c := range p.initNames {
		if p.isDep(c) {
			if err := in.sidecarGate(c); err != nil {
				return err
			}
		}
	}
	if len(natives) > 0 {
		ics := in.ensure(p.spec, "initContainers", "initContainers", yaml.SequenceNode)
		for _, c := range natives {
			ctr := p.containers[c]
			set(ctr, "restartPolicy", scalar("Always"))
			ics.Content = append(ics.Content, ctr)
			if err := in.sidecarGate(c); err != nil {
				return err
			}
		}
	}
	in.rec.Native = natives
	for _, c := range p.all() {
		in.gateOwnStart(c, "native sidecar's postStart hook")
	}
	return nil
}

func (in *injector) tombstone() {
	p := in.p
	used := map[string]bool{}
	for _, key := range []string{"containers", "initContainers"} {
		for _, ctr := range items(get(p.spec, key)) {
			for _, cp := range items(get(ctr, "ports")) {
				used[str(cp, "containerPort")] = true
			}
		}
	}
	// On the host's network a fixed port is the node's: a second such pod
	// on the node (another DaemonSet, a rollout's surge) could not bind it,
	// and the admin server would answer on every node address. The order
	// rests on the tombstones in the graveyard, which need no port.
	hostNetwork := str(p.spec, "hostNetwork") == "true"
	port := BasePort
	for _, c := range p.names {
		deps, dependents := p.after[c], p.dependents(c)
		if len(deps) == 0 && len(dependents) == 0 {
			continue
		}
		args := []string{Bin, flagname.Run, flagname.Arg(flagname.Name, c), flagname.Arg(flagname.Graveyard, GraveyardDir)}
		if hostNetwork {
			args = append(args, flagname.Arg(flagname.Listen, flagname.ListenNone))
		} else {
			for used[strconv.Itoa(port)] {
				port++
			}
			args = append(args, flagname.Arg(flagname.Listen, ":"+strconv.Itoa(port)))
			port++
		}
		var what []string
		if len(deps) > 0 {
			var rs []readiness
			for _, d := range deps {
				rs = append(rs, p.ready[d])
			}
			args = append(args, flagname.Arg(flagname.BirthDeps, strings.Join(deps, ",")), flagname.Arg(flagname.BirthTimeout, in.timeoutFor(rs...)))
			what = append(what, "starts after "+strings.Join(deps, ", "))
		}
		if len(dependents) > 0 {
			r := p.ready[c]
			for _, h := range r.headers {
				args = append(args, flagname.Arg(flagname.Header, h))
			}
			if r.insecure {
				args = append(args, insecureFlag)
			}
			for _, t := range r.targets {
				args = append(args, flagname.Arg(flagname.Ready, t))
			}
			if p.restart == "Always" {
				// --outlive holds SIGTERM for up to --grace, then the sidecar
				// has --grace again: both fit in the pod's grace period.
				args = append(args, flagname.Arg(flagname.Outlive, strings.Join(dependents, ",")), flagname.Arg(flagname.Grace, strconv.Itoa(p.grace()/2)+"s"))
				what = append(what, "outlives "+strings.Join(dependents, ", "))
			} else {
				args = append(args, flagname.Arg(flagname.DeathDeps, strings.Join(dependents, ",")))
				what = append(what, "stops once "+strings.Join(dependents, ", ")+" exited")
			}
		}
		in.wrap(c, args)
		in.mount(c, BinVolume, BinDir, true)
		in.mount(c, GraveyardVolume, GraveyardDir, false)
		in.notes = append(in.notes, c+" "+strings.Join(what, " and "))
	}
}

// grace is the pod's terminationGracePeriodSeconds (Kubernetes' default 30),
// at least 2.
func (p *pod) grace() int {
	n, err := strconv.Atoi(str(p.spec, "terminationGracePeriodSeconds"))
	if err != nil {
		n = 30
	}
	return max(n, 2)
}

// install adds the init container that copies podseq into the emptyDir, and
// the emptyDirs.
func (in *injector) install() {
	p := in.p
	ics := in.ensure(p.spec, "initContainers", "initContainers", yaml.SequenceNode)
	ctr := mapping(
		"name", InstallContainer,
		"image", in.o.image(),
		"args", seq(flagname.Install, BinDir),
		"volumeMounts", seqOf(mapping("name", BinVolume, "mountPath", BinDir)),
		// Limits too: a namespace quota on limits.cpu rejects a pod
		// whose containers have none. Copying podseq takes milliseconds.
		"resources", mapping("requests", mapping("cpu", "10m", "memory", "16Mi"), "limits", mapping("cpu", "100m", "memory", "64Mi")),
		// No runAsUser: the image's numeric USER (65532) meets runAsNonRoot,
		// and OpenShift's restricted SCC, which assigns each namespace its
		// own UIDs, rejects a fixed one outside them.
		"securityContext", mapping(
			"allowPrivilegeEscalation", false,
			"capabilities", mapping("drop", seq("ALL")),
			"readOnlyRootFilesystem", true,
			"runAsNonRoot", true,
			"seccompProfile", mapping("type", "RuntimeDefault"),
		),
	)
	if str(path(p.spec, "securityContext"), "runAsUser") == "0" {
		// A pod that runs as root says so for all its containers: the
		// install container would inherit UID 0, which runAsNonRoot refuses.
		// Such a pod is outside the restricted SCC anyway.
		sc := get(ctr, "securityContext")
		sc.Content = slices.Insert(sc.Content, len(sc.Content)-2, scalar("runAsUser"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(InstallUID)})
	}
	ics.Content = append([]*yaml.Node{ctr}, ics.Content...)
	vols := in.ensure(p.spec, "volumes", "volumes", yaml.SequenceNode)
	vols.Content = append(vols.Content, mapping("name", BinVolume, "emptyDir", mapping()))
	if p.mode == Tombstone {
		vols.Content = append(vols.Content, mapping("name", GraveyardVolume, "emptyDir", mapping()))
	}
}

// annotate writes the settings inject used, what it did and the undo record.
func (in *injector) annotate(s settings) error {
	md := in.ensure(in.p.tmpl, "metadata", "metadata", yaml.MappingNode)
	ann := in.ensure(md, "annotations", "annotations", yaml.MappingNode)
	before := annotations(in.p.tmpl)
	for _, k := range slices.Sorted(maps.Keys(s)) {
		old, had := before[k]
		if had && old == s[k] {
			continue
		}
		if in.rec.Settings == nil {
			in.rec.Settings = map[string]*string{}
		}
		if had {
			in.rec.Settings[k] = &old
			get(ann, k).Value = s[k]
		} else {
			in.rec.Settings[k] = nil
			set(ann, k, scalar(s[k]))
		}
	}
	set(ann, InjectedKey, scalar(string(in.p.mode)+": "+strings.Join(in.notes, "; ")))
	if len(in.weak) > 0 {
		set(ann, UnsafeKey, scalar(strings.Join(in.weak, "; ")))
	}
	b, err := json.Marshal(in.rec)
	if err != nil {
		return fmt.Errorf("record undo: %w", err)
	}
	set(ann, UndoKey, scalar(string(b)))
	return nil
}

// dropTrailingComments clears the comments below the last entry of n, and
// of the last entry in that, down the tree: the comment lines that end a
// replaced value stay in the text, so a record of the value leaves them out.
func dropTrailingComments(n *yaml.Node) {
	for ; n != nil; n = lastOf(n) {
		n.FootComment = ""
		if n.Kind == yaml.MappingNode && len(n.Content) >= 2 {
			n.Content[len(n.Content)-2].FootComment = "" // a key holds the comments below its entry
		}
	}
}

// lastOf returns the last node in n, or nil.
func lastOf(n *yaml.Node) *yaml.Node {
	if len(n.Content) == 0 {
		return nil
	}
	return n.Content[len(n.Content)-1]
}
