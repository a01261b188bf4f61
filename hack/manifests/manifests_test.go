package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// root is the repository's manifests/ directory, from hack/manifests.
const root = "../../manifests"

// kustomization is the part of kustomize's Kustomization that the manifests
// use; decoding it strictly rejects any other field.
type kustomization struct {
	metav1.TypeMeta `json:",inline"`
	Resources       []string                 `json:"resources"`
	Namespace       string                   `json:"namespace,omitempty"`
	Images          []types.Image            `json:"images,omitempty"`
	Patches         []types.Patch            `json:"patches,omitempty"`
	Replacements    []types.ReplacementField `json:"replacements,omitempty"`
}

// kinds maps apiVersion/kind to a new value of its Go type. A manifest of
// another kind fails the test: add the kind here.
var kinds = map[string]func() any{
	"v1/Pod":                            func() any { return new(corev1.Pod) },
	"v1/Service":                        func() any { return new(corev1.Service) },
	"v1/ConfigMap":                      func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                         func() any { return new(corev1.Secret) },
	"v1/ServiceAccount":                 func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":               func() any { return new(appsv1.StatefulSet) },
	"apps/v1/DaemonSet":                 func() any { return new(appsv1.DaemonSet) },
	"batch/v1/Job":                      func() any { return new(batchv1.Job) },
	"batch/v1/CronJob":                  func() any { return new(batchv1.CronJob) },
	"rbac.authorization.k8s.io/v1/Role": func() any { return new(rbacv1.Role) },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return new(rbacv1.RoleBinding) },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return new(rbacv1.ClusterRole) },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return new(rbacv1.ClusterRoleBinding) },
	"v1/Namespace":                  func() any { return new(corev1.Namespace) },
	"policy/v1/PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
	"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": func() any {
		return new(admissionregistrationv1.MutatingWebhookConfiguration)
	},
	"cert-manager.io/v1/Issuer":                     func() any { return new(cmIssuer) },
	"cert-manager.io/v1/Certificate":                func() any { return new(cmCertificate) },
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return new(kustomization) },
}

// object is one decoded document.
type object struct {
	file string // relative to manifests/
	doc  int    // 1-based index in the file
	key  string // apiVersion/kind
	obj  any
}

func (o object) String() string { return fmt.Sprintf("%s#%d (%s)", o.file, o.doc, o.key) }

// decodeFile splits a file into YAML documents and decodes each strictly.
func decodeFile(name string, data []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s#%d: %w", name, doc, err)
		}
		j, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return out, fmt.Errorf("%s#%d: %w", name, doc, err)
		}
		if string(bytes.TrimSpace(j)) == "null" {
			doc-- // only comments or an empty document
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(raw, &tm); err != nil {
			return out, fmt.Errorf("%s#%d: %w", name, doc, err)
		}
		key := tm.APIVersion + "/" + tm.Kind
		newObj, ok := kinds[key]
		if !ok {
			return out, fmt.Errorf("%s#%d: unknown kind %q (add it to kinds in hack/manifests)", name, doc, key)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			return out, fmt.Errorf("%s#%d (%s): %w", name, doc, key, err)
		}
		out = append(out, object{file: name, doc: doc, key: key, obj: obj})
	}
}

// loadAll decodes every .yaml and .yml file under root, by directory.
func loadAll(t *testing.T) map[string][]object {
	t.Helper()
	dirs := map[string][]object{}
	n := 0
	for _, f := range readTree(t) {
		if !(strings.HasSuffix(f.rel, ".yaml") || strings.HasSuffix(f.rel, ".yml")) {
			continue
		}
		objs, err := decodeFile(f.rel, f.data)
		if err != nil {
			t.Error(err)
		}
		if len(objs) == 0 && err == nil {
			t.Errorf("%s: no document", f.rel)
		}
		dir := path.Dir(f.rel)
		dirs[dir] = append(dirs[dir], objs...)
		n++
	}
	if n == 0 {
		t.Fatalf("no manifest under %s", root)
	}
	return dirs
}

// treeFile is one file under root.
type treeFile struct {
	rel  string // slash-separated, relative to root
	data []byte
}

// readTree reads every file under root, in lexical order.
func readTree(t *testing.T) []treeFile {
	t.Helper()
	var files []treeFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, treeFile{filepath.ToSlash(rel), data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// eachContainer calls f for every init and regular container of every pod
// in objs.
func eachContainer(objs []object, f func(o object, c corev1.Container)) {
	for _, o := range objs {
		if spec, _ := podSpec(o.obj); spec != nil {
			for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
				f(o, c)
			}
		}
	}
}

// TestStrictDecoderRejects proves the decoder is strict: each of these
// documents must fail.
func TestStrictDecoderRejects(t *testing.T) {
	cases := map[string]string{
		"unknown field": "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: a\n    image: busybox:1.36\n    imagePullPolicyy: IfNotPresent\n",
		"duplicate key": "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nmetadata: {name: b}\n",
		"wrong type":    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: http\n",
		"unknown kind":  "apiVersion: v1\nkind: Podd\nmetadata: {name: a}\n",
		"wrong group":   "apiVersion: v1\nkind: Deployment\nmetadata: {name: a}\n",
		"bad second document": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndatta: {}\n",
	}
	for name, doc := range cases {
		if _, err := decodeFile(name, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
	objs, err := decodeFile("ok", []byte("# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"))
	if err != nil || len(objs) != 1 || objs[0].doc != 1 {
		t.Errorf("a good file: got %v, %v", objs, err)
	}
}

// TestManifests decodes every manifest strictly and checks its pods.
func TestManifests(t *testing.T) {
	dirs := loadAll(t)
	for dir, objs := range dirs {
		t.Run(dir, func(t *testing.T) {
			checkKustomization(func(msg string) { t.Helper(); t.Error(msg) }, dir, objs)
			for _, o := range objs {
				if spec, meta := podSpec(o.obj); spec != nil {
					checkPod(func(msg string) { t.Helper(); t.Error(msg) }, o, meta, spec, objs)
				}
			}
		})
	}
	// The directories the docs and scripts name.
	for _, want := range []string{"demo", "demo-push", "native-sidecar", "install", "init-wait", "static-pod", "statefulset"} {
		if _, ok := dirs[want]; !ok {
			t.Errorf("manifests/%s is missing", want)
		}
	}
}

// checkKustomization: the directory has a kustomization.yaml, every
// resource listed exists, and every other YAML file of the directory is
// listed, so `kubectl apply -k DIR` applies them all. Where a pod runs
// podseq's image, the image is written as a release's,
// ghcr.io/podseq/podseq:vX.Y.Z (what people copy), and the kustomization has
// an images: entry for it that maps it to podseq:dev, the image make
// image-tar builds from the checkout and the e2e loads, so that pointing every
// container at another image is one edit (README.md, "The image").
func checkKustomization(report func(string), dir string, objs []object) {
	errorf := func(format string, a ...any) { report(fmt.Sprintf(format, a...)) }
	files := map[string]bool{}
	var k *kustomization
	var podseqImages []string
	for _, o := range objs {
		if kk, ok := o.obj.(*kustomization); ok {
			k = kk
			continue
		}
		files[path.Base(o.file)] = true
	}
	eachContainer(objs, func(o object, c corev1.Container) {
		if isPodseqImage(c.Image) {
			podseqImages = append(podseqImages, c.Image)
			if !releaseImage.MatchString(c.Image) {
				errorf("%s: container %s: image %q: write %s:vX.Y.Z (a release), and let the kustomization's images: entry map it to %s", o, c.Name, c.Image, releaseRepo, devImage)
			}
		}
	})
	if k == nil {
		errorf("%s has no kustomization.yaml", dir)
		return
	}
	for _, r := range k.Resources {
		if !strings.HasSuffix(r, ".yaml") && !strings.HasSuffix(r, ".yml") {
			// Another folder of manifests/, built with its own kustomization.
			if _, err := os.Stat(filepath.Join(root, dir, r, "kustomization.yaml")); err != nil {
				errorf("%s/kustomization.yaml: resource %s is not a folder with a kustomization.yaml", dir, r)
			}
			continue
		}
		if !files[r] {
			errorf("%s/kustomization.yaml: resource %s is not a manifest of the directory", dir, r)
		}
		delete(files, r)
	}
	for f := range files {
		errorf("%s/kustomization.yaml does not list %s", dir, f)
	}
	if len(podseqImages) > 0 && !isBase(dir) && !slices.ContainsFunc(k.Images, func(i types.Image) bool {
		return i.Name == releaseRepo && i.NewName+":"+i.NewTag == devImage && i.Digest == ""
	}) {
		errorf("%s/kustomization.yaml: no images: entry mapping %s to %s (the image of the checkout, which the e2e loads)", dir, releaseRepo, devImage)
	}
}

// isBase reports whether dir is a folder that another folder of manifests/
// lists among its resources (manifests/webhook/core). A base must not map
// the image itself: kustomize applies a base's images: entry first, and the
// including kustomization's entry, the one the README says to edit, would
// then find nothing left to map.
func isBase(dir string) bool {
	found := false
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || found || d.IsDir() || d.Name() != "kustomization.yaml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		var k types.Kustomization
		if yaml.Unmarshal(data, &k) != nil {
			return nil
		}
		for _, r := range k.Resources {
			rel, err := filepath.Rel(root, filepath.Join(filepath.Dir(p), r))
			if err == nil && filepath.ToSlash(rel) == dir {
				found = true
			}
		}
		return nil
	})
	return found
}

// devImage is the image of a checkout (make image-tar), which each
// kustomization's images: entry maps podseq's image to.
const devImage = "podseq:dev"

// releaseRepo is where releases are published (internal/version.Repository;
// hack/release's test checks the manifests name it), and releaseImage a
// release's image as the manifests write it.
const releaseRepo = "ghcr.io/podseq/podseq"

var releaseImage = regexp.MustCompile(`^` + regexp.QuoteMeta(releaseRepo) + `:v[0-9]+\.[0-9]+\.[0-9]+$`)

// podSpec returns the pod template of a workload.
func podSpec(obj any) (*corev1.PodSpec, *metav1.ObjectMeta) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.Spec, &o.ObjectMeta
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, &o.Spec.Template.ObjectMeta
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec, &o.Spec.Template.ObjectMeta
	case *appsv1.DaemonSet:
		return &o.Spec.Template.Spec, &o.Spec.Template.ObjectMeta
	case *batchv1.Job:
		return &o.Spec.Template.Spec, &o.Spec.Template.ObjectMeta
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec, &o.Spec.JobTemplate.Spec.Template.ObjectMeta
	}
	return nil, nil
}

// isPodseqImage reports whether image is podseq's.
func isPodseqImage(image string) bool {
	repo := image
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo == "podseq" || strings.HasSuffix(repo, "/podseq")
}

// invocation is one run of the podseq binary found in a container.
type invocation struct {
	where string   // "command", "postStart", "script", ...
	argv  []string // argv[0] is the binary's path
}

// invocations finds every podseq run in a container: its command (with the
// image's entrypoint /podseq when the image is podseq's and command is
// empty), its lifecycle hooks and exec probes, and the podseq command lines
// of `sh -c` scripts.
func invocations(c corev1.Container) []invocation {
	var out []invocation
	add := func(where string, argv []string) {
		if len(argv) > 0 && path.Base(argv[0]) == "podseq" {
			out = append(out, invocation{where, argv})
			return
		}
		// sh -c SCRIPT: each line that runs podseq, split on blanks.
		if len(argv) >= 3 && path.Base(argv[0]) == "sh" && argv[1] == "-c" {
			for _, line := range strings.Split(argv[2], "\n") {
				f := strings.Fields(line)
				for i, w := range f {
					if path.Base(w) == "podseq" && strings.HasPrefix(w, "/") {
						out = append(out, invocation{where + " script", f[i:]})
						break
					}
				}
			}
		}
	}
	argv := append(slices.Clone(c.Command), c.Args...)
	if len(c.Command) == 0 && isPodseqImage(c.Image) {
		argv = append([]string{"/podseq"}, c.Args...)
	}
	add("command", argv)
	if l := c.Lifecycle; l != nil {
		if l.PostStart != nil && l.PostStart.Exec != nil {
			add("postStart", l.PostStart.Exec.Command)
		}
		if l.PreStop != nil && l.PreStop.Exec != nil {
			add("preStop", l.PreStop.Exec.Command)
		}
	}
	for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p != nil && p.Exec != nil {
			add(name, p.Exec.Command)
		}
	}
	return out
}

// flagValue returns the value of --name=V or --name V in args, and whether
// the flag is there.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// positional returns the arguments that are not flags (nor flag values of the
// form --flag VALUE for the value-taking flags listed), up to "--".
func positional(args []string) []string {
	var out []string
	for _, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
		}
	}
	return out
}

// podCtx is what the checks of one pod need.
type podCtx struct {
	report func(string) // t.Error, or a collector in tests of the checks
	obj    object
	meta   *metav1.ObjectMeta
	spec   *corev1.PodSpec
	all    []object // the directory's objects: Services, other workloads
}

func (p podCtx) errorf(format string, a ...any) {
	p.report(fmt.Sprintf("%s: %s", p.obj, fmt.Sprintf(format, a...)))
}

// injectOrders reports whether an after.podseq.dev annotation of the pod
// template names container c: podseq inject, which such manifests are made
// for, gives c its postStart hook.
func injectOrders(meta *metav1.ObjectMeta, c string) bool {
	for k, v := range meta.Annotations {
		if !strings.HasPrefix(k, "after.podseq.dev/") {
			continue
		}
		for _, d := range strings.Split(v, ",") {
			if strings.TrimSpace(d) == c {
				return true
			}
		}
	}
	return false
}

// checkPod runs the semantic checks on one pod template.
func checkPod(report func(string), o object, meta *metav1.ObjectMeta, spec *corev1.PodSpec, all []object) {
	p := podCtx{report: report, obj: o, meta: meta, spec: spec, all: all}
	checkRestricted(p)
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	names := map[string]bool{}
	// ordered: init containers, then containers, as kubelet starts them.
	ordered := append(slices.Clone(spec.InitContainers), spec.Containers...)
	for i, c := range ordered {
		init := i < len(spec.InitContainers)
		if names[c.Name] {
			p.errorf("container name %s is used twice", c.Name)
		}
		names[c.Name] = true
		if c.Image == "" || !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
			p.errorf("%s: image %q: give an explicit tag", c.Name, c.Image)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				p.errorf("%s: volumeMount %s names no volume of the pod", c.Name, m.Name)
			}
		}
		if isPodseqImage(c.Image) {
			if c.ImagePullPolicy != corev1.PullIfNotPresent {
				p.errorf("%s: imagePullPolicy %q: want IfNotPresent (podseq:dev is loaded, not pulled)", c.Name, c.ImagePullPolicy)
			}
			checkHardened(p, c)
		}
		if init && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && c.StartupProbe == nil &&
			(c.Lifecycle == nil || c.Lifecycle.PostStart == nil) && !gatedOn(ordered[i+1:], c.Name) && !injectOrders(meta, c.Name) {
			p.errorf("%s: a native sidecar without a startupProbe, a postStart hook or a --birth-deps on it does not hold back the containers after it", c.Name)
		}
		for name, pr := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
			if pr == nil {
				continue
			}
			if pr.HTTPGet != nil && !containerHasPort(c, &pr.HTTPGet.Port) {
				p.errorf("%s: %s port %s is not a port of the container", c.Name, name, pr.HTTPGet.Port.String())
			}
			if pr.TCPSocket != nil && !containerHasPort(c, &pr.TCPSocket.Port) {
				p.errorf("%s: %s port %s is not a port of the container", c.Name, name, pr.TCPSocket.Port.String())
			}
		}
		for _, inv := range invocations(c) {
			checkInvocation(p, ordered, i, init, c, inv)
		}
	}
}

// gatedOn reports whether one of cs starts its command only once the
// container name is ready: podseq run --birth-deps naming it.
func gatedOn(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		for _, inv := range invocations(c) {
			if deps, ok := flagValue(inv.argv[1:], "birth-deps"); ok && slices.Contains(strings.Split(deps, ","), name) {
				return true
			}
		}
	}
	return false
}

// checkHardened: podseq's containers also run with a read-only root file
// system (checkRestricted covers the rest of their securityContext).
func checkHardened(p podCtx, c corev1.Container) {
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.errorf("%s: want readOnlyRootFilesystem: true", c.Name)
	}
}

// containerHasPort reports whether a probe's port (a number or a name) is
// one of the container's ports.
func containerHasPort(c corev1.Container, port interface{ String() string }) bool {
	s := port.String()
	for _, cp := range c.Ports {
		if cp.Name == s || strconv.Itoa(int(cp.ContainerPort)) == s {
			return true
		}
	}
	return false
}

// checkInvocation checks one run of podseq in container c (index i of
// ordered, the pod's containers in start order).
func checkInvocation(p podCtx, ordered []corev1.Container, i int, init bool, c corev1.Container, inv invocation) {
	where := c.Name + " " + inv.where
	bin := inv.argv[0]
	if !binaryExists(p, ordered, i, c, bin) {
		p.errorf("%s: %s does not exist in the container: it is /podseq in podseq's image, or a copy made by `podseq install DIR` in an earlier init container into a volume this container mounts", where, bin)
	}
	if len(inv.argv) < 2 {
		p.errorf("%s: %q: no podseq command", where, inv.argv)
		return
	}
	sub, args := inv.argv[1], inv.argv[2:]
	switch sub {
	case "wait":
		v, ok := flagValue(args, "timeout")
		d, err := time.ParseDuration(v)
		if !ok || err != nil || d <= 0 {
			p.errorf("%s: podseq wait needs a finite --timeout (kubelet never times out a postStart hook); got %q", where, v)
		}
		targets := positional(args)
		if _, probe := flagValue(args, "exec-probe"); len(targets) == 0 && !probe {
			p.errorf("%s: podseq wait has no target", where)
		}
		for _, tg := range targets {
			checkTarget(p, ordered, i, init, where, inv.where == "postStart", tg)
		}
	case "run":
		listen, ok := flagValue(args, "listen")
		if _, step := flagValue(args, "after"); !ok && step {
			listen = "127.0.0.1:0" // a step's default: no fixed port
		} else if !ok {
			listen = ":15780"
		}
		_, port, err := net.SplitHostPort(listen)
		if port == "0" {
			break // any free port: nothing to declare
		}
		if err != nil || !containerHasPort(c, stringer(port)) {
			p.errorf("%s: podseq run listens on %s: declare containerPort %s (the admin port that podseq wait and probes use)", where, listen, port)
		}
	case "install":
		pos := positional(args)
		if len(pos) != 1 {
			p.errorf("%s: podseq install wants one DIR, got %q", where, pos)
			break
		}
		if mountAt(c, pos[0]) == "" {
			p.errorf("%s: podseq install %s: no volume is mounted there, the copy would be lost", where, pos[0])
		}
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// mountAt returns the volume mounted at dir in c ("" if none).
func mountAt(c corev1.Container, dir string) string {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == path.Clean(dir) {
			return m.Name
		}
	}
	return ""
}

// binaryExists reports whether bin is in container c: /podseq in podseq's
// image, else DIR/NAME where c mounts a volume at DIR into which an init
// container before c installs podseq under NAME.
func binaryExists(p podCtx, ordered []corev1.Container, i int, c corev1.Container, bin string) bool {
	if bin == "/podseq" && isPodseqImage(c.Image) {
		return true
	}
	vol := mountAt(c, path.Dir(bin))
	if vol == "" {
		return false
	}
	for j, ic := range p.spec.InitContainers {
		if j >= i {
			break
		}
		for _, inv := range invocations(ic) {
			if len(inv.argv) < 2 || inv.argv[1] != "install" {
				continue
			}
			args := inv.argv[2:]
			name, ok := flagValue(args, "name")
			if !ok {
				name = "podseq"
			}
			pos := positional(args)
			if len(pos) == 1 && mountAt(ic, pos[0]) == vol && name == path.Base(bin) {
				return true
			}
		}
	}
	return false
}

// checkTarget checks that what a wait target names exists: a local port is
// served by a container of the pod that starts no later than the waiter (a
// postStart hook waiting for a container listed after it would wait for
// ever), a remote one by a Service of the directory.
func checkTarget(p podCtx, ordered []corev1.Container, i int, init bool, where string, postStart bool, target string) {
	u, err := url.Parse(target)
	if err != nil {
		p.errorf("%s: target %q: %v", where, target, err)
		return
	}
	switch u.Scheme {
	case "http", "https", "tcp", "grpc", "grpcs":
	default:
		return // unix, file, tombstone, ...: nothing to check here
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		p.errorf("%s: target %q: give the port", where, target)
		return
	}
	if host == "localhost" || host == "127.0.0.1" || host == "::1" {
		for j, c := range ordered {
			if !containerHasPort(c, stringer(port)) {
				continue
			}
			switch {
			case j > i:
				p.errorf("%s: waits for port %s of %s, which kubelet starts only after %s: it would wait until --timeout", where, port, c.Name, ordered[i].Name)
			case j < len(p.spec.InitContainers) && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) && j != i:
				p.errorf("%s: waits for port %s of init container %s, which has exited by then", where, port, c.Name)
			case init && j == i && !postStart:
				p.errorf("%s: an init container waits for its own port %s", where, port)
			}
			return
		}
		p.errorf("%s: target %q: no container of the pod declares containerPort %s", where, target, port)
		return
	}
	// Remote: SERVICE, SERVICE.NAMESPACE..., or POD.SERVICE... (headless).
	labelsOf := strings.Split(host, ".")
	for _, name := range labelsOf[:min(2, len(labelsOf))] {
		if svc := findService(p.all, name); svc != nil {
			checkServicePort(p, where, target, svc, port)
			return
		}
	}
	p.errorf("%s: target %q: no Service named %s in this directory", where, target, labelsOf[0])
}

func findService(all []object, name string) *corev1.Service {
	for _, o := range all {
		if s, ok := o.obj.(*corev1.Service); ok && s.Name == name {
			return s
		}
	}
	return nil
}

// checkServicePort: the Service has the port, and a workload of the
// directory that the selector picks declares its target port.
func checkServicePort(p podCtx, where, target string, svc *corev1.Service, port string) {
	for _, sp := range svc.Spec.Ports {
		if strconv.Itoa(int(sp.Port)) != port {
			continue
		}
		tp := sp.TargetPort.String()
		if tp == "0" || tp == "" {
			tp = port
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, o := range p.all {
			spec, meta := podSpec(o.obj)
			if spec == nil || len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(meta.Labels)) {
				continue
			}
			for _, c := range spec.Containers {
				if containerHasPort(c, stringer(tp)) {
					return
				}
			}
		}
		p.errorf("%s: target %q: no pod selected by Service %s declares its targetPort %s", where, target, svc.Name, tp)
		return
	}
	p.errorf("%s: target %q: Service %s has no port %s", where, target, svc.Name, port)
}
