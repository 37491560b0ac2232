package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series returns the gathered series of the metric family name.
func series(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestAggregateStreamsFoldsEveryStreamIntoOneSeries records commits of many
// streams with per-stream series off: one series holds their sum.
func TestAggregateStreamsFoldsEveryStreamIntoOneSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.AggregateStreams()
	for _, name := range []string{"a", "b", "c"} {
		s := m.Stream(name)
		s.Commit(0.01, map[string]int{"insert": 2}, 0, 2, 0)
		s.Read(10)
	}
	commits := series(t, reg, "syncd_commits_total")
	if len(commits) != 1 || label(commits[0], "stream") != AllStreams || commits[0].GetCounter().GetValue() != 3 {
		t.Fatalf("commit series %v, want one %s series of 3", commits, AllStreams)
	}
	events := series(t, reg, "syncd_events_applied_total")
	if len(events) != 1 || events[0].GetCounter().GetValue() != 6 {
		t.Fatalf("events applied %v, want one series of 6", events)
	}
}

// TestPerStreamSeriesByDefault keeps one series per stream unless asked.
func TestPerStreamSeriesByDefault(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Stream("a").Commit(0.01, nil, 0, 0, 0)
	m.Stream("b").Commit(0.01, nil, 0, 0, 0)
	if n := len(series(t, reg, "syncd_commits_total")); n != 2 {
		t.Fatalf("%d commit series, want 2", n)
	}
}
