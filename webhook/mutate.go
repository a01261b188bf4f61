package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/podseq/podseq/inject"
)

// NotInjectedKey is the annotation the webhook puts on a pod that asked for
// an order it could not give: the reason, one line. Together with
// inject.InjectedKey it tells apart the pods the webhook ordered, those it
// could not order (this one) and those it never saw (neither).
const NotInjectedKey = "podseq.dev/not-injected"

// The results of a review, the values of the metric's result label.
const (
	// ResultPatched: the pod is ordered by the patch.
	ResultPatched = "patched"
	// ResultUnchanged: nothing to do (no order asked, or ordered already).
	ResultUnchanged = "unchanged"
	// ResultWarned: admitted with a warning, ordered or not.
	ResultWarned = "warned"
	// ResultDenied: refused, in strict mode.
	ResultDenied = "denied"
	// ResultError: a request that is no review of a Pod's creation, or an
	// error of the webhook's own (the pod is admitted all the same).
	ResultError = "error"
)

// Results lists every result, in the order above.
var Results = []string{ResultPatched, ResultUnchanged, ResultWarned, ResultDenied, ResultError}

var podResource = GroupVersionResource{Version: "v1", Resource: "pods"}

// review answers one request and says which result it counts as.
func (s *Server) review(req *AdmissionRequest, strict bool) (resp *AdmissionResponse, result string) {
	resp = &AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind != (GroupVersionKind{Version: "v1", Kind: "Pod"}) || req.Resource != podResource || req.SubResource != "" {
		what := req.Resource.Resource
		if req.SubResource != "" {
			what += "/" + req.SubResource
		}
		resp.Result = &Status{Code: http.StatusOK, Message: fmt.Sprintf("podseq orders pods only: %s (kind %s) admitted unchanged; the webhook's rules should send only pods", what, req.Kind.Kind)}
		s.log.Warn("review of something else than a pod", "uid", req.UID, "resource", what, "kind", req.Kind.Kind)
		return resp, ResultError
	}
	if req.Operation != "CREATE" {
		resp.Result = &Status{Code: http.StatusOK, Message: fmt.Sprintf("podseq orders pods at CREATE only: %s admitted unchanged; the webhook's rules should send only CREATE", req.Operation)}
		s.log.Warn("review of another operation than CREATE", "uid", req.UID, "operation", req.Operation)
		return resp, ResultError
	}
	plan, planErr := s.plan(req.Object)
	if errors.Is(planErr, inject.ErrBadInput) {
		resp.Result = &Status{Code: http.StatusOK, Message: "podseq: the request's object is not a Pod (" + oneLine(planErr.Error()) + "): admitted unchanged"}
		s.log.Warn("review without a pod", "uid", req.UID, "err", planErr)
		return resp, ResultError
	}
	var orig map[string]any
	if planErr == nil {
		orig = plan.pod0
	} else if o, err := decodeObject(req.Object); err == nil {
		orig = o
	} else {
		resp.Result = &Status{Code: http.StatusOK, Message: "podseq: the request's object is not a JSON object: admitted unchanged"}
		s.log.Warn("review without a pod", "uid", req.UID, "err", err)
		return resp, ResultError
	}
	name := podName(orig, req)
	line := func(why string) string { return "podseq: pod " + name + ": " + why }
	// What the webhook said on an earlier invocation is said again, or not.
	pod := orig
	if _, ok := annotationsOf(orig)[NotInjectedKey]; ok {
		pod = withoutAnnotation(orig, NotInjectedKey)
		if plan != nil {
			plan.pod = withoutAnnotation(plan.pod, NotInjectedKey)
		}
	}
	var pe *inject.PodError
	switch {
	case planErr == nil:
	case errors.As(planErr, &pe):
		why := oneLine(pe.Error())
		if strict {
			return deny(resp, line(why)), ResultDenied
		}
		s.log.Info("not ordered", "pod", name, "uid", req.UID, "reason", why)
		return s.notInjected(resp, orig, pod, why, line(why)), ResultWarned
	default:
		why := "not ordered: " + oneLine(planErr.Error())
		if strict {
			return deny(resp, line(why)), ResultDenied
		}
		s.log.Error("plan", "pod", name, "uid", req.UID, "err", planErr)
		return s.notInjected(resp, orig, pod, why, line(why)), ResultError
	}
	for _, w := range plan.warnings {
		resp.Warnings = append(resp.Warnings, line(w))
	}
	if covered(plan.pod, orig) {
		if len(resp.Warnings) > 0 {
			return resp, ResultWarned
		}
		return resp, ResultUnchanged
	}
	if err := setPatch(resp, Diff(orig, plan.pod)); err != nil {
		s.log.Error("encode the patch", "pod", name, "err", err)
		return &AdmissionResponse{UID: req.UID, Allowed: true, Warnings: []string{line("not ordered: internal error: " + err.Error())}}, ResultError
	}
	s.log.Debug("ordered", "pod", name, "uid", req.UID)
	if len(resp.Warnings) > 0 {
		return resp, ResultWarned
	}
	return resp, ResultPatched
}

// planned is a plan: the pod as it came and as planned.
type planned struct {
	pod0, pod map[string]any
	warnings  []string
}

// plan runs inject's planner on a pod given as JSON; a panic in the
// planner is an error, not a dead webhook.
func (s *Server) plan(in []byte) (p *planned, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("internal error: %v", r)
		}
	}()
	objs, err := inject.PlanPodObjects(in, s.cfg.Inject)
	if err != nil {
		return nil, err
	}
	return &planned{pod0: objs.Original, pod: objs.Planned, warnings: objs.Warnings}, nil
}

// notInjected admits the pod as it came (without an earlier reason), with
// the reason as an annotation and the line as a warning.
func (s *Server) notInjected(resp *AdmissionResponse, orig, pod map[string]any, why, line string) *AdmissionResponse {
	resp.Warnings = append(resp.Warnings, line)
	want := withAnnotation(pod, NotInjectedKey, why)
	if err := setPatch(resp, Diff(orig, want)); err != nil {
		s.log.Error("encode the patch", "err", err)
	}
	return resp
}

func deny(resp *AdmissionResponse, line string) *AdmissionResponse {
	resp.Allowed = false
	resp.Result = &Status{Code: http.StatusForbidden, Reason: "Forbidden", Message: line}
	return resp
}

func setPatch(resp *AdmissionResponse, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	pt := PatchTypeJSON
	resp.Patch, resp.PatchType = b, &pt
	return nil
}

// podName names a pod in messages: namespace/name, or namespace/prefix*
// for a pod whose name the API server has not generated yet.
func podName(pod map[string]any, req *AdmissionRequest) string {
	md, _ := pod["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	if ns == "" {
		ns = req.Namespace
	}
	name, _ := md["name"].(string)
	if name == "" {
		name = req.Name
	}
	if name == "" {
		gen, _ := md["generateName"].(string)
		name = gen + "*"
	}
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// withAnnotation returns a copy of pod (metadata and annotations copied)
// with the annotation set.
func withAnnotation(pod map[string]any, key, value string) map[string]any {
	out, ann := copyAnnotations(pod)
	ann[key] = value
	return out
}

// withoutAnnotation returns a copy of pod without the annotation.
func withoutAnnotation(pod map[string]any, key string) map[string]any {
	out, ann := copyAnnotations(pod)
	delete(ann, key)
	if len(ann) == 0 {
		delete(out["metadata"].(map[string]any), "annotations")
	}
	return out
}

func copyAnnotations(pod map[string]any) (map[string]any, map[string]any) {
	out := shallow(pod)
	md, _ := pod["metadata"].(map[string]any)
	md = shallow(md)
	out["metadata"] = md
	ann, _ := md["annotations"].(map[string]any)
	ann = shallow(ann)
	md["annotations"] = ann
	return out, ann
}

func shallow(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// oneLine folds text onto one line, for warnings and logs.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
