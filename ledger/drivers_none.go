//go:build noledger

package ledger

// drivers: the board build has no database drivers (see drivers.go).
const drivers = false
