package main

import (
	"net/textproto"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzParseHeader checks that parseHeader never panics, that its errors are
// one line that never shows the value, and that what it accepts net/http can
// send: a valid field name, in canonical form, and a valid field value, both
// stable when parsed again.
func FuzzParseHeader(f *testing.F) {
	for _, seed := range []string{
		"Authorization:Bearer abc",      // the common case
		"x-token: s3cret ",              // lower case, spaces to trim
		"Host:app.example",              // Host overrides the request's host
		"X-Empty:",                      // an empty value is allowed
		"X-A:b:c",                       // a colon inside the value
		"NoColon",                       // no separator
		":value",                        // no name
		"X Y:1",                         // a space in the name
		"X-Bad\x7f:1",                   // DEL in the name
		"X:a\r\nInjected: yes",          // header injection
		"X:a\x00b",                      // NUL in the value
		"Ünïcode:1",                     // non-ASCII name
		"X:" + strings.Repeat("v", 300), // a long value
		"\"00000000:00000000",           // a bad name that holds the value's text
		"Authorization Bearer s3cret",   // a typo: a space for the colon
		"Authorization=Bearer s3cret",   // a typo: = for the colon
		"AuthorizationBearers3cret",     // no separator at all
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		name, value, err := parseHeader(h)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("parseHeader(%q) error is not one line: %q", h, msg)
			}
			if !strings.HasPrefix(msg, "--header ") {
				t.Fatalf("parseHeader(%q) error %q does not name --header", h, msg)
			}
			// The message depends on the name alone: the same name with
			// another value, as valid or invalid as this one, gives the very
			// same message, so no part of the value can be in it.
			if n, v, ok := strings.Cut(h, ":"); ok {
				other := "x"
				if !httpguts.ValidHeaderFieldValue(strings.TrimSpace(v)) {
					other = "\x01"
				}
				if _, _, err2 := parseHeader(n + ":" + other); err2 == nil || err2.Error() != msg {
					t.Fatalf("parseHeader(%q) error %q depends on the value: with value %q it is %v", h, msg, other, err2)
				}
			} else {
				// No colon: what follows the leading name and its separator
				// may be a secret. Another text of the same length there
				// gives the very same message.
				keep := 0
				if i := strings.IndexAny(h, " \t=;"); i > 0 && httpguts.ValidHeaderFieldName(h[:i]) {
					keep = i + 1
				}
				masked := h[:keep] + strings.Repeat("x", len(h)-keep)
				if _, _, err2 := parseHeader(masked); err2 == nil || err2.Error() != msg {
					t.Fatalf("parseHeader(%q) error %q shows what may be the value: %q gives %v", h, msg, masked, err2)
				}
			}
			return
		}
		if !httpguts.ValidHeaderFieldName(name) || name != textproto.CanonicalMIMEHeaderKey(name) {
			t.Fatalf("parseHeader(%q) name %q is not a canonical header name", h, name)
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			t.Fatalf("parseHeader(%q) value %q is not a valid header value: every request would fail", h, value)
		}
		if value != strings.TrimSpace(value) {
			t.Fatalf("parseHeader(%q) value %q is not trimmed", h, value)
		}
		n2, v2, err := parseHeader(name + ":" + value)
		if err != nil || n2 != name || v2 != value {
			t.Fatalf("parseHeader(%q) = %q, %q, which parses again to %q, %q, %v", h, name, value, n2, v2, err)
		}
	})
}
