package platform

import (
	"strconv"
	"strings"
	"testing"

	"github.com/crypto-exchange/exchange/infra/platform/settings"
	"github.com/crypto-exchange/exchange/infra/stackfile"
)

// renderedBudget is what one run of the program rendered for the
// connection budget.
type renderedBudget struct {
	maxConnections int
	pods           int // HPA maximum + Deployment maxSurge
	pool, idle     int // the server's DB_MAX_OPEN_CONNS, DB_MAX_IDLE_CONNS
	migratePool    int
	readPool       bool // the server has DATABASE_READ_URL
	replicas       int  // the Cluster's streaming replicas
	cnpg           bool
}

// rendered reads the numbers off the declared objects, not off settings.
func rendered(t *testing.T, r *result) renderedBudget {
	t.Helper()
	var b renderedBudget
	if r.has("kubernetes:postgresql.cnpg.io/v1:Cluster", cnpgCluster) {
		cluster := r.one(t, "kubernetes:postgresql.cnpg.io/v1:Cluster", cnpgCluster)
		b.maxConnections = atoi(t, str(get(cluster.Inputs, "spec.postgresql.parameters.max_connections")))
		b.replicas = int(get(cluster.Inputs, "spec.instances").(float64)) - 1
		b.cnpg = true
	} else {
		conf := str(get(r.one(t, "kubernetes:helm.sh/v4:Chart", bitnamiRelease).Inputs, "values.primary.extendedConfiguration"))
		v, ok := strings.CutPrefix(conf, "max_connections = ")
		if !ok || !strings.HasSuffix(v, "\n") || strings.Count(conf, "\n") != 1 {
			t.Fatalf("postgresql chart: primary.extendedConfiguration = %q, want one max_connections line", conf)
		}
		b.maxConnections = atoi(t, strings.TrimSuffix(v, "\n"))
	}
	hpa := r.one(t, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", appName)
	dep := r.one(t, "kubernetes:apps/v1:Deployment", appName)
	b.pods = int(get(hpa.Inputs, "spec.maxReplicas").(float64)) + int(get(dep.Inputs, "spec.strategy.rollingUpdate.maxSurge").(float64))
	for _, c := range exchangeContainers(t, r) {
		env := map[string]string{}
		for _, e := range c.Env {
			if e.Value != nil {
				env[e.Name] = *e.Value
			}
		}
		switch {
		case c.Workload == "Deployment/"+appName:
			b.pool, b.idle = atoi(t, env["DB_MAX_OPEN_CONNS"]), atoi(t, env["DB_MAX_IDLE_CONNS"])
			_, b.readPool = env["DATABASE_READ_URL"]
		case strings.HasPrefix(c.Workload, "Job/exchange-migrate-"):
			b.migratePool = atoi(t, env["DB_MAX_OPEN_CONNS"])
		}
	}
	return b
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number: %v", s, err)
	}
	return n
}

// The numbers each committed stack renders, and that they add up: what the
// rendered workloads can open at worst (their pools and pods as declared,
// not as configured) fits under the rendered max_connections with the
// reserved slots and the margin to spare, on the primary and, where there
// are replicas, on one replica serving every read pool.
func TestConnectionBudgetRendered(t *testing.T) {
	for _, c := range []struct {
		stack                               string
		maxConnections, pods, pool, replica int
	}{
		// dev: (1 + 1 surge) × (10 + 2) + 1 + 8 + 2 + 3 + 24 = 62,
		// under the stack's fixed 150 (room for the e2e's 6 pods).
		{"dev", 150, 2, 10, 0},
		// prod: (12 + 1) × (10 + 2) + 1 + 8 + 12 + 3 + 24 = 204, under
		// the stack's fixed 250; a replica: 13 × 10 + 6 + 3 + 20 = 159.
		{"prod", 250, 13, 10, 2},
	} {
		b := rendered(t, runStack(t, c.stack))
		if b.maxConnections != c.maxConnections || b.pods != c.pods || b.pool != c.pool || b.idle != c.pool ||
			b.migratePool != settings.MigrationPoolSize || b.replicas != c.replica || b.readPool != (c.replica > 0) {
			t.Errorf("%s: rendered %+v; want max_connections %d, %d pods, pool %d (idle %d), migration pool %d, %d replicas",
				c.stack, b, c.maxConnections, c.pods, c.pool, c.pool, settings.MigrationPoolSize, c.replica)
		}
		agents := settings.BitnamiExporterConnections
		if b.cnpg {
			agents = settings.CNPGInstanceConnections + b.replicas*settings.CNPGReplicaSlotConnections
		}
		perPod := b.pool + settings.ServerOwnConnections
		primary := b.pods*perPod + settings.LeaderExtraConnections +
			b.migratePool + settings.BackupJobConnections + settings.VerifyJobConnections +
			agents + settings.SuperuserReservedConnections + settings.MarginPods*perPod
		if primary > b.maxConnections {
			t.Errorf("%s: the primary may see %d connections, max_connections is %d", c.stack, primary, b.maxConnections)
		}
		if b.readPool {
			replica := b.pods*b.pool + settings.CNPGInstanceConnections + settings.SuperuserReservedConnections + settings.MarginPods*b.pool
			if replica > b.maxConnections {
				t.Errorf("%s: a replica may see %d connections, max_connections is %d", c.stack, replica, b.maxConnections)
			}
		}
	}
}

// A pool or pod count whose worst case passes the ceiling stops the program
// before anything is declared, with the fix in the message; the largest
// prod pool below it renders the ceiling itself.
func TestConnectionCeilingIsEnforced(t *testing.T) {
	// The committed stacks fix max_connections: these cases compute it.
	computed := func(stack string) map[string]stackfile.Value {
		cfg := stackConfig(t, stack)
		setConfig(t, cfg, "database", "maxConnections", 0)
		return cfg
	}
	atEdge := computed("prod")
	setConfig(t, atEdge, "app", "dbPoolSize", 29)
	r := run(t, "prod", atEdge)
	if r.err != nil {
		t.Fatalf("prod with app.dbPoolSize 29 (worst case 489): %v", r.err)
	}
	if b := rendered(t, r); b.maxConnections != settings.MaxConnectionsCeiling || b.pool != 29 || b.idle != 29 {
		t.Errorf("prod with app.dbPoolSize 29: rendered %+v, want max_connections %d with a pool of 29 (29 idle)", b, settings.MaxConnectionsCeiling)
	}
	for _, c := range []struct {
		stack, path string
		value       any
		want        string
	}{
		{"prod", "dbPoolSize", 30, "exchange:app.dbPoolSize: 30 with app.autoscaling.maxReplicas 12 needs 504 PostgreSQL connections on the primary"},
		{"prod", "autoscaling.maxReplicas", 50, "exchange:app.dbPoolSize: 10 with app.autoscaling.maxReplicas 50 needs 660 PostgreSQL connections on the primary"},
		{"dev", "replicas", 40, "exchange:app.dbPoolSize: 10 with app.replicas 40 needs 530 PostgreSQL connections on the primary"},
	} {
		cfg := computed(c.stack)
		setConfig(t, cfg, "app", c.path, c.value)
		r := run(t, c.stack, cfg)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) || !strings.Contains(r.err.Error(), "allowed at most 500: lower app.dbPoolSize") {
			t.Errorf("%s with app.%s %v: err %v, want %q and how to fix it", c.stack, c.path, c.value, r.err, c.want)
		}
		if len(r.resources) != 0 {
			t.Errorf("%s with app.%s %v: declared %d resources before failing", c.stack, c.path, c.value, len(r.resources))
		}
	}
}
