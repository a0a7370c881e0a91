package ledger

import (
	"context"
	"strings"
	"testing"
)

// A ledger URL's password is never shown: in the user part, as a
// password= parameter, or quoted back by the driver in its error.
func TestPasswordNeverShown(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://line:s3cret@db.example/otp":                 "postgres://line:xxxxx@db.example/otp",
		"postgresql://db.example/otp?user=line&password=s3cret": "postgresql://db.example/otp?password=xxxxx&user=line",
		"postgres:///otp?host=/run/postgresql":                  "postgres:///otp?host=/run/postgresql",
		"sqlite:/var/lib/otpprov/line.db":                       "sqlite:/var/lib/otpprov/line.db",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
	// A server that is not there: the driver's error names the URL's
	// parts; the password must not be among them.
	for _, raw := range []string{"postgres://line:s3cret@127.0.0.1:1/otp", "postgres://127.0.0.1:1/otp?user=line&password=s3cret"} {
		_, err := Open(context.Background(), raw)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%s): %v", Redact(raw), err)
		}
	}
}
