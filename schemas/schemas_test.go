package schemas_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/schemas"
)

// Editors validate with the schemas as we publish them, so each must be
// valid JSON Schema 2020-12: a full validator (used only by the tests)
// checks it against the draft's meta-schema, and its $id is the one we
// name.
func TestSchemasAreValid2020(t *testing.T) {
	for url, doc := range map[string][]byte{schemas.ManifestURL: schemas.Manifest, schemas.FusemapURL: schemas.Fusemap, schemas.PoolsURL: schemas.Pools, schemas.ReleaseURL: schemas.Release, schemas.BlockURL: schemas.Block, schemas.BlockReturnURL: schemas.BlockReturn} {
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if _, err := c.Compile(url); err != nil {
			t.Errorf("%s: %v", url, err)
		}
		var head struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
		}
		if err := json.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		if head.Schema != "https://json-schema.org/draft/2020-12/schema" || head.ID != url {
			t.Errorf("%s: $schema %q, $id %q", url, head.Schema, head.ID)
		}
	}
}

func TestManifestSchemaCompiles(t *testing.T) {
	s, err := schemas.CompileManifest()
	if err != nil {
		t.Fatal(err)
	}
	// The validator must refuse a manifest that names the device.
	doc := map[string]any{"apiVersion": "otpprov/v1", "kind": "FuseManifest", "metadata": map[string]any{"name": "m"},
		"soc": "imx8mm", "device": "/dev/x", "fuses": []any{map[string]any{"bank": json.Number("14"), "word": json.Number("0"), "value": "0x1"}}}
	if errs, err := s.Validate(doc); err != nil || len(errs) != 1 || errs[0].Keyword != "additionalProperties" {
		t.Fatalf("a device key: %v, %+v; want one additionalProperties error", err, errs)
	}
	delete(doc, "device")
	if errs, err := s.Validate(doc); err != nil || len(errs) != 0 {
		t.Fatalf("a valid manifest failed: %v %+v", err, errs)
	}
}

// The schema's soc list is what editors offer; it must be exactly the SoCs
// the tool knows.
func TestSchemaSoCsMatchFusemap(t *testing.T) {
	var doc struct {
		Schema     string `json:"$schema"`
		Properties struct {
			SoC struct {
				Enum []string `json:"enum"`
			} `json:"soc"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(schemas.Manifest, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema == "" {
		t.Error("the schema does not declare $schema")
	}
	if !reflect.DeepEqual(doc.Properties.SoC.Enum, fusemap.Names()) {
		t.Errorf("schema soc enum %v, fusemap %v", doc.Properties.SoC.Enum, fusemap.Names())
	}
}
