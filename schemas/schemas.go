// Package schemas embeds the JSON Schemas of otpprov's input files, so the
// binary validates with the exact schema it prints for editors.
package schemas

import (
	_ "embed"

	"github.com/otpprov/otpprov/internal/schema"
)

//go:embed manifest.schema.json
var Manifest []byte

//go:embed fusemap.schema.json
var Fusemap []byte

//go:embed pools.schema.json
var Pools []byte

//go:embed release.schema.json
var Release []byte

//go:embed block.schema.json
var Block []byte

//go:embed blockreturn.schema.json
var BlockReturn []byte

// ManifestURL and FusemapURL are the schemas' $id.
const (
	ManifestURL    = "urn:otpprov:schema:manifest:v1"
	FusemapURL     = "urn:otpprov:schema:fusemap:v1"
	PoolsURL       = "urn:otpprov:schema:pools:v1"
	ReleaseURL     = "urn:otpprov:schema:release:v1"
	BlockURL       = "urn:otpprov:schema:block:v1"
	BlockReturnURL = "urn:otpprov:schema:blockreturn:v1"
)

// CompileManifest compiles the embedded manifest schema.
func CompileManifest() (*schema.Schema, error) { return schema.Compile(Manifest) }

// CompileFusemap compiles the embedded fuse map schema.
func CompileFusemap() (*schema.Schema, error) { return schema.Compile(Fusemap) }

// CompilePools compiles the embedded identity pools schema.
func CompilePools() (*schema.Schema, error) { return schema.Compile(Pools) }

// CompileRelease compiles the embedded release schema.
func CompileRelease() (*schema.Schema, error) { return schema.Compile(Release) }

// CompileBlock compiles the embedded identity block schema.
func CompileBlock() (*schema.Schema, error) { return schema.Compile(Block) }

// CompileBlockReturn compiles the embedded block return schema.
func CompileBlockReturn() (*schema.Schema, error) { return schema.Compile(BlockReturn) }
