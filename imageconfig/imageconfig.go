// Package imageconfig finds what a container runs when its manifest gives no
// command: the ENTRYPOINT and CMD of its image's config, read from the
// registry. podseq can wrap a dependent's start in a gate (`podseq wait ...
// -- ARGV`) only when it knows that argv; for a container whose manifest
// omits `command`, the argv is in the image.
//
// A lookup is a network call to a registry, with the credentials the pod
// would use, and registries rate-limit them: a Resolver asks only for the
// manifest's digest (a HEAD request) when the reference is a tag, and reads
// the config only for a digest it has not seen (Cache). A reference by tag
// can move after the lookup; Config.Pinned says whether it was a digest.
//
// This package is for kubectl-podseq (inject and its webhook), never for the
// podseq binary that goes into pods: it pulls in go-containerregistry.
package imageconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Config is the part of an image's config that decides a container's argv.
type Config struct {
	// Ref is the reference as asked ("nginx:1.27").
	Ref string `json:"ref"`
	// Digest is the digest of the image manifest the config was read from
	// (for an index, the manifest of Platform).
	Digest string `json:"digest"`
	// RefDigest is the digest the reference resolved to: Digest, or the
	// index's for a multi-platform image. Pin the reference to it.
	RefDigest string `json:"refDigest"`
	// Platform is the platform whose image was read ("linux/amd64").
	Platform string `json:"platform"`
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	// Pinned is true when Ref names a digest: the node runs exactly this
	// image. A tag can move between the lookup and the pull.
	Pinned bool `json:"pinned"`
}

// Argv is the argv the runtime starts for a container of this image whose
// manifest sets command and args (either may be empty), by Kubernetes'
// rules: command replaces ENTRYPOINT and drops CMD; args replace CMD.
// It is nil when the result would be empty (an image with neither
// ENTRYPOINT nor CMD, and no command or args: the container cannot start).
func (c Config) Argv(command, args []string) []string {
	var argv []string
	switch {
	case len(command) > 0:
		argv = append(slices.Clone(command), args...)
	case len(args) > 0:
		argv = append(slices.Clone(c.Entrypoint), args...)
	default:
		argv = append(slices.Clone(c.Entrypoint), c.Cmd...)
	}
	if len(argv) == 0 {
		return nil
	}
	return argv
}

// movingTagWarning is the one line to print when the config was looked up by
// tag ("" for a digest): the wrapped command holds the argv of the image the
// tag named at lookup time.
func (c Config) movingTagWarning() string {
	if c.Pinned {
		return ""
	}
	return fmt.Sprintf("image %q is a tag, not a digest: its ENTRYPOINT/CMD were read from %s now; "+
		"if the tag moves, the wrapped command may not be the new image's (pin it: %s@%s)",
		c.Ref, c.Digest, strings.SplitN(c.Ref, "@", 2)[0], c.RefDigest)
}

// Reason classifies a failed lookup, for callers that react differently
// (an unauthorized lookup asks for credentials; a rate limit for a cache).
type Reason string

// The reasons a lookup fails.
const (
	ReasonBadReference Reason = "bad reference"
	ReasonUnauthorized Reason = "unauthorized"
	ReasonNotFound     Reason = "not found"
	ReasonRateLimited  Reason = "rate limited"
	ReasonPlatform     Reason = "no image for the platform"
	ReasonNoArgv       Reason = "no ENTRYPOINT or CMD"
	ReasonUnreachable  Reason = "registry unreachable"
	ReasonRegistry     Reason = "registry error"
)

// LookupError is a failed lookup of one image. Its message is one line that
// names the image, what went wrong and what to do.
type LookupError struct {
	Ref    string
	Reason Reason
	Err    error
}

func (e *LookupError) Error() string {
	hint := ""
	switch e.Reason {
	case ReasonUnauthorized:
		hint = " (give the pod's imagePullSecrets, or log in: docker login / ~/.docker/config.json)"
	case ReasonRateLimited:
		hint = " (the registry limits lookups: retry later, pin the image by digest, or use a mirror)"
	case ReasonNoArgv:
		hint = " (the manifest must set command)"
	}
	return fmt.Sprintf("image %q: %s: %v%s", e.Ref, e.Reason, e.Err, hint)
}

func (e *LookupError) Unwrap() error { return e.Err }

// Resolver looks images up. The zero value works: anonymous access (plus
// the Docker config of the user, authn.DefaultKeychain), linux on this
// machine's architecture, no cache.
type Resolver struct {
	// Keychain gives the credentials for a registry (the package's
	// keychain reads a pod's imagePullSecrets into one). Nil:
	// authn.DefaultKeychain.
	Keychain authn.Keychain
	// Platform is the node's platform, which picks the image of a
	// multi-platform index. Zero: linux and this machine's architecture.
	Platform v1.Platform
	// Cache keeps configs by digest; nil caches nothing.
	Cache Cache
	// Transport is the HTTP transport; nil: remote's default.
	Transport http.RoundTripper
}

func (r *Resolver) platform() v1.Platform {
	p := r.Platform
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		p.Architecture = runtime.GOARCH
	}
	return p
}

func (r *Resolver) options(ctx context.Context) []remote.Option {
	kc := r.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(r.platform()), remote.WithUserAgent("podseq-imageconfig"),
		// One try: a lookup that fails is reported, not hammered on (rate limits).
		remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	return opts
}

// cacheKey is a digest and, for an index, the platform picked in it.
func cacheKey(digest string, p v1.Platform) string { return digest + " " + p.String() }

// Resolve returns the config of ref's image for the Resolver's platform. A
// reference by digest already in the cache needs no request; a tag needs one
// HEAD request (its digest) when the cache has that digest. Every error is a
// *LookupError.
func (r *Resolver) Resolve(ctx context.Context, ref string) (Config, error) {
	fail := func(reason Reason, err error) (Config, error) {
		return Config{}, &LookupError{Ref: ref, Reason: reason, Err: err}
	}
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return fail(ReasonBadReference, err)
	}
	p := r.platform()
	_, pinned := parsed.(name.Digest)
	digest := ""
	if pinned {
		digest = parsed.Identifier()
	} else if r.Cache != nil {
		d, err := remote.Head(parsed, r.options(ctx)...)
		if err != nil {
			return fail(classify(err))
		}
		digest = d.Digest.String()
	}
	if digest != "" && r.Cache != nil {
		if c, ok := r.Cache.Get(cacheKey(digest, p)); ok {
			c.Ref, c.Pinned = ref, pinned
			return c, nil
		}
	}
	desc, err := remote.Get(parsed, r.options(ctx)...)
	if err != nil {
		return fail(classify(err))
	}
	if !desc.MediaType.IsIndex() && !desc.MediaType.IsImage() {
		return fail(ReasonRegistry, fmt.Errorf("%s is a %s, not an image", desc.Digest, desc.MediaType))
	}
	// Image() picks the platform's image of an index (remote.WithPlatform).
	img, err := desc.Image()
	if err != nil {
		if desc.MediaType.IsIndex() {
			return fail(ReasonPlatform, fmt.Errorf("%s: %w", p, err))
		}
		return fail(classify(err))
	}
	imgDigest, err := img.Digest()
	if err != nil {
		return fail(classify(err))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fail(classify(err))
	}
	c := Config{Ref: ref, Digest: imgDigest.String(), RefDigest: desc.Digest.String(), Platform: p.String(),
		Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Pinned: pinned}
	if r.Cache != nil {
		// Under the digest asked for (an index's) and the image's own.
		for _, d := range []string{desc.Digest.String(), c.Digest} {
			if err := r.Cache.Put(cacheKey(d, p), c); err != nil {
				return c, fmt.Errorf("image %q: cache: %w", ref, err)
			}
		}
	}
	return c, nil
}

// Argv resolves image and returns the argv a container of it runs with the
// manifest's command and args (Config.Argv). An image with neither
// ENTRYPOINT nor CMD, and no command or args, is a *LookupError
// (ReasonNoArgv).
func (r *Resolver) Argv(ctx context.Context, image string, command, args []string) ([]string, Config, error) {
	c, err := r.Resolve(ctx, image)
	if err != nil {
		return nil, c, err
	}
	argv := c.Argv(command, args)
	if argv == nil {
		return nil, c, &LookupError{Ref: image, Reason: ReasonNoArgv, Err: fmt.Errorf("%s has neither", c.Digest)}
	}
	return argv, c, nil
}

// classify turns a go-containerregistry error into a reason.
func classify(err error) (Reason, error) {
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return ReasonUnauthorized, err
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return ReasonNotFound, err
			case transport.TooManyRequestsErrorCode:
				return ReasonRateLimited, err
			}
		}
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return ReasonUnauthorized, err
		case http.StatusNotFound:
			return ReasonNotFound, err
		case http.StatusTooManyRequests:
			return ReasonRateLimited, err
		}
		return ReasonRegistry, err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ReasonUnreachable, err
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return ReasonUnreachable, err
	}
	return ReasonRegistry, err
}
