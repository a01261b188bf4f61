package imageconfig

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// pullSecretError is a pull secret that could not be read: Index is its
// position in the list given to Keychain.
type pullSecretError struct {
	Index int
	Err   error
}

func (e *pullSecretError) Error() string {
	return fmt.Sprintf("pull secret %d: %v", e.Index, e.Err)
}

func (e *pullSecretError) Unwrap() error { return e.Err }

// Keychain returns the credentials a pod would pull with: the data of its
// imagePullSecrets, each the `.dockerconfigjson` of a
// kubernetes.io/dockerconfigjson Secret ({"auths": {...}}) or the
// `.dockercfg` of a kubernetes.io/dockercfg one (the map alone), tried in
// order, then the user's own Docker config (authn.DefaultKeychain). A
// registry matches an entry as the kubelet matches it: by host (a leading
// "*." matches one label), then by path prefix, the longest first.
func keychain(pullSecrets ...[]byte) (authn.Keychain, error) {
	var kcs []authn.Keychain
	for i, data := range pullSecrets {
		entries, err := parseDockerConfig(data)
		if err != nil {
			return nil, &pullSecretError{Index: i, Err: err}
		}
		kcs = append(kcs, entries)
	}
	return authn.NewMultiKeychain(append(kcs, authn.DefaultKeychain)...), nil
}

// dockerEntry is one registry's credentials in a Docker config.
type dockerEntry struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// match is a parsed key of a Docker config: host (maybe "*.example.com")
// and path prefix.
type match struct {
	host, path string
	cfg        authn.AuthConfig
}

// secretKeychain holds one secret's entries, most specific first.
type secretKeychain []match

// parseDockerConfig reads a .dockerconfigjson or .dockercfg.
func parseDockerConfig(data []byte) (secretKeychain, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not a Docker config (JSON): %w", err)
	}
	raw := top
	if auths, ok := top["auths"]; ok {
		if err := json.Unmarshal(auths, &raw); err != nil {
			return nil, fmt.Errorf("auths: %w", err)
		}
	}
	var kc secretKeychain
	for key, v := range raw {
		var e dockerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("entry %q: %w", key, err)
		}
		cfg := authn.AuthConfig{Username: e.Username, Password: e.Password,
			IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("entry %q: auth is not base64: %w", key, err)
			}
			u, p, ok := strings.Cut(string(dec), ":")
			if !ok {
				return nil, fmt.Errorf("entry %q: auth is not base64 of user:password", key)
			}
			cfg.Username, cfg.Password = u, p
		}
		host, path, err := parseKey(key)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", key, err)
		}
		kc = append(kc, match{host: host, path: path, cfg: cfg})
	}
	sort.SliceStable(kc, func(i, j int) bool {
		a, b := kc[i], kc[j]
		if wa, wb := strings.HasPrefix(a.host, "*."), strings.HasPrefix(b.host, "*."); wa != wb {
			return !wa
		}
		if len(a.path) != len(b.path) {
			return len(a.path) > len(b.path)
		}
		return a.host+a.path < b.host+b.path
	})
	return kc, nil
}

// dockerHubHosts are the names of Docker Hub in config keys.
var dockerHubHosts = map[string]bool{"index.docker.io": true, "docker.io": true, "registry-1.docker.io": true}

// parseKey splits a config key ("https://index.docker.io/v1/",
// "registry.example.com:5000/team") into a host and a path prefix.
func parseKey(key string) (host, path string, err error) {
	k := key
	if !strings.Contains(k, "://") {
		k = "https://" + k
	}
	u, err := url.Parse(k)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("not a registry: %q", key)
	}
	host = strings.ToLower(u.Host)
	path = strings.Trim(u.Path, "/")
	if dockerHubHosts[host] {
		host = name.DefaultRegistry
		if path == "v1" || path == "v2" {
			path = ""
		}
	}
	return host, path, nil
}

// Resolve returns the credentials of the most specific entry matching the
// target, or anonymous.
func (kc secretKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	host := strings.ToLower(target.RegistryStr())
	if dockerHubHosts[host] {
		host = name.DefaultRegistry
	}
	repo := ""
	if r, ok := target.(name.Repository); ok {
		repo = r.RepositoryStr()
	}
	for _, m := range kc {
		if !hostMatches(m.host, host) {
			continue
		}
		if m.path != "" && repo != m.path && !strings.HasPrefix(repo, m.path+"/") {
			continue
		}
		return authn.FromConfig(m.cfg), nil
	}
	return authn.Anonymous, nil
}

// hostMatches reports whether pattern ("reg.example.com:5000",
// "*.example.com") matches host; a wildcard stands for one label.
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	rest, ok := strings.CutPrefix(pattern, "*.")
	if !ok {
		return false
	}
	label, suffix, ok := strings.Cut(host, ".")
	return ok && label != "" && suffix == rest
}
