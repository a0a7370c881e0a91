package schemas_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/schemas"
)

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
