package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func open(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryString(t testing.TB, db *sql.DB, q string) string {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if !s.Valid {
		return "NULL"
	}
	return s.String
}

func mustExec(t testing.TB, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func rows(t testing.TB, db *sql.DB) []string {
	t.Helper()
	r, err := db.Query("SELECT v FROM t ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var v string
		if err := r.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The URL is the libpq Unix-socket form the ledger documents, pgx
// connects with it as given, and the server listens on no TCP port.
func TestStartConnectsOverUnixSocket(t *testing.T) {
	t.Parallel()
	began := time.Now()
	url := Start(t)
	t.Logf("Start took %v", time.Since(began))
	if !strings.HasPrefix(url, "postgres:///test?host=/") || !strings.HasSuffix(url, "&user=postgres") {
		t.Fatalf("URL %q is not postgres:///test?host=DIR&user=postgres", url)
	}
	db := open(t, url)
	if got := queryString(t, db, "SELECT 1"); got != "1" {
		t.Fatalf("SELECT 1 = %s", got)
	}
	// NULL for a connection over a Unix socket.
	if got := queryString(t, db, "SELECT inet_server_addr()"); got != "NULL" {
		t.Errorf("inet_server_addr() = %s, want NULL (a Unix socket)", got)
	}
	if got := queryString(t, db, "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want none", got)
	}
	if got := queryString(t, db, "SHOW fsync"); got != "off" {
		t.Errorf("fsync = %s, want off by default", got)
	}
	if got := queryString(t, db, "SELECT current_database()"); got != Database {
		t.Errorf("current_database() = %s", got)
	}
	mustExec(t, db, "CREATE TABLE t (v text PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO t VALUES ('00:04:9f:30:00:00')")
	if got := rows(t, db); len(got) != 1 || got[0] != "00:04:9f:30:00:00" {
		t.Fatalf("rows = %q", got)
	}
	// The constraint is the server's, not a fake's.
	if _, err := db.Exec("INSERT INTO t VALUES ('00:04:9f:30:00:00')"); err == nil {
		t.Fatal("a duplicate primary key was accepted")
	}
}

// A durable server keeps fsync on; committed rows outlive a clean
// restart, and while it is stopped nothing connects.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	s := New(t, Durable())
	db := open(t, s.URL())
	if got := queryString(t, db, "SHOW fsync"); got != "on" {
		t.Fatalf("fsync = %s with Durable", got)
	}
	mustExec(t, db, "CREATE TABLE t (v text)")
	mustExec(t, db, "INSERT INTO t VALUES ('before')")
	s.Stop(t)
	if err := db.Ping(); err == nil {
		t.Fatal("connected to a stopped server")
	}
	s.Start(t)
	mustExec(t, db, "INSERT INTO t VALUES ('between')")
	began := time.Now()
	s.Restart(t)
	t.Logf("Restart took %v", time.Since(began))
	if got := rows(t, db); fmt.Sprint(got) != "[before between]" {
		t.Fatalf("rows after restart = %q, want [before between]", got)
	}
	if !strings.Contains(s.Log(), "database system is shut down") {
		t.Errorf("the log does not show a clean shutdown:\n%s", s.Log())
	}
}

// Kill crashes the server: the open transaction's row is gone, the
// committed one is there after recovery, and no server process is left.
func TestKillThenStart(t *testing.T) {
	t.Parallel()
	s := New(t)
	db := open(t, s.URL())
	mustExec(t, db, "CREATE TABLE t (v text)")
	mustExec(t, db, "INSERT INTO t VALUES ('committed')")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO t VALUES ('open')"); err != nil {
		t.Fatal(err)
	}
	pm := s.cmd.Process.Pid
	children := childrenOf(pm)
	if len(children) == 0 {
		t.Fatal("the postmaster has no children: not the server's process")
	}
	s.Kill(t)
	for _, p := range append(children, pm) {
		if alive(p) {
			t.Errorf("server process %d alive after Kill", p)
		}
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("a transaction committed on a killed server")
	}
	s.Start(t)
	if got := rows(t, db); fmt.Sprint(got) != "[committed]" {
		t.Fatalf("rows after the crash = %q, want [committed]", got)
	}
	if !strings.Contains(s.Log(), "database system was interrupted") {
		t.Errorf("the log does not show crash recovery:\n%s", s.Log())
	}
}

// Two servers at once share nothing: directories, sockets and data are
// their own, and stopping one leaves the other up.
func TestTwoServersAtOnce(t *testing.T) {
	t.Parallel()
	var servers [2]*Server
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i] = New(t)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	a, b := servers[0], servers[1]
	if a.Dir() == b.Dir() {
		t.Fatalf("both servers in %s", a.Dir())
	}
	dbA, dbB := open(t, a.URL()), open(t, b.URL())
	mustExec(t, dbA, "CREATE TABLE t (v text)")
	mustExec(t, dbA, "INSERT INTO t VALUES ('a')")
	if _, err := dbB.Exec("SELECT * FROM t"); err == nil {
		t.Fatal("server b sees server a's table")
	}
	a.Stop(t)
	if got := queryString(t, dbB, "SELECT 2"); got != "2" {
		t.Fatalf("server b after a stopped: %s", got)
	}
}

// A server is stopped and its directory removed when its test ends.
func TestCleanupRemovesServer(t *testing.T) {
	var s *Server
	var pm int
	t.Run("server", func(t *testing.T) {
		s = New(t)
		pm = s.cmd.Process.Pid
	})
	if s == nil {
		t.FailNow()
	}
	if alive(pm) {
		t.Errorf("postmaster %d alive after its test ended", pm)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after its test ended: %v", s.Dir(), err)
	}
}

// Shared gives each test its own database on one server, and drops it
// when the test ends.
func TestShared(t *testing.T) {
	var urls [2]string
	for i := range urls {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			urls[i] = Shared(t)
			db := open(t, urls[i])
			if _, err := db.Exec("SELECT * FROM t"); err == nil {
				t.Fatal("a fresh database holds the previous test's table")
			}
			mustExec(t, db, "CREATE TABLE t (v text)")
		})
	}
	if urls[0] == "" || urls[1] == "" {
		t.FailNow()
	}
	host := func(u string) string { return u[strings.Index(u, "?"):] }
	if host(urls[0]) != host(urls[1]) {
		t.Errorf("two servers, not one: %s, %s", urls[0], urls[1])
	}
	if urls[0] == urls[1] {
		t.Fatalf("both tests got %s", urls[0])
	}
	db := open(t, shared.server.DatabaseURL("postgres"))
	name := strings.TrimPrefix(urls[0][:strings.Index(urls[0], "?")], "postgres:///")
	if n := queryString(t, db, "SELECT count(*) FROM pg_database WHERE datname = '"+name+"'"); n != "0" {
		t.Errorf("database %s not dropped after its test", name)
	}
}

// fakeTB records how require ended a test: Skip and Fatal end the
// goroutine, as testing's do.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func requireWith(err error) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		requireFound(f, nil, err)
	}()
	<-done
	return f
}

// Without PostgreSQL a test skips, saying what to install; in CI it
// fails instead. An error that is not a missing install fails anywhere.
func TestMissingPostgreSQL(t *testing.T) {
	missing := fmt.Errorf("%w: no server binaries under /usr/lib/postgresql/*/bin: install Debian's postgresql package (apt-get install postgresql)", errMissing)
	var announced strings.Builder
	loud = &announced
	defer func() { loud = os.Stderr }()
	t.Setenv("CI", "")
	if f := requireWith(missing); !f.skipped || f.failed || !strings.Contains(f.msg, "apt-get install postgresql") {
		t.Errorf("outside CI: skipped %v, failed %v, %q", f.skipped, f.failed, f.msg)
	}
	if !strings.Contains(announced.String(), "*** POSTGRESQL TESTS NOT RUN") {
		t.Errorf("a skip was not announced: %q", announced.String())
	}
	if f := requireWith(errors.New("initdb: broken")); f.skipped || !f.failed {
		t.Errorf("a broken install outside CI: skipped %v, failed %v", f.skipped, f.failed)
	}
	t.Setenv("CI", "true")
	if f := requireWith(missing); f.skipped || !f.failed || !strings.Contains(f.msg, "apt-get install postgresql") || !strings.Contains(f.msg, "CI") {
		t.Errorf("in CI: skipped %v, failed %v, %q", f.skipped, f.failed, f.msg)
	}
}

// The newest major version is chosen, by number: 9 before 15 before 16.
func TestMajorOrder(t *testing.T) {
	for bin, want := range map[string]int{
		"/usr/lib/postgresql/16/bin/postgres": 16,
		"/usr/lib/postgresql/9/bin/postgres":  9,
		"/usr/lib/postgresql/x/bin/postgres":  0,
	} {
		if got := major(bin); got != want {
			t.Errorf("major(%s) = %d, want %d", bin, got, want)
		}
	}
}

// A directory whose owner process is gone is swept; a live one's is
// kept.
func TestSweep(t *testing.T) {
	live, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(live)
	os.WriteFile(filepath.Join(live, "owner"), []byte(self()), 0o644)
	dead, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dead)
	// This process's PID with another start time: a reused PID.
	os.WriteFile(filepath.Join(dead, "owner"), []byte(fmt.Sprintf("%d 1", os.Getpid())), 0o644)
	sweep()
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live process's directory was swept: %v", err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dead process's directory was kept: %v", err)
	}
}

// Start-up time, which every test that uses New pays: copy the
// template, start, connect (make test runs it once).
func BenchmarkNew(b *testing.B) {
	inst := require(b)
	for i := 0; i < b.N; i++ {
		s, err := newServer(inst, config{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.start(); err != nil {
			b.Fatal(err)
		}
		err = s.exec("SELECT 1")
		if rerr := s.remove(); err == nil {
			err = rerr
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// The proxy passes traffic, cuts it (the client gets an error at once),
// blackholes it (the client gets nothing: only its own deadline ends the
// wait), and restores it; a trigger fires on the bytes it names.
func TestProxy(t *testing.T) {
	t.Parallel()
	s := New(t)
	px := NewProxy(t, s)
	for _, url := range []string{px.URL(Database), px.TCPURL(Database)} {
		db := open(t, url)
		if got := queryString(t, db, "SELECT 1"); got != "1" {
			t.Fatalf("through the proxy: %s", got)
		}
		px.Set(Cut)
		if err := db.Ping(); err == nil {
			t.Fatalf("%s: a ping through a cut network", url)
		}
		px.Set(Blackhole)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		began := time.Now()
		err := db.PingContext(ctx)
		cancel()
		if err == nil || time.Since(began) < 250*time.Millisecond {
			t.Fatalf("%s: a blackholed ping ended after %v: %v, want a wait until the deadline", url, time.Since(began), err)
		}
		px.Set(Pass)
		tr := px.On(&Trigger{Dir: ToClient, Match: "SELECT 1\x00", Before: true, Then: Cut})
		if _, err := db.Exec("SELECT 1"); err == nil {
			t.Fatalf("%s: the answer was delivered past a trigger that cuts it", url)
		}
		<-tr.Fired
		px.Set(Pass)
		if got := queryString(t, db, "SELECT 2"); got != "2" {
			t.Fatalf("%s: after the network came back: %s", url, got)
		}
	}
}
