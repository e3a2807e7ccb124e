package report

import (
	"encoding/json"
	"testing"
)

// validateSARIF checks the structure SARIF 2.1.0 requires: required
// properties and their types, enumerated levels, 1-based regions, ruleIndex
// in range.
func validateSARIF(t *testing.T, data []byte) {
	t.Helper()
	var log struct {
		Schema  *string `json:"$schema"`
		Version *string `json:"version"`
		Runs    []struct {
			Tool *struct {
				Driver *struct {
					Name  *string `json:"name"`
					Rules []struct {
						ID               *string `json:"id"`
						ShortDescription *struct {
							Text *string `json:"text"`
						} `json:"shortDescription"`
						Help *struct {
							Text *string `json:"text"`
						} `json:"help"`
						DefaultConfiguration *struct {
							Level string `json:"level"`
						} `json:"defaultConfiguration"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   *struct {
					Text *string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation *struct {
							URI *string `json:"uri"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine   *int `json:"startLine"`
							StartColumn *int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatalf("SARIF is not JSON: %v", err)
	}
	if log.Schema == nil || *log.Schema == "" {
		t.Error("missing $schema")
	}
	if log.Version == nil || *log.Version != "2.1.0" {
		t.Error(`version must be "2.1.0"`)
	}
	if log.Runs == nil {
		t.Fatal("missing runs")
	}
	levels := map[string]bool{"none": true, "note": true, "warning": true, "error": true}
	for _, run := range log.Runs {
		if run.Tool == nil || run.Tool.Driver == nil || run.Tool.Driver.Name == nil || *run.Tool.Driver.Name == "" {
			t.Fatal("missing tool.driver.name")
		}
		rules := run.Tool.Driver.Rules
		for i, r := range rules {
			if r.ID == nil || *r.ID == "" {
				t.Errorf("rule %d: missing id", i)
			}
			if r.ShortDescription == nil || r.ShortDescription.Text == nil {
				t.Errorf("rule %d: shortDescription.text", i)
			}
			if r.Help == nil || r.Help.Text == nil {
				t.Errorf("rule %d: help.text", i)
			}
			if r.DefaultConfiguration != nil && !levels[r.DefaultConfiguration.Level] {
				t.Errorf("rule %d: level %q", i, r.DefaultConfiguration.Level)
			}
		}
		for i, res := range run.Results {
			if res.Message == nil || res.Message.Text == nil {
				t.Errorf("result %d: missing message.text", i)
			}
			if !levels[res.Level] {
				t.Errorf("result %d: level %q", i, res.Level)
			}
			if res.RuleIndex != nil && (*res.RuleIndex < 0 || *res.RuleIndex >= len(rules) || *rules[*res.RuleIndex].ID != res.RuleID) {
				t.Errorf("result %d: ruleIndex %d does not point at %s", i, *res.RuleIndex, res.RuleID)
			}
			for _, loc := range res.Locations {
				pl := loc.PhysicalLocation
				if pl == nil {
					continue
				}
				if pl.ArtifactLocation == nil || pl.ArtifactLocation.URI == nil {
					t.Errorf("result %d: artifactLocation.uri", i)
				}
				if r := pl.Region; r != nil {
					if r.StartLine != nil && *r.StartLine < 1 || r.StartColumn != nil && *r.StartColumn < 1 {
						t.Errorf("result %d: region must be 1-based", i)
					}
				}
			}
		}
	}
}
