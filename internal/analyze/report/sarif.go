package report

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// SARIFSchema is the JSON schema URI written as $schema in SARIF output.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

// The SARIF 2.1.0 object model, reduced to what gantry writes. Field names
// follow the specification (sections 3.13 to 3.49).
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri,omitempty"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string        `json:"id"`
		Name                 string        `json:"name,omitempty"`
		ShortDescription     sarifMessage  `json:"shortDescription"`
		Help                 sarifMessage  `json:"help"`
		HelpURI              string        `json:"helpUri,omitempty"`
		DefaultConfiguration sarifRuleConf `json:"defaultConfiguration"`
	}
	sarifRuleConf struct {
		Level string `json:"level"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID     string          `json:"ruleId"`
		RuleIndex  *int            `json:"ruleIndex,omitempty"`
		Level      string          `json:"level"`
		Message    sarifMessage    `json:"message"`
		Locations  []sarifLocation `json:"locations,omitempty"`
		Properties map[string]any  `json:"properties,omitempty"`
	}
	sarifLocation struct {
		PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
		LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine,omitempty"`
		StartColumn int `json:"startColumn,omitempty"`
	}
	sarifLogical struct {
		Name               string `json:"name,omitempty"`
		FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
		Kind               string `json:"kind,omitempty"`
	}
)

// sarifLevel maps severities to SARIF's levels (3.27.10): SARIF has no
// "style", so style and info are both "note".
func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	case Info, Style:
		return "note"
	}
	return "none"
}

// artifactURI turns a file path into a relative URI reference, as code
// scanning tools expect (forward slashes, escaped).
func artifactURI(p string) string {
	p = filepath.ToSlash(p)
	u := url.URL{Path: p}
	s := u.String()
	if strings.HasPrefix(p, "/") {
		s = "file://" + s
	}
	return s
}

func writeSARIF(w io.Writer, r Report) error {
	tool := r.Tool
	if tool == "" {
		tool = "gantry"
	}
	index := make(map[string]int, len(r.Rules))
	rules := make([]sarifRule, 0, len(r.Rules))
	for i, rule := range r.Rules {
		index[rule.ID] = i
		help := rule.Summary
		if rule.HelpURI != "" {
			help += " See " + rule.HelpURI
		}
		rules = append(rules, sarifRule{
			ID:                   rule.ID,
			Name:                 rule.Name,
			ShortDescription:     sarifMessage{rule.Summary},
			Help:                 sarifMessage{help},
			HelpURI:              rule.HelpURI,
			DefaultConfiguration: sarifRuleConf{sarifLevel(rule.Severity)},
		})
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		res := sarifResult{RuleID: f.Rule, Level: sarifLevel(f.Severity), Message: sarifMessage{f.Message}}
		if i, ok := index[f.Rule]; ok {
			res.RuleIndex = &i
		}
		var loc sarifLocation
		if f.File != "" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{artifactURI(f.File)}}
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Column}
			}
		}
		if f.Image != "" {
			loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{Name: f.Image, Kind: "module"})
			if f.Layer != "" {
				loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{
					Name: f.Layer, FullyQualifiedName: f.Image + "@" + f.Layer, Kind: "object",
				})
			}
		}
		if loc.PhysicalLocation != nil || loc.LogicalLocations != nil {
			res.Locations = []sarifLocation{loc}
		}
		if f.Bytes > 0 {
			res.Properties = map[string]any{"bytes": f.Bytes}
		}
		results = append(results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  SARIFSchema,
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{sarifDriver{Name: tool, Version: r.Version, InformationURI: r.InformationURI, Rules: rules}},
			Results: results,
		}},
	})
}
