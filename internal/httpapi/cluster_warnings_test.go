package httpapi_test

import (
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A node on PostgreSQL that took its keys from its own data dir says so for
// both keys: another node would sign and seal with keys of its own.
func TestOps_PostgresNodeWithoutExplicitKeysWarnsAboutBoth(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		logs := h.Logs()
		warned := strings.Contains(logs, "SWITCHBOARD_TOKEN_KEY") && strings.Contains(logs, "SWITCHBOARD_SECRET_KEY")
		if onPostgres := strings.HasPrefix(url, "postgres"); warned != onPostgres {
			t.Errorf("postgres %v, warned about both keys %v:\n%.2000s", onPostgres, warned, logs)
		}
	})
}
