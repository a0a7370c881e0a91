//go:build !noledger

package ledger

import (
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", pure Go
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go: no cgo, the binary stays static
)

// drivers: this build can open a ledger. The board build (-tags noledger,
// make cross) leaves the drivers out: about 8 MB on arm64, past the
// board's 8 MiB budget.
const drivers = true
