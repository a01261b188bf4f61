// Package webhook is podseq's mutating admission webhook: an HTTPS server
// that receives the Pods the API server is creating (AdmissionReview
// admission.k8s.io/v1), plans each with inject's code from the same
// annotations `podseq inject` reads, and answers a JSONPatch. It never
// blocks a pod unless asked to (strict): what it cannot do it says in an
// admission warning and an annotation on the pod, and the pod is admitted
// unordered. It also makes the certificates it serves with when no
// cert-manager is there (certs.go, kube.go).
package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The AdmissionReview of admission.k8s.io/v1, as much of it as the webhook
// reads and writes; the names and JSON keys are the API's.
const (
	// ReviewAPIVersion is the only version the webhook speaks.
	ReviewAPIVersion = "admission.k8s.io/v1"
	// ReviewKind is the kind of the request and the answer.
	ReviewKind = "AdmissionReview"
	// PatchTypeJSON is the one patch type of admission webhooks.
	PatchTypeJSON = "JSONPatch"
)

// AdmissionReview is the body of a request and of its answer.
type AdmissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *AdmissionRequest  `json:"request,omitempty"`
	Response   *AdmissionResponse `json:"response,omitempty"`
}

// GroupVersionKind names a kind, as the API does.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// GroupVersionResource names a resource, as the API does.
type GroupVersionResource struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

// AdmissionRequest is what the API server asks about.
type AdmissionRequest struct {
	UID         string               `json:"uid"`
	Kind        GroupVersionKind     `json:"kind"`
	Resource    GroupVersionResource `json:"resource"`
	SubResource string               `json:"subResource,omitempty"`
	Name        string               `json:"name,omitempty"`
	Namespace   string               `json:"namespace,omitempty"`
	Operation   string               `json:"operation"`
	Object      json.RawMessage      `json:"object,omitempty"`
	DryRun      *bool                `json:"dryRun,omitempty"`
}

// Status is the part of metav1.Status an answer carries.
type Status struct {
	Code    int32  `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// AdmissionResponse is the webhook's answer.
type AdmissionResponse struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Result    *Status  `json:"status,omitempty"`
	Patch     []byte   `json:"patch,omitempty"` // base64 in JSON, as the API wants
	PatchType *string  `json:"patchType,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// RequestError is a request the webhook cannot answer as a review: its
// HTTP status and one line saying why.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, a ...any) error {
	return &RequestError{Status: 400, Msg: fmt.Sprintf(format, a...)}
}

// DecodeReview decodes a request body into an AdmissionReview with a
// request, or returns a *RequestError naming what is wrong.
func DecodeReview(body []byte) (*AdmissionReview, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var r AdmissionReview
	if err := dec.Decode(&r); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return nil, badRequest("not an AdmissionReview: field %s: want a JSON %s", ute.Field, ute.Type)
		}
		return nil, badRequest("not an AdmissionReview: malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, badRequest("not an AdmissionReview: more than one JSON value")
	}
	if r.APIVersion != ReviewAPIVersion || r.Kind != ReviewKind {
		return nil, badRequest("not an AdmissionReview: apiVersion %q, kind %q: want %s %s", r.APIVersion, r.Kind, ReviewAPIVersion, ReviewKind)
	}
	if r.Request == nil {
		return nil, badRequest("an AdmissionReview without a request")
	}
	if r.Request.UID == "" {
		return nil, badRequest("an AdmissionReview whose request has no uid")
	}
	return &r, nil
}
