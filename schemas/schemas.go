// Package schemas embeds the JSON Schemas of otpprov's input files, so the
// binary validates with the exact schema it prints for editors.
package schemas

import (
	"bytes"
	_ "embed"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

//go:embed manifest.schema.json
var Manifest []byte

// ManifestURL is the manifest schema's $id.
const ManifestURL = "urn:otpprov:schema:manifest:v1"

// CompileManifest compiles the embedded manifest schema. Formats are
// asserted, not just annotated, so a "format" keyword is a real check.
func CompileManifest() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat = true
	if err := c.AddResource(ManifestURL, bytes.NewReader(Manifest)); err != nil {
		return nil, err
	}
	return c.Compile(ManifestURL)
}
