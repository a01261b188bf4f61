package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Report is one harness run's results as -results writes them: what
// -matrix reads back, one per Kubernetes release.
type Report struct {
	Release      string           `json:"release,omitempty"` // -release: newest, v1.34, oldest
	Kubelet      string           `json:"kubelet"`           // v1.37.2
	Containerd   string           `json:"containerd"`        // v2.4.2, 1.6.20~ds1
	Date         time.Time        `json:"date"`
	SetupSeconds float64          `json:"setupSeconds"` // images, containerd, kubelet
	TotalSeconds float64          `json:"totalSeconds"` // the whole harness run
	Scenarios    []ScenarioReport `json:"scenarios"`
}

// ScenarioReport is one scenario's line of a Report.
type ScenarioReport struct {
	Name    string   `json:"name"`
	Status  string   `json:"status"` // PASS, FAIL, n/a (needs v1.29+)
	Error   string   `json:"error,omitempty"`
	Seconds float64  `json:"seconds"`
	Figures []Figure `json:"figures,omitempty"`
}

func newReport(release, kubelet, containerd string, date time.Time, setup, total time.Duration, results []Result) Report {
	rep := Report{Release: release, Kubelet: kubelet, Containerd: containerd, Date: date,
		SetupSeconds: setup.Seconds(), TotalSeconds: total.Seconds()}
	for _, r := range results {
		sr := ScenarioReport{Name: r.Scenario.Name, Status: r.Status(), Seconds: r.Took.Seconds(), Figures: r.Figures}
		if r.Err != nil {
			sr.Error = r.Err.Error()
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	return rep
}

func (r Report) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readReport(path string) (Report, error) {
	var r Report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("parse %s: %w", path, err)
	}
	return r, nil
}

// matrixColumn is one release in the matrix: its report, or why there is none.
type matrixColumn struct {
	name    string
	report  Report
	missing string // the run left no report: "no results"
}

// printMatrix reads the NAME=FILE arguments and prints their matrix. A file
// that cannot be read (the run failed before it wrote one) makes a column
// saying so. It returns 1 when a scenario failed or a file is missing, 2 for
// bad arguments.
func printMatrix(w io.Writer, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "e2e: -matrix needs NAME=FILE arguments, one per release")
		return 2
	}
	var cols []matrixColumn
	code := 0
	for _, a := range args {
		name, file, ok := strings.Cut(a, "=")
		if !ok || name == "" || file == "" {
			fmt.Fprintf(os.Stderr, "e2e: -matrix: %q is not NAME=FILE\n", a)
			return 2
		}
		rep, err := readReport(file)
		col := matrixColumn{name: name, report: rep}
		if err != nil {
			col.missing = "no results"
			code = 1
			if !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(os.Stderr, "e2e: -matrix: %v\n", err)
			}
		}
		for _, s := range rep.Scenarios {
			if s.Status == "FAIL" {
				code = 1
			}
		}
		cols = append(cols, col)
	}
	fmt.Fprint(w, renderMatrix(cols, timedScenarios()))
	return code
}

// timedScenarios is the set of registered scenarios whose figures the
// matrix shows, one row each: the timed ones (compare's medians).
func timedScenarios() map[string]bool {
	timed := map[string]bool{}
	for _, s := range scenarios() {
		if s.Timed {
			timed[s.Name] = true
		}
	}
	return timed
}

// renderMatrix is a markdown table, a row per scenario and a column per
// release: PASS, FAIL, n/a (needs v1.N+), or - where a release's run did
// not include it. A figure row follows each scenario in figureRows, one per
// figure ("compare: push median"); last come the harness's own times.
func renderMatrix(cols []matrixColumn, figureRows map[string]bool) string {
	type row struct {
		label string
		cells []string
	}
	var rows []row
	index := map[string]int{}
	cell := func(label string, col int, value string) {
		i, ok := index[label]
		if !ok {
			i = len(rows)
			index[label] = i
			rows = append(rows, row{label: label, cells: make([]string, len(cols))})
		}
		rows[i].cells[col] = value
	}
	var b strings.Builder
	b.WriteString("| scenario |")
	for _, c := range cols {
		head := c.name
		if c.report.Kubelet != "" {
			head += " (kubelet " + c.report.Kubelet + ", containerd " + c.report.Containerd + ")"
		}
		fmt.Fprintf(&b, " %s |", head)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for i, c := range cols {
		for _, s := range c.report.Scenarios {
			cell(s.Name, i, s.Status)
			if figureRows[s.Name] {
				for _, f := range s.Figures {
					cell(s.Name+": "+f.Name, i, f.Value)
				}
			}
		}
	}
	for i, c := range cols {
		if c.missing != "" {
			cell("harness run (setup)", i, c.missing)
			continue
		}
		cell("harness run (setup)", i, fmt.Sprintf("%.0f s (%.1f s)", c.report.TotalSeconds, c.report.SetupSeconds))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.label)
		for i, v := range r.cells {
			if v == "" {
				v = "-"
				if cols[i].missing != "" {
					v = cols[i].missing
				}
			}
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(v, "|", "/"))
		}
		b.WriteString("\n")
	}
	return b.String()
}
