//go:build !noledger

package ledger

import (
	"context"
	"database/sql"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", pure Go
	_ "modernc.org/sqlite"           // database/sql driver "sqlite", pure Go: no cgo, the binary stays static
)

// drivers: this build can open a ledger. The board build (-tags noledger,
// make cross) leaves the drivers out: about 8 MB on arm64, past the
// board's 8 MiB budget.
const drivers = true

// openPostgres opens a PostgreSQL ledger whose server must answer within
// timeout: connecting (the URL's connect_timeout, if shorter, still
// holds), and each request once sent. A server that stops answering (a
// network drop that blackholes the packets, a server hung) fails the
// operation after timeout and closes the connection, instead of holding
// the station forever; libpq and pgx wait without end by default.
func openPostgres(source string, timeout time.Duration) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(source)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > timeout {
			cfg.ConnectTimeout = timeout
		}
		dial := cfg.DialFunc
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &answerConn{Conn: c, timeout: timeout}, nil
		}
	}
	return stdlib.OpenDB(*cfg), nil
}

// answerConn gives the server timeout to answer each request: a write
// (a request) sets the read deadline, each read that brings bytes
// extends it (a long answer is not cut while it flows). An idle
// connection has no deadline that matters: its next use writes first.
type answerConn struct {
	net.Conn
	timeout time.Duration
}

func (c *answerConn) Write(b []byte) (int, error) {
	d := time.Now().Add(c.timeout)
	c.Conn.SetDeadline(d) // the write too: a full send buffer blocks
	return c.Conn.Write(b)
}

func (c *answerConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && err == nil {
		c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	return n, err
}
