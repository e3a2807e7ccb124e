package disk

import (
	"encoding/json"
	"testing"
)

// FuzzSplitIndex checks the one-pass reader of index.json against
// encoding/json: it accepts exactly the JSON objects, keeps every field
// other than "manifests" as it was, and finds every entry of "manifests";
// decoding the entries never panics.
func FuzzSplitIndex(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"manifests":[]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b","size":7143,"annotations":{"org.opencontainers.image.ref.name":"team/app:v1"}}]}`,
		`{"manifests":[1,"x",null,{"digest":"bad"}],"annotations":{"a":"b"}}`,
		`{"manifests":null}`,
		`{"manifests":{}}`,
		`[1,2]`,
		`{"a":1}{"b":2}`,
		`{"manifests":[{}],"manifests":[{},{}]}`,
		``,
		`{`,
		"{\"schemaVersion\":2,\"manifests\":[\n{\"a\":1},\n{bad}\n]}\n",
		"{\"schemaVersion\":2,\"manifests\":[\n{\"digest\":\"sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b\",\"size\":1,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"annotations\":{\"org.opencontainers.image.ref.name\":\"a:b\"}},\n{\"x\":[]}\n]}\n",
		"{\"manifests\":[],\"manifests\":[\n{}\n]}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		top, raws, entries, err := parseIndex(b)
		var obj map[string]json.RawMessage
		jerr := json.Unmarshal(b, &obj)
		isObject := jerr == nil && obj != nil
		if err != nil {
			if isObject {
				if list, ok := obj["manifests"]; ok {
					var entries []json.RawMessage
					if json.Unmarshal(list, &entries) != nil && string(list) != "null" {
						return // refused as "manifests is not a list": right
					}
				}
				t.Fatalf("splitIndex refused a JSON object: %v\n%q", err, b)
			}
			return
		}
		if !isObject {
			t.Fatalf("splitIndex accepted what is not one JSON object: %q", b)
		}
		for k, v := range obj {
			if k == "manifests" {
				var entries []json.RawMessage
				_ = json.Unmarshal(v, &entries)
				if len(entries) != len(raws) {
					t.Fatalf("%d entries, encoding/json finds %d: %q", len(raws), len(entries), b)
				}
				continue
			}
			if string(top[k]) != string(v) {
				t.Fatalf("field %q = %s, encoding/json reads %s", k, top[k], v)
			}
		}
		for _, e := range entries {
			if e.entry != nil && (!e.ok || e.entry.repo == "" || e.entry.tag == "") {
				t.Fatalf("entry with a tag but no descriptor or repository: %+v", e)
			}
		}
	})
}
