# otpprov: see README.md. `make test` is what CI runs.
GO       ?= go
BIN      ?= bin
LDFLAGS  := -s -w
# otpprov version prints the VCS revision from the build info: stamp it
# whenever git can read this checkout, even where GOFLAGS says
# -buildvcs=false, and build without it where git cannot (a tarball).
BUILDVCS := $(shell git status --porcelain >/dev/null 2>&1 && echo auto || echo false)
# urfave_cli_no_docs leaves out urfave/cli's markdown and man generators
# (and the markdown library they pull in): the man page is our own
# (make man), and a smaller binary starts faster on every unit.
GOBUILD  := $(GO) build -trimpath -buildvcs=$(BUILDVCS) -tags urfave_cli_no_docs
export CGO_ENABLED := 0

.PHONY: all build test test-fuse test-cuts test-cuts-all lint demo cross cross-ledger qemu-smoke man bench bench-go bench-process clean fuzz fuzz-ci soak soak-scripts uboot-sandbox test-uboot-cuts test-uboot-cuts-all

all: build

build:
	$(GOBUILD) -o $(BIN)/otpprov ./cmd/otpprov
	$(GOBUILD) -o $(BIN)/ocotp-emu ./cmd/ocotp-emu

# The man page, bin/otpprov.1, written by otpprov from its own command tree
# (a hidden command), so that it documents exactly this binary. Read it
# with man -l bin/otpprov.1.
man: build
	$(BIN)/otpprov man --out $(BIN)/otpprov.1

# Unit tests, end-to-end testscript scenarios against the OTP emulator, the
# FUSE-mounted emulator and the cross-checks with od/dd/printf; vet and
# gofmt first; then every benchmark once, so none rots (they check what
# they measure). internal/testreport prints each package's line, the
# output of failed tests, every skipped test with its reason (go test
# alone says nothing of skips: a run that tested less would look the
# same), and a closing count; with CI set a skip fails the run. Its exit
# code, not go test's, is the pipe's: it fails on any failed event, on a
# stream cut short and on output that is not go test's.
test: lint
	$(GO) test -count=1 -json ./... | $(GO) run ./internal/testreport
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./... >/dev/null

# The FUSE scenarios alone, verbosely, so a log shows they ran (CI): one
# line per test, and the exit code of go test, not of the filter.
FUSE_LOG := $(BIN)/test-fuse.log
test-fuse:
	@mkdir -p $(BIN)
	@{ $(GO) test -count=1 -v -run 'TestFUSEScripts|TestOtpprovDoesNotLinkFUSE' ./cmd/otpprov && \
	   $(GO) test -count=1 -v ./internal/ocotpfs ./internal/ocotpemu; } >$(FUSE_LOG) 2>&1; \
	rc=$$?; grep -E '^\s*--- (PASS|FAIL|SKIP)|^(ok|FAIL)' $(FUSE_LOG); exit $$rc

# The exported sh scripts cut at every byte, each prefix run by dash and by
# busybox sh (export.TestShellCutAtEveryByte), a process per cut. make test
# cuts four of the scripts where a prefix can be a whole program;
# test-cuts (CI) cuts the i.MX6 multi-word script, which has every
# construct, at every byte (about 10,000 processes); test-cuts-all cuts
# all nine at every byte (about 122,000 processes, 5 to 11 minutes here).
test-cuts:
	CUTS=one $(GO) test -count=1 -timeout 30m -run TestShellCutAtEveryByte ./export

test-cuts-all:
	CUTS=all $(GO) test -count=1 -timeout 60m -run TestShellCutAtEveryByte ./export

# U-Boot's sandbox, in which the exported U-Boot scripts and uuu lists
# run (internal/ubootsandbox): Debian's u-boot 2023.01 source with our
# fuse backend patched in, built once (about 4 minutes on 2 cores) into
# ${XDG_CACHE_HOME:-~/.cache}/otpprov/ and reused while build.sh, the
# patch and the config are unchanged. Needs a deb-src entry and the build
# dependencies: `internal/ubootsandbox/build.sh --deps` (root) adds them.
uboot-sandbox:
	internal/ubootsandbox/build.sh >/dev/null

# Every prefix of the exported U-Boot scripts and uuu lists, each run in
# the sandbox from a fresh board: none may burn a bit, and the whole
# script burns exactly the plan (export/sandbox_test.go). make test runs
# the prefixes of each script's last line and a seeded sample of the rest;
# test-uboot-cuts (CI) also every byte of secure-boot.yaml's U-Boot script
# (security confirmation, a lock, the close: about 10,300 runs since its
# script checks the part and verifies on a re-run: 212 s at a load of 9
# here, about 120 s estimated on an idle machine, was 86 s in CI);
# test-uboot-cuts-all every byte of all three plans' scripts and lists
# (about 35,000 runs, 7 to 13 minutes). They print the result lines; the whole log is in
# bin/test-uboot-cuts.log.
CUTS_LOG := $(BIN)/test-uboot-cuts.log
UBOOT_CUTS = @mkdir -p $(BIN); \
	$(GO) test -count=1 -timeout 0 -v -run '^TestSandboxCutScriptsBurnNothing$$' ./export -args $(1) >$(CUTS_LOG) 2>&1; \
	rc=$$?; grep -E '^\s*--- (PASS|FAIL|SKIP)|prefixes run|^(ok|FAIL)' $(CUTS_LOG); exit $$rc
test-uboot-cuts: uboot-sandbox
	$(call UBOOT_CUTS,-cuts.every=secure-boot.uboot)

test-uboot-cuts-all: uboot-sandbox
	$(call UBOOT_CUTS,-cuts.all)

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Fuzzing: every Fuzz target of the tests (found by name, so a new one is
# never left out), each for FUZZTIME, one `go test -fuzz` per target since
# -fuzz takes one target per package. Crashers land in the package's
# testdata/fuzz/FuzzX/, which `make test` then runs. FUZZMINIMIZETIME caps
# the minimizing of each new input, which by default may take a minute,
# during which that worker does not fuzz (golang/go#48820).
FUZZTIME         ?= 30s
FUZZMINIMIZETIME ?= 5s
FUZZ = $(shell grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^\./(.*)/[^/]*:func (Fuzz.*)|\1:\2|' | sort)
fuzz:
	@set -e; for t in $(FUZZ); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "== $$name in ./$$pkg, $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./$$pkg; \
	done

# What CI runs: each target briefly, as a smoke test of the targets. A
# count, not a time: on a loaded machine a 3 s limit can run out while the
# workers still gather the corpus's baseline coverage, and go test then
# fails with "context deadline exceeded" (seen in a CI run).
fuzz-ci:
	$(MAKE) fuzz FUZZTIME=2000x

# The model test at length (applier/model_test.go): random manifests x
# random boards x random faults. `make test` runs 10,000 cases; this runs
# SOAK_CASES from SOAK_SEED and prints the count. A failure prints the
# seed, the case and the command that re-runs that case alone.
SOAK_CASES ?= 1000000
SOAK_SEED  ?= 1
soak:
	$(GO) test -count=1 -timeout 0 -run '^TestModel$$' -v ./applier -args -model.cases=$(SOAK_CASES) -model.seed=$(SOAK_SEED)

# The model's random plans as U-Boot scripts and uuu lists, run in the
# U-Boot sandbox (applier.TestModelScripts): each burns exactly its plan
# on its board and nothing on another part. make test runs 12 plans;
# this runs SCRIPTS_CASES from SOAK_SEED (about 8 per second here).
SCRIPTS_CASES ?= 500
soak-scripts: uboot-sandbox
	$(GO) test -count=1 -timeout 0 -run '^TestModelScripts$$' -v ./applier -args -model.scripts=$(SCRIPTS_CASES) -model.seed=$(SOAK_SEED)

# Benchmarks (README "Performance"): the Go benchmarks, BENCHTIME each,
# with the per-word ratios of plan at 64..4096 words; then the whole
# processes against od, dd|od and the document's shell loop.
BENCHTIME ?= 1s
bench: bench-go bench-process

bench-go:
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./manifest ./planner ./applier ./nvmem >$(BIN)/bench.txt
	@scripts/bench-ratios $(BIN)/bench.txt

# A virtual i.MX8MM board from the Digi document's dump, planned and applied.
DEMO := demo
demo: build
	rm -rf $(DEMO)
	$(BIN)/otpprov sim init --soc imx8mm --from-dump examples/imx8mm/digi-cc8mm.dump $(DEMO)/board
	@echo "The Digi document's board, with Digi's overlay: bank 9 holds its hardware ID, not MACs:"
	$(BIN)/otpprov show --device sim:$(DEMO)/board --fusemap examples/imx8mm/digi-cc8m-fusemap.yaml \
		--field DIGI_HWID_YEAR,DIGI_HWID_MONTH,DIGI_HWID_SN,DIGI_HWID_MAC_BASE,DIGI_HWID_VARIANT,DIGI_HWID_HV
	$(BIN)/otpprov validate --fusemap examples/imx8mm/acme-fusemap.yaml $(filter-out %-fusemap.yaml,$(wildcard examples/imx8mm/*.yaml))
	$(BIN)/otpprov validate $(filter-out %/unit-1001.yaml,$(wildcard examples/family/*.yaml))
	$(BIN)/otpprov plan --device sim:$(DEMO)/board examples/imx8mm/board.yaml
	$(BIN)/otpprov apply --device sim:$(DEMO)/board --auto-approve examples/imx8mm/board.yaml
	$(BIN)/otpprov verify --device sim:$(DEMO)/board examples/imx8mm/board.yaml
	@echo
	@echo "Applying again is a no-op:"
	$(BIN)/otpprov apply --device sim:$(DEMO)/board --auto-approve examples/imx8mm/board.yaml
	@echo
	@echo "Secure boot on a blank board: SRK hash, lock, close, acknowledged by name:"
	$(BIN)/otpprov sim init --soc imx8mm $(DEMO)/blank
	$(BIN)/otpprov apply --device sim:$(DEMO)/blank --auto-approve \
		--confirm-security SRK_LOCK,SEC_CONFIG_CLOSE examples/imx8mm/secure-boot.yaml
	$(BIN)/otpprov show --device sim:$(DEMO)/blank --field SRK_HASH
	@echo
	@echo "A line: three stations, one SQLite ledger; every unit its own MACs and serial:"
	$(BIN)/otpprov validate examples/line/unit.yaml
	$(BIN)/otpprov ledger init --ledger sqlite:$(DEMO)/line.db examples/line/pools.yaml
	for u in 1 2 3; do $(BIN)/otpprov sim init --soc imx8mm $(DEMO)/unit$$u >/dev/null; done
	for u in 1 2 3; do OTPPROV_LEDGER=sqlite:$(DEMO)/line.db $(BIN)/otpprov apply --auto-approve \
		--device sim:$(DEMO)/unit$$u examples/line/unit.yaml & done; wait
	$(BIN)/otpprov apply --ledger sqlite:$(DEMO)/line.db --auto-approve --device sim:$(DEMO)/unit2 examples/line/unit.yaml
	$(BIN)/otpprov ledger status --ledger sqlite:$(DEMO)/line.db
	$(BIN)/otpprov ledger find --ledger sqlite:$(DEMO)/line.db 00:04:9f:30:00:03
	@echo
	@echo "An offline station, st9: blocks of 4 units reserved for it, two units applied from its own ledger, the tail given back:"
	$(BIN)/otpprov ledger reserve --ledger sqlite:$(DEMO)/line.db --pool eth --count 4 --station st9 --out $(DEMO)/eth.block
	$(BIN)/otpprov ledger reserve --ledger sqlite:$(DEMO)/line.db --pool serial --count 4 --station st9 --out $(DEMO)/serial.block
	for b in eth serial; do $(BIN)/otpprov ledger import-block --ledger sqlite:$(DEMO)/st9.db --station st9 $(DEMO)/$$b.block; done
	for u in 8 9; do $(BIN)/otpprov sim init --soc imx8mm $(DEMO)/unit$$u >/dev/null; \
		$(BIN)/otpprov apply --ledger sqlite:$(DEMO)/st9.db --auto-approve --device sim:$(DEMO)/unit$$u examples/line/unit.yaml >/dev/null; done
	$(BIN)/otpprov ledger status --ledger sqlite:$(DEMO)/st9.db
	for b in eth serial; do $(BIN)/otpprov ledger return-block --ledger sqlite:$(DEMO)/st9.db --out $(DEMO)/$$b.return $(DEMO)/$$b.block && \
		$(BIN)/otpprov ledger return --ledger sqlite:$(DEMO)/line.db $(DEMO)/$$b.return; done
	$(BIN)/otpprov ledger status --ledger sqlite:$(DEMO)/line.db

# Whole-process timings (internal/procbench): otpprov dump, read, plan and
# apply against od, dd|od and the Digi document's shell loop, on the same
# emulated device in the same run, with medians, ratios and a PASS/MISSED
# line per target. Needs root and /dev/fuse for the ocotp-emu mount, else
# it times an image file and says so. apply-floor (internal/procbench/floor)
# does only apply's device I/O: the least any Go tool can spend on the
# device, timed beside the two. BENCH_RUNS runs per command;
# BENCH_FLAGS=-check makes a missed target exit 2.
BENCH_RUNS  ?= 30
BENCH_FLAGS ?=
bench-process: build
	$(GOBUILD) -o $(BIN)/procbench ./internal/procbench
	$(GOBUILD) -o $(BIN)/apply-floor ./internal/procbench/floor
	$(BIN)/procbench -otpprov $(BIN)/otpprov -emu $(BIN)/ocotp-emu -floor $(BIN)/apply-floor -n $(BENCH_RUNS) $(BENCH_FLAGS)

# Static binaries for the boards, under a size budget: the tool is copied
# to every unit on the line, often over a serial console or a slow link.
SIZE_BUDGET := 8388608
CROSS := $(BIN)/otpprov-linux-arm64 $(BIN)/otpprov-linux-armv7
# The board build leaves out the ledger's database drivers (-tags
# noledger): they double the binary. A board applies plans a station made
# with --ledger; the station build (make build) has the ledger.
cross:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -tags urfave_cli_no_docs,noledger -ldflags '$(LDFLAGS)' -o $(BIN)/otpprov-linux-arm64 ./cmd/otpprov
	GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) -tags urfave_cli_no_docs,noledger -ldflags '$(LDFLAGS)' -o $(BIN)/otpprov-linux-armv7 ./cmd/otpprov
	@for f in $(CROSS); do \
		size=$$(stat -c %s $$f); \
		if [ $$size -gt $(SIZE_BUDGET) ]; then echo "$$f: $$size bytes, over the budget of $(SIZE_BUDGET) bytes"; exit 1; fi; \
		echo "$$f: $$size bytes (budget $(SIZE_BUDGET))"; \
	done

# A board with network may hold the ledger itself (allocate, burn and
# record on the board): the station build, with the database drivers,
# cross-compiled for arm64. It is outside the board budget, on purpose
# (see README, "On a whole line"): a line that copies the tool to every
# unit over a slow link ships the lean build and lets a station allocate.
LEDGER_CROSS := $(BIN)/otpprov-ledger-linux-arm64
cross-ledger:
	GOOS=linux GOARCH=arm64 $(GOBUILD) -tags urfave_cli_no_docs -ldflags '$(LDFLAGS)' -o $(LEDGER_CROSS) ./cmd/otpprov
	@echo "$(LEDGER_CROSS): $$(stat -c %s $(LEDGER_CROSS)) bytes (no budget: boards with network)"

# The board binaries under qemu-user against the emulator (CI runs this).
qemu-smoke: build cross cross-ledger
	scripts/qemu-smoke

clean:
	rm -rf $(BIN) $(DEMO)
