// Package sariftest checks SARIF logs against the official SARIF 2.1.0 JSON
// schema (OASIS, sarif-2.1.0-rtm.5, as published in the SchemaStore and in
// Microsoft's MIT-licensed @microsoft/jest-sarif package, embedded here
// unchanged). It is for tests only: the gantry binary does not import it.
package sariftest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed sarif-2.1.0-rtm.5.json
var schemaJSON []byte

const schemaURL = "https://json.schemastore.org/sarif-2.1.0-rtm.5.json"

var (
	compileOnce sync.Once
	schema      *jsonschema.Schema
	compileErr  error
)

func compiled() (*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
		if err != nil {
			compileErr = err
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(schemaURL, doc); err != nil {
			compileErr = err
			return
		}
		schema, compileErr = c.Compile(schemaURL)
	})
	return schema, compileErr
}

// Validate fails the test when data is not a SARIF 2.1.0 log valid against
// the official schema.
func Validate(t testing.TB, data []byte) {
	t.Helper()
	s, err := compiled()
	if err != nil {
		t.Fatalf("compile the SARIF schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("SARIF output is not JSON: %v", err)
	}
	if err := s.Validate(inst); err != nil {
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, data, "", "  ")
		t.Fatalf("SARIF output is not valid against the SARIF 2.1.0 schema: %v\n%s", err, pretty.String())
	}
}
