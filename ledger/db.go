package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"
)

// SchemaVersion is the version of the ledger's tables this otpprov
// writes. A database of a newer version is refused (an older otpprov must
// not write tables it does not know); an older one is upgraded by
// `ledger init`, never silently by another command.
const SchemaVersion = 4

// Dialect is the database behind a ledger.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Ledger is an open ledger database.
type Ledger struct {
	db      *sql.DB
	dialect Dialect
	shown   string // the URL with any password replaced: the only form printed
}

// ErrURL is a ledger URL otpprov cannot use.
var ErrURL = errors.New("ledger URL")

// ErrSchema is a database whose ledger tables are missing, older or newer
// than this otpprov's.
var ErrSchema = errors.New("ledger schema")

// Redact returns the URL as it may be printed or journaled: a password is
// never shown, whether in the user part or as a password= parameter.
func Redact(raw string) string {
	if strings.HasPrefix(raw, "sqlite:") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(a ledger URL that does not parse)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// SQLiteFile is the database file a sqlite:PATH (or sqlite://PATH) URL
// names; ok is false for any other URL. A command's output must never be
// written over it: the ledger's records would be lost, and every value
// they held handed out again.
func SQLiteFile(raw string) (path string, ok bool) {
	rest, ok := strings.CutPrefix(raw, "sqlite:")
	if !ok {
		return "", false
	}
	return strings.TrimPrefix(rest, "//"), true
}

// dsn turns a ledger URL into a driver name and its data source name.
//
//	sqlite:PATH                     the embedded default: a file
//	postgres://..., postgresql://... libpq's URL forms, a Unix socket included
//	                                (postgres:///otp?host=/run/postgresql)
//
// create: a SQLite file may be created (ledger init); otherwise a missing
// file is an error, not a new empty database.
func dsn(raw string, create bool) (driver, source string, d Dialect, err error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		path, _ := SQLiteFile(raw)
		if path == "" {
			return "", "", "", fmt.Errorf("%w %q: sqlite:PATH names the database file", ErrURL, raw)
		}
		// WAL lets readers run beside the one writer; synchronous FULL
		// makes a commit durable before it returns, which allocation
		// needs (a value is committed before the first burn); IMMEDIATE
		// transactions take the write lock at BEGIN, so two stations never
		// both read a cursor and then race to write it; busy_timeout waits
		// for the lock instead of failing at once.
		v := url.Values{}
		for _, p := range []string{"busy_timeout(30000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
			v.Add("_pragma", p)
		}
		v.Set("_txlock", "immediate")
		if !create {
			v.Set("mode", "rw")
		}
		return "sqlite", "file:" + path + "?" + v.Encode(), SQLite, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", "", fmt.Errorf("%w %s: does not parse", ErrURL, Redact(raw))
		}
		return "pgx", raw, Postgres, nil
	}
	return "", "", "", fmt.Errorf("%w %s: use sqlite:PATH or postgres://...", ErrURL, Redact(raw))
}

// AnswerTimeout is how long a PostgreSQL ledger may take to answer one
// request (connecting included) before the operation fails and its
// connection is closed: a network that drops packets, or a server hung,
// must not hold a station forever. The longest a station waits for its
// ledger otherwise (a copy after a burn) is 15 s; a healthy server
// answers in milliseconds, even with eight stations allocating at once.
// OTPPROV_LEDGER_TIMEOUT (a Go duration: 5s, 1m) changes it, for a line
// whose database is far away. SQLite needs none: a local file, whose
// lock waits busy_timeout bounds (30 s).
const AnswerTimeout = 15 * time.Second

// answerTimeout is AnswerTimeout, or OTPPROV_LEDGER_TIMEOUT.
func answerTimeout() (time.Duration, error) {
	s := os.Getenv("OTPPROV_LEDGER_TIMEOUT")
	if s == "" {
		return AnswerTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: OTPPROV_LEDGER_TIMEOUT=%s: give a duration, as 15s or 1m", ErrURL, s)
	}
	return d, nil
}

// open connects without checking the schema.
func open(ctx context.Context, raw string, create bool) (*Ledger, error) {
	driver, source, d, err := dsn(raw, create)
	if err != nil {
		return nil, err
	}
	if !drivers {
		return nil, fmt.Errorf("%w %s: this otpprov is the board build, made without the database drivers (they would double its size): use the station build, or plan on the station with --ledger and --state, and apply the saved plan here", ErrURL, Redact(raw))
	}
	if path, _ := SQLiteFile(raw); d == SQLite && !create {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: no such file: create the ledger with otpprov ledger init --ledger URL POOLS.yaml", ErrSchema, Redact(raw))
		}
	}
	var db *sql.DB
	if d == Postgres {
		timeout, terr := answerTimeout()
		if terr != nil {
			return nil, terr
		}
		db, err = openPostgres(source, timeout)
	} else {
		db, err = sql.Open(driver, source)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", Redact(raw), scrub(err, raw))
	}
	if d == SQLite {
		// One connection: SQLite has one writer, and a second pooled
		// connection inside this process would only wait for it.
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", Redact(raw), scrub(err, raw))
	}
	return &Ledger{db: db, dialect: d, shown: Redact(raw)}, nil
}

// scrub removes the URL's password from a driver's error, which may quote
// the connection string.
func scrub(err error, raw string) error {
	u, perr := url.Parse(raw)
	if perr != nil {
		return err
	}
	pw := u.Query().Get("password")
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			pw = p
		}
	}
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

// Open connects to a ledger whose tables this otpprov knows: a database
// without them, or of another version, is refused (ErrSchema) with what to
// do. Nothing is created or changed.
func Open(ctx context.Context, raw string) (*Ledger, error) {
	l, err := open(ctx, raw, false)
	if err != nil {
		return nil, err
	}
	// The version row first: one statement where the ledger is as
	// expected (every run of a station opens it); a database without the
	// table, or any other answer, is looked at again to say which.
	var v int
	if l.db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM otpprov_meta WHERE key = 'schema_version'`).Scan(&v) != nil || v != SchemaVersion {
		if v, err = l.version(ctx); err == nil && v != SchemaVersion {
			err = versionError(v, l.shown)
		}
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func versionError(v int, shown string) error {
	switch {
	case v == 0:
		return fmt.Errorf("%w: %s holds no otpprov ledger: create it with otpprov ledger init --ledger URL POOLS.yaml", ErrSchema, shown)
	case v < SchemaVersion:
		return fmt.Errorf("%w: %s is a ledger of version %d, this otpprov's is %d: upgrade it with otpprov ledger init", ErrSchema, shown, v, SchemaVersion)
	}
	return fmt.Errorf("%w: %s is a ledger of version %d, newer than this otpprov's %d: use a newer otpprov", ErrSchema, shown, v, SchemaVersion)
}

// Close closes the database.
func (l *Ledger) Close() error { return l.db.Close() }

// String is the ledger's URL, password hidden.
func (l *Ledger) String() string { return l.shown }

// Dialect says which database it is.
func (l *Ledger) Dialect() Dialect { return l.dialect }

// version reads the schema version: 0 for a database without the
// ledger's tables.
func (l *Ledger) version(ctx context.Context) (int, error) {
	var exists bool
	var q string
	if l.dialect == SQLite {
		q = `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'otpprov_meta'`
	} else {
		q = `SELECT count(*) > 0 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'otpprov_meta'`
	}
	if err := l.db.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return 0, fmt.Errorf("ledger %s: %w", l.shown, err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := l.db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM otpprov_meta WHERE key = 'schema_version'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s has an otpprov_meta table without a schema version: not a ledger otpprov made", ErrSchema, l.shown)
	}
	if err != nil {
		return 0, fmt.Errorf("ledger %s: %w", l.shown, err)
	}
	return v, nil
}

// migrations are the schema's versions, each the statements that take the
// previous one to it. The SQL is the subset SQLite and PostgreSQL share:
// one schema, one behaviour on both.
var migrations = [][]string{
	1: {
		`CREATE TABLE otpprov_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE otpprov_pools (
			name TEXT PRIMARY KEY,
			type TEXT NOT NULL,
			per_unit INTEGER NOT NULL,
			reuse INTEGER NOT NULL,
			low_water BIGINT NOT NULL
		)`,
		// next is the first value of the range never handed out: it moves
		// in the transaction that hands a block out, so an aborted
		// allocation leaves no gap (a SEQUENCE would).
		`CREATE TABLE otpprov_ranges (
			pool TEXT NOT NULL REFERENCES otpprov_pools(name),
			lo BIGINT NOT NULL,
			hi BIGINT NOT NULL,
			next_free BIGINT NOT NULL,
			PRIMARY KEY (pool, lo)
		)`,
		// One row per block of perUnit values: who has it and in what
		// state. A released block keeps its last board for history.
		`CREATE TABLE otpprov_blocks (
			pool TEXT NOT NULL REFERENCES otpprov_pools(name),
			base BIGINT NOT NULL,
			unique_id TEXT NOT NULL,
			state TEXT NOT NULL,
			station TEXT NOT NULL,
			reserved_at TEXT NOT NULL,
			updated_at TEXT NOT NULL,
			PRIMARY KEY (pool, base)
		)`,
		// A board holds at most one live block of a pool: two stations
		// allocating for the same board at once get one block.
		`CREATE UNIQUE INDEX otpprov_blocks_board ON otpprov_blocks (pool, unique_id) WHERE state <> 'released'`,
		`INSERT INTO otpprov_meta (key, value) VALUES ('schema_version', '1')`,
	},
	// Version 2: the stations' journal records (records.go). A journal
	// file is a chain named by its first line's digest (chain); seq is
	// the record's place in it, line_digest what the next record's prev
	// holds, digest the record's own. The key makes a record's second
	// arrival (an import after the live copy) find the first.
	2: {
		`CREATE TABLE otpprov_records (
			chain TEXT NOT NULL,
			seq BIGINT NOT NULL,
			station TEXT NOT NULL,
			kind TEXT NOT NULL,
			digest TEXT NOT NULL,
			prev TEXT NOT NULL,
			line_digest TEXT NOT NULL,
			unique_id TEXT NOT NULL,
			outcome TEXT NOT NULL,
			at TEXT NOT NULL,
			record TEXT NOT NULL,
			via TEXT NOT NULL,
			recorded_at TEXT NOT NULL,
			PRIMARY KEY (chain, seq)
		)`,
		`CREATE INDEX otpprov_records_board ON otpprov_records (unique_id)`,
	},
	// Version 3: scrapped boards, and where a block's values go.
	// otpprov_scrapped holds a board taken off the line for good (scrap.go):
	// who, when, why; a board may be scrapped before anything was handed to
	// it, so it is its own table, not a block state alone.
	// otpprov_block_words is the words (bank, word, mask) the manifests
	// that planned a block's values set (footprint.go): the ledger holds no
	// manifest, and a journal record names words, not variables, so this
	// is how an imported record's words are traced back to the values they
	// may hold. No foreign key: a block row may be deleted and made again
	// (claim), and a footprint kept meanwhile only widens what is marked
	// burned.
	3: {
		`CREATE TABLE otpprov_scrapped (
			unique_id TEXT PRIMARY KEY,
			at TEXT NOT NULL,
			by_user TEXT NOT NULL,
			station TEXT NOT NULL,
			reason TEXT NOT NULL
		)`,
		`CREATE TABLE otpprov_block_words (
			pool TEXT NOT NULL,
			base BIGINT NOT NULL,
			bank INTEGER NOT NULL,
			word INTEGER NOT NULL,
			mask BIGINT NOT NULL,
			PRIMARY KEY (pool, base, bank, word)
		)`,
	},
	// Version 4: blocks reserved for offline stations (blocks.go).
	4: blockMigration,
}

// migrate takes the database from its version to SchemaVersion in one
// transaction.
func (l *Ledger) migrate(ctx context.Context) (from int, err error) {
	from, err = l.version(ctx)
	if err != nil {
		return 0, err
	}
	if from > SchemaVersion {
		return from, versionError(from, l.shown)
	}
	if from == SchemaVersion {
		return from, nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return from, fmt.Errorf("ledger %s: %w", l.shown, err)
	}
	defer tx.Rollback()
	for v := from + 1; v <= SchemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return from, fmt.Errorf("ledger %s: migration to version %d: %w", l.shown, v, err)
			}
		}
		if v > 1 {
			if _, err := tx.ExecContext(ctx, `UPDATE otpprov_meta SET value = `+l.arg(1)+` WHERE key = 'schema_version'`, fmt.Sprint(v)); err != nil {
				return from, fmt.Errorf("ledger %s: %w", l.shown, err)
			}
		}
	}
	return from, tx.Commit()
}

// arg is the n-th placeholder: $n on PostgreSQL, ?n on SQLite.
func (l *Ledger) arg(n int) string {
	if l.dialect == Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return fmt.Sprintf("?%d", n)
}

// q rewrites a statement written with $n placeholders for the dialect.
func (l *Ledger) q(stmt string) string {
	if l.dialect == Postgres {
		return stmt
	}
	return strings.ReplaceAll(stmt, "$", "?")
}
