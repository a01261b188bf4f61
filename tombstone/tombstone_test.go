package tombstone

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 123456789, time.UTC)

func sample() *Tombstone {
	return &Tombstone{
		Name: "app", State: Died, Instance: "8f3c2a1e-1-71042", PID: 7,
		Waiting: t0, Born: t0.Add(time.Second), Ready: t0.Add(2 * time.Second), Died: t0.Add(time.Minute),
		ExitCode: 3, BirthDeps: []string{"db", "cache"}, Restarts: 2,
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a", "app", "db-0", "0", "a1-b2", strings.Repeat("x", 63)} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", name, err)
		}
	}
	for name, want := range map[string]string{
		"":                      "empty name",
		"a/b":                   "contains a slash",
		"/":                     "contains a slash",
		".":                     "lowercase letters",
		"..":                    "lowercase letters",
		".hidden":               "lowercase letters",
		"App":                   "lowercase letters",
		"-a":                    "lowercase letters",
		"a-":                    "lowercase letters",
		"a_b":                   "lowercase letters",
		"a b":                   "lowercase letters",
		"a,b":                   "lowercase letters",
		"a\n":                   "lowercase letters",
		strings.Repeat("x", 64): "longer than 63",
	} {
		err := ValidName(name)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ValidName(%q) = %v, want one line with %q", name, err, want)
		}
	}
}

func TestMarshalIsReadable(t *testing.T) {
	t.Parallel()
	want := `podseq-tombstone v1
name: app
state: died
instance: 8f3c2a1e-1-71042
pid: 7
waiting: 2026-05-04T10:00:00.123456789Z
born: 2026-05-04T10:00:01.123456789Z
ready: 2026-05-04T10:00:02.123456789Z
died: 2026-05-04T10:01:00.123456789Z
exit-code: 3
birth-deps: db,cache
restarts: 2
`
	if got := string(sample().Marshal()); got != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
	}
}

// skippedSample is a step skipped because build, which it ran after, failed.
func skippedSample() *Tombstone {
	return &Tombstone{
		Name: "test", State: Skipped, Instance: "8f3c2a1e-1-71043", Waiting: t0, Skipped: t0.Add(time.Second),
		ExitCode: 125, After: []string{"build", "lint"}, FailedStep: "build", FailedExitCode: 3,
	}
}

func TestMarshalStepFields(t *testing.T) {
	t.Parallel()
	want := `podseq-tombstone v1
name: test
state: skipped
instance: 8f3c2a1e-1-71043
waiting: 2026-05-04T10:00:00.123456789Z
skipped: 2026-05-04T10:00:01.123456789Z
exit-code: 125
restarts: 0
after: build,lint
failed-step: build
failed-exit-code: 3
`
	if got := string(skippedSample().Marshal()); got != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
	}
	timedOut := sample()
	timedOut.ExitCode, timedOut.TimedOut, timedOut.OnError = 124, 1500*time.Millisecond, OnErrorContinue
	if got := string(timedOut.Marshal()); !strings.HasSuffix(got, "restarts: 2\non-error: continue\ntimed-out: 1.5s\n") {
		t.Errorf("Marshal of a timed-out step:\n%s", got)
	}
}

// TestParseV1WithoutStepFields: a tombstone written before steps existed
// reads as before, with no step field set.
func TestParseV1WithoutStepFields(t *testing.T) {
	t.Parallel()
	old := "podseq-tombstone v1\nname: app\nstate: died\ndied: 2026-05-04T10:03:00Z\nexit-code: 0\nrestarts: 0\n"
	got, err := Parse([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if got.After != nil || got.OnError != "" || got.FailedStep != "" || got.FailedExitCode != -1 || got.TimedOut != 0 || !got.Skipped.IsZero() {
		t.Errorf("Parse(old) = %+v, want no step field", got)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	cet := time.FixedZone("CET", 3600)
	for name, ts := range map[string]*Tombstone{
		"died":               sample(),
		"waiting":            {Name: "w", State: Waiting, Waiting: t0.In(cet), BirthDeps: []string{"a"}},
		"born":               {Name: "b", State: Born, PID: 1, Waiting: t0, Born: t0},
		"ready":              {Name: "r", State: Ready, PID: 4194304, Born: t0, Ready: t0},
		"died-unborn-exit-0": {Name: "x", State: Died, Waiting: t0, Died: t0},
		"skipped":            skippedSample(),
		"skipped-by-killed":  {Name: "s", State: Skipped, Skipped: t0, ExitCode: 125, After: []string{"a"}, FailedStep: "a", FailedExitCode: -1},
		"waiting-step":       {Name: "w", State: Waiting, Waiting: t0, After: []string{"a", "b"}, OnError: OnErrorContinue},
		"timed-out":          {Name: "t", State: Died, Born: t0, PID: 9, Died: t0, ExitCode: 124, TimedOut: 90 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(ts.Marshal())
			if err != nil {
				t.Fatalf("Parse(Marshal()) = %v\n%s", err, ts.Marshal())
			}
			if !got.equal(ts) {
				t.Errorf("Parse(Marshal()) = %+v, want %+v", got, ts)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	good := string(sample().Marshal())
	skipped := string(skippedSample().Marshal())
	for name, tc := range map[string]struct{ in, want string }{
		"empty":              {"", "empty file"},
		"cut mid-line":       {good[:len(good)-5], "cut short"},
		"cut at a line":      {strings.Replace(good, "exit-code: 3\n", "", 1), "no exit-code line"},
		"only header":        {Header + "\n", "no name line"},
		"other file":         {"hello\n", "not a podseq tombstone"},
		"future version":     {"podseq-tombstone v2\nname: a\n", `format "v2"`},
		"not key value":      {Header + "\nname app\n", `line 2: "name app" is not "key: value"`},
		"twice":              {Header + "\nname: a\nname: a\n", "line 3: name given twice"},
		"padded":             {Header + "\nname:  a\n", "padded"},
		"bad name":           {Header + "\nname: ../etc\n", "line 2: name:"},
		"bad state":          {Header + "\nname: a\nstate: zombie\n", `unknown state "zombie"`},
		"bad time":           {strings.Replace(good, "died: 2026", "died: 1999-", 1), "not an RFC 3339 time"},
		"bad exit code":      {strings.Replace(good, "exit-code: 3", "exit-code: 256", 1), "from 0 to 255"},
		"exit code spelled":  {strings.Replace(good, "exit-code: 3", "exit-code: +3", 1), "from 0 to 255"},
		"negative pid":       {strings.Replace(good, "pid: 7", "pid: -7", 1), "pid:"},
		"bad dep":            {strings.Replace(good, "db,cache", "db,,cache", 1), "birth-deps: empty name"},
		"exit code not dead": {strings.Replace(strings.Replace(good, "state: died", "state: ready", 1), "died: 2026-05-04T10:01:00.123456789Z\n", "", 1), "exit-code given in state ready"},
		"ready without born": {Header + "\nname: a\nstate: ready\npid: 3\nready: 2026-05-04T10:00:00Z\nrestarts: 0\n", "no born line"},
		"too big":            {good + "x: " + strings.Repeat("y", MaxSize) + "\n", "more than"},
		"crlf":               {strings.ReplaceAll(good, "\n", "\r\n"), "line 1"},
		"skipped no step":    {strings.Replace(skipped, "failed-step: build\n", "", 1), "no failed-step line"},
		"skipped no code":    {strings.Replace(skipped, "exit-code: 125\n", "", 1), "no exit-code line"},
		"skipped no time":    {strings.Replace(skipped, "skipped: 2026-05-04T10:00:01.123456789Z\n", "", 1), "no skipped line"},
		"failed step died":   {good + "failed-step: build\n", "failed-step given in state died"},
		"failed code ready":  {strings.Replace(good, "restarts: 2\n", "restarts: 2\nfailed-exit-code: 1\n", 1), "failed-exit-code given in state died"},
		"timed out skipped":  {skipped + "timed-out: 5s\n", "timed-out given in state skipped"},
		"bad failed step":    {strings.Replace(skipped, "failed-step: build", "failed-step: Build", 1), "failed-step:"},
		"bad failed code":    {strings.Replace(skipped, "failed-exit-code: 3", "failed-exit-code: -1", 1), "from 0 to 255"},
		"bad after":          {strings.Replace(skipped, "after: build,lint", "after: build,", 1), "after: empty name"},
		"bad on-error":       {good + "on-error: stop\n", `"stop": the only value is continue`},
		"bad timed-out":      {good + "timed-out: 5\n", "timed-out:"},
		"timed-out not go":   {good + "timed-out: 60s\n", "as Go writes it"},
		"timed-out zero":     {good + "timed-out: 0s\n", "positive"},
		"lock not instance":  {good + "lock: name\n", `lock: "name": want instance`},
		"lock, no instance":  {strings.Replace(good, "instance: ", "x-instance: ", 1) + "lock: instance\n", "lock: instance needs an instance"},
		"lock, unsafe name":  {strings.Replace(good, "instance: ", "instance: ../x", 1) + "lock: instance\n", "lock: instance needs an instance"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error with %q", got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Parse error = %q, want one line with %q", err, tc.want)
			}
		})
	}
}

func TestParseIgnoresUnknownKeys(t *testing.T) {
	t.Parallel()
	in := strings.Replace(string(sample().Marshal()), "restarts: 2\n", "restarts: 2\ncontainer-id: abc\n", 1)
	got, err := Parse([]byte(in))
	if err != nil || !got.equal(sample()) {
		t.Fatalf("Parse = %+v, %v; want the sample: a later field is ignored", got, err)
	}
}

// FuzzParse checks that Parse never panics, and that whatever it accepts
// survives Marshal and Parse again unchanged (Marshal is canonical).
func FuzzParse(f *testing.F) {
	f.Add(sample().Marshal())                                                                                                                // every field
	f.Add([]byte(Header + "\nname: w\nstate: waiting\nwaiting: 2026-05-04T10:00:00Z\nrestarts: 0\n"))                                        // minimal waiting
	f.Add([]byte(Header + "\nname: r\nstate: ready\npid: 1\nborn: 2026-05-04T10:00:00+02:00\nready: 2026-05-04T10:00:00.5Z\nrestarts: 0\n")) // zone offset
	f.Add([]byte(Header + "\nname: a\nstate: born\npid: 1\nborn: 2026-05-04T10:00:00Z\nrestarts: 0\nnew-key: x\n"))                          // unknown key
	f.Add([]byte("podseq-tombstone v2\n"))                                                                                                   // future version
	f.Add([]byte(Header + "\nname: a"))                                                                                                      // cut short
	f.Add([]byte{})                                                                                                                          // empty
	f.Add(skippedSample().Marshal())                                                                                                         // a skipped step
	f.Add([]byte(Header + "\nname: s\nstate: skipped\nskipped: 2026-05-04T10:00:00Z\nexit-code: 125\nrestarts: 0\nfailed-step: a\n"))        // skipped by a killed step
	f.Add([]byte(Header + "\nname: t\nstate: died\ndied: 2026-05-04T10:00:00Z\nexit-code: 124\nrestarts: 0\ntimed-out: 1m30s\n"))            // timed out
	f.Add([]byte(Header + "\nname: w\nstate: waiting\nwaiting: 2026-05-04T10:00:00Z\nrestarts: 0\nafter: a,b\non-error: continue\n"))        // a waiting step
	f.Fuzz(func(t *testing.T, in []byte) {
		ts, err := Parse(in)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error on two lines: %q", err)
			}
			return
		}
		out := ts.Marshal()
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))) = %v\n%s", in, err, out)
		}
		if !again.equal(ts) {
			t.Fatalf("round trip changed %+v into %+v", ts, again)
		}
		// What a step's fields promise (README, "The tombstone format").
		switch {
		case ts.State == Skipped && ts.FailedStep == "":
			t.Fatalf("skipped without a failed step: %+v", ts)
		case ts.TimedOut > 0 && ts.State != Died:
			t.Fatalf("timed out in state %s", ts.State)
		case ts.OnError != "" && ts.OnError != OnErrorContinue:
			t.Fatalf("on-error %q", ts.OnError)
		case ts.FailedExitCode < -1 || ts.FailedExitCode > 255:
			t.Fatalf("failed exit code %d", ts.FailedExitCode)
		}
		if !bytes.Equal(again.Marshal(), out) {
			t.Fatalf("Marshal is not canonical:\n%s\n%s", out, again.Marshal())
		}
	})
}

func TestReadErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Read(dir, "db"); !errors.Is(err, ErrNoTombstone) {
		t.Errorf("Read(missing) = %v, want ErrNoTombstone", err)
	}
	if err := os.WriteFile(Path(dir, "db"), []byte(Header+"\nname: db\nstate: re"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(dir, "db")
	if err == nil || !strings.HasPrefix(err.Error(), "tombstone "+dir+"/db: cut short") {
		t.Errorf("Read(half written) = %v, want an error naming the file", err)
	}
	other := sample()
	other.Name = "other"
	if err := os.WriteFile(Path(dir, "db"), other.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, "db"); err == nil || !strings.Contains(err.Error(), `names "other", not "db"`) {
		t.Errorf("Read(wrong name) = %v", err)
	}
	if err := os.Mkdir(Path(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, "sub"); err == nil || !strings.Contains(err.Error(), "tombstone "+dir+"/sub") {
		t.Errorf("Read(a directory) = %v, want an error naming it", err)
	}
	if err := os.WriteFile(Path(dir, "big"), bytes.Repeat([]byte("x"), 2*MaxSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, "big"); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Read(big) = %v", err)
	}
}

func TestFindCycle(t *testing.T) {
	t.Parallel()
	waiting := func(deps ...string) Status {
		return Status{Tombstone: &Tombstone{State: Waiting, BirthDeps: deps}}
	}
	graveyard := map[string]Status{
		"a": waiting("b"), "b": waiting("c", "a"), "c": waiting(), // a -> b -> a
		"self": waiting("self"),
		"x":    waiting("y"), "y": {Tombstone: &Tombstone{State: Ready, Born: t0, BirthDeps: []string{"x"}}}, // y was born: no cycle
		"died-waiting": {Tombstone: &Tombstone{State: Died, Died: t0, BirthDeps: []string{"p"}}},
		"p":            waiting("died-waiting"),
		"q":            waiting("nobody"),
		// Steps: s1 runs after s2, which waits for s1 to be ready.
		"s1": {Tombstone: &Tombstone{State: Waiting, After: []string{"s2"}}},
		"s2": waiting("s1"),
		"t1": {Tombstone: &Tombstone{State: Waiting, After: []string{"t2"}}},
		"t2": {Tombstone: &Tombstone{State: Waiting, After: []string{"t1"}}},
	}
	get := func(n string) Status {
		s, ok := graveyard[n]
		if !ok {
			return Status{Err: ErrNoTombstone}
		}
		return s
	}
	for start, want := range map[string]string{
		"a": "a -> b -> a", "b": "b -> a -> b", "c": "", "self": "self -> self", "x": "", "y": "",
		"p": "p -> died-waiting -> p", "q": "", "nobody": "",
		"s1": "(mixed) s1 -> s2 -> s1", "s2": "(mixed) s2 -> s1 -> s2", "t1": "(after) t1 -> t2 -> t1",
	} {
		c := FindCycle(get, start)
		got := ""
		if c != nil {
			got = strings.TrimPrefix(c.Error(), "birth deps form a cycle: ")
			got = strings.Replace(got, "--after and --birth-deps form a cycle: ", "(mixed) ", 1)
			got = strings.Replace(got, "steps (--after) form a cycle: ", "(after) ", 1)
		}
		if got != want {
			t.Errorf("FindCycle(%s) = %q, want %q", start, got, want)
		}
	}
}

// equal reports whether two tombstones hold the same fields; for tests and
// the fuzzer.
func (t *Tombstone) equal(u *Tombstone) bool {
	return t.Name == u.Name && t.State == u.State && t.Instance == u.Instance && t.PID == u.PID &&
		t.Waiting.Equal(u.Waiting) && t.Born.Equal(u.Born) && t.Ready.Equal(u.Ready) && t.Died.Equal(u.Died) &&
		(!t.State.Final() || t.ExitCode == u.ExitCode) && slices.Equal(t.BirthDeps, u.BirthDeps) && t.Restarts == u.Restarts &&
		slices.Equal(t.After, u.After) && t.Skipped.Equal(u.Skipped) && t.OnError == u.OnError &&
		(t.State != Skipped || t.FailedStep == u.FailedStep && t.FailedExitCode == u.FailedExitCode) &&
		(t.State != Died || t.TimedOut == u.TimedOut) && t.InstanceLock == u.InstanceLock
}
