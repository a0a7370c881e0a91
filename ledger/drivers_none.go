//go:build noledger

package ledger

import (
	"database/sql"
	"errors"
	"time"
)

// drivers: the board build has no database drivers (see drivers.go).
const drivers = false

func openPostgres(string, time.Duration) (*sql.DB, error) {
	return nil, errors.New("no PostgreSQL driver in the board build")
}
