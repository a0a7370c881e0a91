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

//go:embed fusemap.schema.json
var Fusemap []byte

// ManifestURL and FusemapURL are the schemas' $id.
const (
	ManifestURL = "urn:otpprov:schema:manifest:v1"
	FusemapURL  = "urn:otpprov:schema:fusemap:v1"
)

// CompileManifest compiles the embedded manifest schema. Formats are
// asserted, not just annotated, so a "format" keyword is a real check.
func CompileManifest() (*jsonschema.Schema, error) { return compile(ManifestURL, Manifest) }

// CompileFusemap compiles the embedded fuse map schema.
func CompileFusemap() (*jsonschema.Schema, error) { return compile(FusemapURL, Fusemap) }

func compile(url string, doc []byte) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat = true
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		return nil, err
	}
	return c.Compile(url)
}
