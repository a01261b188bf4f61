package inject

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitYAML(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []chunk
	}{
		{"", []chunk{{line: 1}}},
		{"a: 1", []chunk{{text: "a: 1", line: 1}}},
		{"a: 1\n---\nb: 2\n", []chunk{{text: "a: 1\n", line: 1}, {sep: "---\n", text: "b: 2\n", line: 3}}},
		{"---\r\na: 1\r\n--- # two\nb: 2", []chunk{{line: 1}, {sep: "---\r\n", text: "a: 1\r\n", line: 2}, {sep: "--- # two\n", text: "b: 2", line: 4}}},
		{"--- a: 1\n---", []chunk{{text: "--- a: 1\n", line: 1}, {sep: "---", line: 3}}},
		{"a: |\n  ---x\n---\n---\n", []chunk{{text: "a: |\n  ---x\n", line: 1}, {sep: "---\n", line: 4}, {sep: "---\n", line: 5}}},
	} {
		got := splitYAML(tc.in)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitYAML(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		var back strings.Builder
		for _, c := range got {
			back.WriteString(c.sep + c.text)
		}
		if back.String() != tc.in {
			t.Errorf("splitYAML(%q) joins back to %q", tc.in, back.String())
		}
	}
}
