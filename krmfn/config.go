package krmfn

import (
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/inject"
)

// The functionConfig kind this function reads.
const (
	// ConfigAPIVersion is the apiVersion of the functionConfig.
	ConfigAPIVersion = "podseq.dev/v1alpha1"
	// ConfigKind is the kind of the functionConfig.
	ConfigKind = "Inject"
)

// ConfigError is a bad functionConfig: Field is the path of the field at
// fault (spec.mode), "" for the object as a whole.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "functionConfig: " + e.Msg
	}
	return "functionConfig " + e.Field + ": " + e.Msg
}

// configOptions reads the functionConfig (nil for none) into inject's
// options, starting from defaults. The functionConfig is:
//
//	apiVersion: podseq.dev/v1alpha1
//	kind: Inject
//	metadata: {name: podseq}
//	spec:
//	  after: {app: proxy}                   # or proxy,db, or [proxy, db]
//	  ready: {proxy: http://localhost:9901/ready}   # or a list of targets
//	  mode: gate                            # gate, native or tombstone
//	  image: ghcr.io/podseq/podseq:v0.1.0
//	  timeout: 2m
//	  undo: false
//
// Every field is optional; a field it does not know is an error.
func configOptions(fc *yaml.RNode, defaults inject.Options) (inject.Options, error) {
	o := defaults
	if fc == nil || yaml.IsMissingOrNull(fc) {
		return o, nil
	}
	root := fc.YNode()
	if root.Kind != yaml.MappingNode {
		return o, &ConfigError{Msg: "not a mapping"}
	}
	var spec *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, root.Content[i+1]
		switch k {
		case "apiVersion":
			if v.Value != ConfigAPIVersion {
				return o, &ConfigError{Field: k, Msg: fmt.Sprintf("%q: want %s", v.Value, ConfigAPIVersion)}
			}
		case "kind":
			if v.Value != ConfigKind {
				return o, &ConfigError{Field: k, Msg: fmt.Sprintf("%q: want %s", v.Value, ConfigKind)}
			}
		case "metadata":
		case "spec":
			spec = v
		default:
			return o, &ConfigError{Field: k, Msg: "unknown field (want apiVersion, kind, metadata, spec)"}
		}
	}
	if spec == nil || spec.Tag == "!!null" {
		return o, nil
	}
	if spec.Kind != yaml.MappingNode {
		return o, &ConfigError{Field: "spec", Msg: "not a mapping"}
	}
	for i := 0; i+1 < len(spec.Content); i += 2 {
		k, v := spec.Content[i].Value, spec.Content[i+1]
		field := "spec." + k
		var err error
		switch k {
		case "after":
			o.After, err = perContainer(v, field, inject.ParseDeps, ",")
		case "ready":
			o.Ready, err = perContainer(v, field, inject.ParseTargets, " ")
		case "mode":
			var s string
			if s, err = scalar(v, field); err == nil {
				if o.Mode, err = inject.ParseMode(s); err != nil {
					err = &ConfigError{Field: field, Msg: err.Error()}
				}
			}
		case "image":
			var s string
			if s, err = scalar(v, field); err == nil {
				if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\r\n") {
					err = &ConfigError{Field: field, Msg: fmt.Sprintf("%q: want an image reference", s)}
				}
				o.Image = s
			}
		case "timeout":
			var s string
			if s, err = scalar(v, field); err == nil {
				d, perr := time.ParseDuration(s)
				switch {
				case perr != nil:
					err = &ConfigError{Field: field, Msg: fmt.Sprintf("%q: want a duration such as 2m", s)}
				case d <= 0:
					err = &ConfigError{Field: field, Msg: fmt.Sprintf("%s: want a positive duration", s)}
				default:
					o.Timeout = inject.FormatTimeout(d)
				}
			}
		case "undo":
			var s string
			if s, err = scalar(v, field); err == nil {
				switch s {
				case "true":
					o.Undo = true
				case "false":
					o.Undo = false
				default:
					err = &ConfigError{Field: field, Msg: fmt.Sprintf("%q: want true or false", s)}
				}
			}
		default:
			err = &ConfigError{Field: field, Msg: "unknown field (want after, ready, mode, image, timeout, undo)"}
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// scalar is the value of a scalar field.
func scalar(v *yaml.Node, field string) (string, error) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return "", &ConfigError{Field: field, Msg: "want a single value"}
	}
	return v.Value, nil
}

// perContainer reads a map of container name to a value that is a string
// (parse splits it) or a list of strings (joined by sep, then parsed, so that
// both forms are checked alike).
func perContainer(v *yaml.Node, field string, parse func(string) ([]string, error), sep string) (map[string][]string, error) {
	if v.Kind != yaml.MappingNode {
		return nil, &ConfigError{Field: field, Msg: "want a map of container name to value"}
	}
	m := map[string][]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		name, val := strings.TrimSpace(v.Content[i].Value), v.Content[i+1]
		f := field + "." + name
		if name == "" {
			return nil, &ConfigError{Field: field, Msg: "an empty container name"}
		}
		var s string
		switch val.Kind {
		case yaml.ScalarNode:
			s = val.Value
		case yaml.SequenceNode:
			parts := make([]string, 0, len(val.Content))
			for _, e := range val.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, &ConfigError{Field: f, Msg: "want a list of strings"}
				}
				parts = append(parts, e.Value)
			}
			s = strings.Join(parts, sep)
		default:
			return nil, &ConfigError{Field: f, Msg: "want a string or a list of strings"}
		}
		vs, err := parse(s)
		if err != nil {
			return nil, &ConfigError{Field: f, Msg: err.Error()}
		}
		m[name] = append(m[name], vs...)
	}
	return m, nil
}
