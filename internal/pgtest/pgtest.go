// Package pgtest runs real PostgreSQL servers for tests, from Debian's
// packages (the newest /usr/lib/postgresql/*/bin), each in its own
// temporary directory and reachable only on a Unix socket there, so that
// any number of them run side by side without a port or a file in
// common. The ledger's tests need the real server: its locking, its
// isolation, what a client sees when the server stops or dies mid-
// transaction; no fake has those.
//
// Where PostgreSQL is missing a test skips, loudly; with CI set it fails
// instead, saying what to install (CI must run these tests).
//
// Start-up: initdb is the slow part (about 1 s on an idle machine, 5 s
// on a loaded one), so it runs once per machine into a template under
// the user's cache directory (keyed by the server's version), and each
// server starts from a copy of it. A server then takes a copy and a
// start-up; Shared gives a test a fresh database on one server per test
// process, for tests that neither stop nor kill it.
//
// A network drop: NewProxy puts a proxy before a server (on a Unix
// socket and a TCP port of its own) that cuts or blackholes every
// connection, at once or at an exact message, and restores them.
package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the driver the ledger uses
)

// Database is the database every server holds from the start: the
// template has it, so Start needs no CREATE DATABASE.
const Database = "test"

// User is the superuser every server has, whoever runs the test: initdb
// names it, so URLs are the same for root and for a developer.
const User = "postgres"

const (
	// A loaded machine (CI with two cores shared) can take seconds where
	// an idle one takes a fraction of one.
	readyTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
	// Bump when the template's contents change (initdb flags, the
	// databases in it), so an old cached template is not used.
	templateVersion = "1"
)

// errMissing marks what a test cannot help: PostgreSQL is not installed,
// or it is and its user is not. Only these skip outside CI.
var errMissing = errors.New("PostgreSQL is missing")

// Option changes how New and Start make a server.
type Option func(*config)

type config struct {
	durable bool
}

// Durable keeps fsync on. By default a server runs with fsync off: a
// test server, whose data need not outlive the machine, and start-up and
// commits are much faster without it. Committed transactions still
// survive Kill and Restart with fsync off (at commit the WAL reaches the
// kernel, which keeps it when the server dies); only a crash of the
// machine would lose them. Use Durable where the cost of a real commit
// is measured (benchmarks) or where the disk itself is under test.
func Durable() Option {
	return func(c *config) { c.durable = true }
}

// Server is one PostgreSQL server: its directory holds the data
// directory, the Unix socket and the server's log.
type Server struct {
	dir     string
	data    string
	log     string
	inst    *install
	durable bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Start starts a server for t and returns the URL of its database:
// postgres:///test?host=DIR&user=postgres. The server is stopped and its
// directory removed when t ends.
func Start(t testing.TB, opts ...Option) string {
	t.Helper()
	return New(t, opts...).URL()
}

// New starts a server for t, which may stop, restart and kill it. It is
// stopped (immediately: nothing in it is kept) and its directory removed
// when t ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	inst := require(t)
	s, err := newServer(inst, c)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.remove(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	if err := s.start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// URL is the libpq URL of the server's database (Database), through its
// Unix socket. It does not change across Stop, Start, Restart and Kill.
func (s *Server) URL() string { return s.DatabaseURL(Database) }

// DatabaseURL is the URL of database name on this server.
func (s *Server) DatabaseURL(name string) string {
	return "postgres:///" + name + "?host=" + s.dir + "&user=" + User
}

// Dir is the server's directory: its socket is there, its data
// directory in data/, its log in postgres.log.
func (s *Server) Dir() string { return s.dir }

// Start starts the server again after Stop or Kill, on the same data
// and socket, and returns once it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Stop shuts the server down cleanly (a fast shutdown: open
// transactions are rolled back, clients disconnected) and returns when
// it has exited.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(syscall.SIGINT); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Restart is Stop then Start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

// Kill crashes the server: the postmaster and every process it started
// get SIGKILL at once, as in a power cut that the disk survives, and it
// returns when they are gone. The next Start recovers from the WAL. All
// of them die, not the postmaster alone, so that no backend finishes a
// commit after the crash and the next Start finds no old process still
// attached to the data directory.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.kill(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// CreateDatabase creates a new, empty database on a running server and
// returns its URL.
func (s *Server) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	if err := s.exec("CREATE DATABASE " + quoteIdent(name)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.DatabaseURL(name)
}

// Log is what the server wrote to its log so far, for a test's failure
// message.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

var shared struct {
	mu     sync.Mutex
	server *Server
	err    error
	db     *sql.DB
	n      atomic.Int64
}

// Shared returns the URL of a new, empty database for t on the server
// this test process shares (started by the first call, and killed with
// the process: the kernel sends it SIGKILL when the process ends; its
// directory is removed by the next process that starts a server). The
// database is dropped when t ends. Tests that stop or kill the server
// must use New.
func Shared(t testing.TB) string {
	t.Helper()
	inst := require(t)
	shared.mu.Lock()
	if shared.server == nil && shared.err == nil {
		s, err := newServer(inst, config{})
		if err == nil {
			if err = s.start(); err == nil {
				shared.db, err = sql.Open("pgx", s.DatabaseURL("postgres"))
			}
		}
		shared.server, shared.err = s, err
	}
	s, err, db := shared.server, shared.err, shared.db
	shared.mu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: the shared server: %v", err)
	}
	name := fmt.Sprintf("%s_%d", dbName(t.Name()), shared.n.Add(1))
	if _, err := db.Exec("CREATE DATABASE " + quoteIdent(name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v\n%s", name, err, tail(s.Log()))
	}
	t.Cleanup(func() {
		// FORCE: a test that left a connection open must not fail the
		// next one.
		if _, err := db.Exec("DROP DATABASE " + quoteIdent(name) + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.DatabaseURL(name)
}

// install is a PostgreSQL installation found on this machine.
type install struct {
	bin     string                 // directory of postgres, initdb
	version string                 // postgres --version
	cred    *syscall.Credential    // whom the server runs as; nil: as we are
	owner   struct{ uid, gid int } // who owns its files
}

var findInstall = sync.OnceValues(func() (*install, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		return nil, fmt.Errorf("%w: no server binaries under /usr/lib/postgresql/*/bin: install Debian's postgresql package (apt-get install postgresql)", errMissing)
	}
	// The newest: the directories are major versions, 15, 16, ...
	sort.Slice(bins, func(i, j int) bool { return major(bins[i]) < major(bins[j]) })
	inst := &install{bin: filepath.Dir(bins[len(bins)-1])}
	for _, tool := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(inst.bin, tool)); err != nil {
			return nil, fmt.Errorf("%w: %v: install Debian's postgresql package (apt-get install postgresql)", errMissing, err)
		}
	}
	out, err := exec.Command(filepath.Join(inst.bin, "postgres"), "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s/postgres --version: %v", inst.bin, err)
	}
	inst.version = strings.TrimSpace(string(out))
	inst.owner.uid, inst.owner.gid = os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as the
		// user the package made.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root, the server must run as the user postgres: %v (Debian's postgresql package makes it)", errMissing, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		inst.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		inst.owner.uid, inst.owner.gid = uid, gid
	}
	return inst, nil
})

func major(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(bin))))
	return n
}

// loud is where a skip is announced beyond the test's own output (go
// test shows a skip's reason only with -v).
var loud io.Writer = os.Stderr

// require finds PostgreSQL or ends t: a skip outside CI, a failure in CI.
func require(t testing.TB) *install {
	t.Helper()
	inst, err := findInstall()
	return requireFound(t, inst, err)
}

func requireFound(t testing.TB, inst *install, err error) *install {
	t.Helper()
	if err == nil {
		return inst
	}
	if !errors.Is(err, errMissing) {
		t.Fatalf("pgtest: %v", err)
	}
	msg := fmt.Sprintf("POSTGRESQL TESTS NOT RUN: %v", err)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI must run them)", msg)
	}
	fmt.Fprintf(loud, "\n*** %s ***\n\n", msg)
	t.Skip(msg)
	return nil
}

// command runs a PostgreSQL program as the server's user, in dir (which
// that user can enter: it may not enter the test's directory). Pdeathsig
// kills it with this process, so that no server outlives a test binary
// that panicked or timed out. (The kernel sends it when the thread that
// started the process ends; Go ends a thread only when a goroutine
// locked to it returns, which nothing here does.)
func (inst *install) command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(inst.bin, name), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: inst.cred,
		Pdeathsig:  syscall.SIGKILL,
		// Its own process group: a ^C at the terminal reaches the test
		// binary, whose death then ends the server, not both at once.
		Setpgid: true,
	}
	return cmd
}

// tempDir makes a directory for a server (or a template) owned by the
// server's user, with an owner file naming this process so that the
// directory of a process that died without cleaning up can be told
// from a live one's (sweep).
func (inst *install) tempDir(prefix string) (string, error) {
	sweepOnce.Do(sweep)
	// A Unix socket's path is at most 107 bytes: a long TMPDIR would
	// make the server fail to start.
	base := os.TempDir()
	if len(base) > 60 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(self()), 0o644); err != nil {
		return "", err
	}
	if err := os.Chown(dir, inst.owner.uid, inst.owner.gid); err != nil {
		return "", err
	}
	return dir, nil
}

// self identifies this process: its PID and its start time, since a PID
// is reused.
func self() string { return processID(os.Getpid()) }

func processID(pid int) string {
	// starttime is field 22 of /proc/PID/stat, the 20th after comm.
	f := procStat(pid)
	if len(f) < 20 {
		return ""
	}
	return fmt.Sprintf("%d %s", pid, f[19])
}

// procStat is /proc/PID/stat's fields after the command name (state,
// ppid, ...), which may hold spaces and parentheses; nil when the
// process is gone.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

var sweepOnce sync.Once

// sweep removes the directories of processes that are gone: the shared
// server's (never removed by its own process) and those of test binaries
// that were killed.
func sweep() {
	bases := []string{os.TempDir()}
	if bases[0] != "/tmp" {
		bases = append(bases, "/tmp")
	}
	for _, base := range bases {
		dirs, _ := filepath.Glob(filepath.Join(base, "pgtest-*"))
		for _, dir := range dirs {
			owner, err := os.ReadFile(filepath.Join(dir, "owner"))
			if err != nil {
				continue // not ours, or still being made
			}
			f := strings.Fields(string(owner))
			if len(f) != 2 {
				continue
			}
			pid, err := strconv.Atoi(f[0])
			if err != nil || processID(pid) == string(owner) {
				continue
			}
			os.RemoveAll(dir)
		}
	}
}

var templateOnce struct {
	sync.Once
	dir string
	err error
}

// templateDir is template, once per process.
func (inst *install) templateDir() (string, error) {
	templateOnce.Do(func() { templateOnce.dir, templateOnce.err = inst.template() })
	return templateOnce.dir, templateOnce.err
}

// template returns a data directory made by initdb, holding Database,
// from the cache if it has one for this server version, else made now
// and cached; where the cache cannot be written, one made for this
// process alone.
func (inst *install) template() (string, error) {
	key := regexp.MustCompile(`[^A-Za-z0-9.]+`).ReplaceAllString(inst.version, "-") + "-v" + templateVersion
	cache := ""
	if c, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(c, "otpprov", "pgtest", key)
		if _, err := os.Stat(filepath.Join(cache, "PG_VERSION")); err == nil {
			return cache, nil
		}
	}
	dir, err := inst.tempDir("pgtest-template-")
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	// --no-sync: a template, copied before use; 1 MB WAL segments (the
	// least) rather than 16: a third of the bytes to copy per server.
	if out, err := inst.command(dir, "initdb", "-D", data, "-U", User, "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions", "--wal-segsize=1").CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// Single-user mode: no socket, no wait for start-up.
	single := inst.command(dir, "postgres", "--single", "-D", data, "-c", "fsync=off", "postgres")
	single.Stdin = strings.NewReader("CREATE DATABASE " + Database + ";\n")
	if out, err := single.CombinedOutput(); err != nil || bytes.Contains(out, []byte("ERROR")) {
		return "", fmt.Errorf("create database %s in the template: %v\n%s", Database, err, out)
	}
	if cache == "" {
		return data, nil
	}
	// Another test process may be making the same template: each makes
	// its own, and a rename puts one in place whole.
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err == nil {
		staging, err := os.MkdirTemp(filepath.Dir(cache), ".staging-")
		if err == nil {
			os.Remove(staging)
			if err := copyDir(data, staging); err == nil {
				if os.Rename(staging, cache) == nil {
					os.RemoveAll(dir)
					return cache, nil
				}
			}
			os.RemoveAll(staging)
			if _, err := os.Stat(filepath.Join(cache, "PG_VERSION")); err == nil {
				os.RemoveAll(dir)
				return cache, nil
			}
		}
	}
	// No cache: this process's template, swept once it is gone.
	return data, nil
}

// copyDir copies a data directory with its modes and owners (initdb's
// 0700, the server's user).
func copyDir(from, to string) error {
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", from, to, err, out)
	}
	return nil
}

func newServer(inst *install, c config) (*Server, error) {
	tmpl, err := inst.templateDir()
	if err != nil {
		return nil, err
	}
	dir, err := inst.tempDir("pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "postgres.log"), inst: inst, durable: c.durable}
	if err := copyDir(tmpl, s.data); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("the server in %s is already running", s.dir)
	}
	fsync := "off"
	if s.durable {
		fsync = "on"
	}
	cmd := s.inst.command(s.dir, "postgres", "-D", s.data,
		"-k", s.dir, // the socket, in the server's own directory
		"-c", "listen_addresses=", // no TCP: no port to collide on
		"-c", "fsync="+fsync,
		"-c", "logging_collector=off")
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	// Ready when postmaster.pid names this process and says "ready", as
	// pg_ctl -w checks (an old file, after Kill, names another process).
	pidFile := filepath.Join(s.data, "postmaster.pid")
	for {
		if b, err := os.ReadFile(pidFile); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) >= 8 && lines[0] == strconv.Itoa(cmd.Process.Pid) && strings.TrimSpace(lines[7]) == "ready" {
				return nil
			}
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("the server in %s exited at start-up (%v):\n%s", s.dir, cmd.ProcessState, tail(s.Log()))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(began) > readyTimeout {
			cmd.Process.Kill()
			<-exited
			s.cmd = nil
			return fmt.Errorf("the server in %s was not ready after %v:\n%s", s.dir, readyTimeout, tail(s.Log()))
		}
	}
}

// stop signals the postmaster (SIGINT: fast shutdown; SIGQUIT:
// immediate) and waits for it.
func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("the server in %s is not running", s.dir)
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
		return fmt.Errorf("the server in %s did not stop within %v (killed):\n%s", s.dir, stopTimeout, tail(s.Log()))
	}
	s.cmd = nil
	return nil
}

func (s *Server) kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("the server in %s is not running", s.dir)
	}
	pm := s.cmd.Process.Pid
	// Stopped, the postmaster starts no new process while we list its
	// children.
	syscall.Kill(pm, syscall.SIGSTOP)
	children := childrenOf(pm)
	syscall.Kill(pm, syscall.SIGKILL)
	for _, c := range children {
		syscall.Kill(c, syscall.SIGKILL)
	}
	<-s.exited
	s.cmd = nil
	// Orphans are reaped by whoever is init here, which may be late or
	// never: dead is enough (a zombie holds no shared memory).
	deadline := time.Now().Add(stopTimeout)
	for _, c := range children {
		for alive(c) {
			if time.Now().After(deadline) {
				return fmt.Errorf("server process %d still alive %v after SIGKILL", c, stopTimeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := stat(p); ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// stat reads a process's parent and state from /proc.
func stat(pid int) (ppid int, state string) {
	f := procStat(pid)
	if len(f) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0]
}

func alive(pid int) bool {
	_, state := stat(pid)
	return state != "" && state != "Z" && state != "X"
}

// remove stops the server at once if it runs (nothing in it is kept)
// and removes its directory.
func (s *Server) remove() error {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	var err error
	if running {
		err = s.stop(syscall.SIGQUIT)
	}
	if rerr := os.RemoveAll(s.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// exec runs one statement in the server's postgres database.
func (s *Server) exec(stmt string) error {
	db, err := sql.Open("pgx", s.DatabaseURL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %v", stmt, err)
	}
	return nil
}

// dbName makes a database name from a test's name: lower case, letters,
// digits and underscores, short enough for PostgreSQL's 63 bytes with
// the counter after it.
func dbName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return "t_" + b.String()
}

func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// tail is the end of a server log, enough to say why it failed.
func tail(log string) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
