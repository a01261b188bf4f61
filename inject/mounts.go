package inject

import (
	"fmt"
	"net/url"
	pathpkg "path"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// mountAt is a container's volume mount that holds a path.
type mountAt struct {
	volume, subPath, mountPath string
	rest                       string // the path below mountPath, "" or starting with /
}

// mountOf returns the volume mount of ctr under which the absolute path p
// lies (the deepest one).
func mountOf(ctr *yaml.Node, p string) (mountAt, bool) {
	var best mountAt
	found := false
	for _, m := range items(get(ctr, "volumeMounts")) {
		mp := pathpkg.Clean(str(m, "mountPath"))
		if !strings.HasPrefix(mp, "/") {
			continue
		}
		var rest string
		switch {
		case p == mp:
		case mp == "/":
			rest = p
		case strings.HasPrefix(p, mp+"/"):
			rest = p[len(mp):]
		default:
			continue
		}
		if !found || len(mp) > len(best.mountPath) {
			best = mountAt{volume: str(m, "name"), subPath: str(m, "subPath"), mountPath: mp, rest: rest}
			if get(m, "subPathExpr") != nil {
				best.subPath = "\x00" // expanded at run time: never matched
			}
			found = true
		}
	}
	return best, found
}

// translate turns a file:// or unix:// target, a path in the filesystem of
// the dependency dep, into the same file seen from the dependent c, through
// the volume they share. Other targets are returned as they are. why says
// what the dependent cannot see, and what to do.
func (p *pod) translate(dep, c, target string) (string, string) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "file" && u.Scheme != "unix") {
		return target, ""
	}
	fp := pathpkg.Clean(u.Path)
	m, ok := mountOf(p.ctr(dep), fp)
	if !ok {
		return "", fmt.Sprintf("%s is in %s's own filesystem, on no volume, so %s cannot see it: put it on a volume that both mount", target, dep, c)
	}
	if m.subPath == "\x00" {
		return "", fmt.Sprintf("%s is on volume %s under a subPathExpr, which inject cannot follow: set %s%s to a target that %s serves on the network", target, m.volume, ReadyPrefix, dep, dep)
	}
	// The path from the volume's root, then from each mount of it in c.
	vp := pathpkg.Join("/", m.subPath, m.rest)
	for _, dm := range items(get(p.ctr(c), "volumeMounts")) {
		if str(dm, "name") != m.volume || get(dm, "subPathExpr") != nil {
			continue
		}
		sub := pathpkg.Join("/", str(dm, "subPath"))
		var below string
		switch {
		case sub == "/":
			below = vp
		case vp == sub:
		case strings.HasPrefix(vp, sub+"/"):
			below = vp[len(sub):]
		default:
			continue
		}
		v := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: pathpkg.Join(str(dm, "mountPath"), below)}
		return v.String(), ""
	}
	return "", fmt.Sprintf("%s is on volume %s, which %s does not mount: mount %s in %s (at any path) and inject again", target, m.volume, c, m.volume, c)
}
