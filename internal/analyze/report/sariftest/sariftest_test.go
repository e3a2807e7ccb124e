package sariftest

import "testing"

// The validator must reject what the schema forbids, or the tests that use
// it prove nothing.
func TestValidateRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"bad version": `{"version":"1.0","runs":[]}`,
		"no runs":     `{"version":"2.1.0"}`,
		"bad level":   `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"level":"fatal"}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			ft := &fakeT{TB: t}
			func() {
				defer func() { _ = recover() }()
				Validate(ft, []byte(doc))
			}()
			if !ft.failed {
				t.Fatalf("accepted %s", doc)
			}
		})
	}
	Validate(t, []byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"gantry"}},"results":[]}]}`))
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	panic("stop")
}
