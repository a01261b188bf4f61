package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Op is one operation of a JSONPatch (RFC 6902).
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"` // not written for remove
}

// MarshalJSON writes the value for every operation but remove, even when
// it is empty ("", null).
func (o Op) MarshalJSON() ([]byte, error) {
	if o.Op == "remove" {
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{o.Op, o.Path})
	}
	type plain Op
	return json.Marshal(plain(o))
}

// deep lists the objects whose fields the patch sets one by one; any other
// field that changed is replaced whole (spec.containers, spec.volumes, ...),
// which keeps the patch short and right whatever the planner moved.
var deep = map[string]bool{
	"":                      true,
	"/metadata":             true,
	"/metadata/annotations": true,
	"/metadata/labels":      true,
	"/spec":                 true,
}

// Pointer escapes one key for a JSON pointer (RFC 6901): ~ is ~0, / is ~1.
func Pointer(key string) string {
	if !strings.ContainsAny(key, "~/") {
		return key
	}
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

// decodeObject decodes a JSON object, numbers kept as written.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// Diff returns the JSONPatch that turns the object from into to.
func Diff(from, to map[string]any) []Op {
	var ops []Op
	diffObject(&ops, "", from, to)
	return ops
}

func diffObject(ops *[]Op, at string, from, to map[string]any) {
	keys := slices.Sorted(maps.Keys(from))
	for _, k := range keys {
		if _, ok := to[k]; !ok {
			*ops = append(*ops, Op{Op: "remove", Path: at + "/" + Pointer(k)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(to)) {
		p := at + "/" + Pointer(k)
		old, had := from[k]
		switch {
		case !had:
			*ops = append(*ops, Op{Op: "add", Path: p, Value: to[k]})
		case reflect.DeepEqual(old, to[k]):
		default:
			om, ok1 := old.(map[string]any)
			nm, ok2 := to[k].(map[string]any)
			if ok1 && ok2 && deep[p] {
				diffObject(ops, p, om, nm)
				continue
			}
			*ops = append(*ops, Op{Op: "replace", Path: p, Value: to[k]})
		}
	}
}

// covered reports whether have already is want plus what the API server
// defaulted: every field of want is in have with the same value (lists of
// the same length, item by item), and the annotations are equal. A pod the
// webhook planned earlier, unchanged since, is covered by its new plan.
func covered(want, have map[string]any) bool {
	if !reflect.DeepEqual(annotationsOf(want), annotationsOf(have)) {
		return false
	}
	return contains(have, want)
}

func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			hv, ok := h[k]
			if !ok || !contains(hv, v) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(have, want)
}

// annotationsOf returns metadata.annotations, empty when absent.
func annotationsOf(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	a, _ := md["annotations"].(map[string]any)
	if len(a) == 0 {
		return map[string]any{}
	}
	return a
}
