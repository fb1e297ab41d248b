package settings

import (
	"strings"
	"testing"
)

// The committed stacks' connection budgets, term by term (docs/infra.md,
// "Database connections"): the numbers the platform renders come from
// here, and its mock test checks them on the rendered objects.
func TestCommittedStacksConnectionBudget(t *testing.T) {
	cases := []struct {
		stack            string
		pods, pool       int
		primary, replica ConnectionNeed
		maxConnections   int
	}{
		// dev: 1 replica + 1 surge, Bitnami (its exporter), no replicas;
		// max_connections is fixed at 150 in the stack, for up to 6 pods.
		{"dev", 2, 10,
			ConnectionNeed{Servers: 2*12 + 1, Jobs: 8, Agents: 2, Reserved: 3, Margin: 24, Total: 62},
			ConnectionNeed{}, 150},
		// prod: HPA maximum 12 + 1 surge, CloudNativePG with 2 replicas
		// (each keeps a slot pool on the primary); 204, fixed at 250.
		{"prod", 13, 10,
			ConnectionNeed{Servers: 13*12 + 1, Jobs: 8, Agents: 6 + 2*3, Reserved: 3, Margin: 24, Total: 204},
			ConnectionNeed{Servers: 13 * 10, Agents: 6, Reserved: 3, Margin: 20, Total: 159}, 250},
	}
	for _, c := range cases {
		b := mustLoad(t, c.stack, committed(t, c.stack)).Connections()
		if b.Pods != c.pods || b.PoolSize != c.pool || b.Primary != c.primary || b.Replica != c.replica || b.MaxConnections != c.maxConnections {
			t.Errorf("%s: budget %+v\nwant pods %d, pool %d, primary %+v, replica %+v, max_connections %d",
				c.stack, b, c.pods, c.pool, c.primary, c.replica, c.maxConnections)
		}
	}
}

// Computed (no fixed database.maxConnections), max_connections moves in
// steps (each change restarts PostgreSQL), never below the need nor
// PostgreSQL's default, and the ceiling holds at its edge: prod takes
// pools up to 29 (a worst case of 489, rounded to 500) and refuses every
// larger one.
func TestConnectionBudgetRoundsUpAndStopsAtTheCeiling(t *testing.T) {
	for pool := MinDBPoolSize; pool <= MaxDBPoolSize; pool++ {
		c := committed(t, "prod")
		c.set(t, "database", "maxConnections", 0)
		c.set(t, "app", "dbPoolSize", pool)
		s, err := c.load("prod")
		if pool > 29 {
			if err == nil {
				t.Errorf("pool %d: accepted, worst case %d above the ceiling %d", pool, s.Connections().WorstCase(), MaxConnectionsCeiling)
			}
			continue
		}
		if err != nil {
			t.Errorf("pool %d: refused: %v", pool, err)
			continue
		}
		b := s.Connections()
		worst, m := b.WorstCase(), b.MaxConnections
		if m < worst || m < PostgresDefaultMaxConnections || m%MaxConnectionsStep != 0 ||
			(m > PostgresDefaultMaxConnections && m-worst >= MaxConnectionsStep) || m > MaxConnectionsCeiling {
			t.Errorf("pool %d: max_connections %d for a worst case of %d", pool, m, worst)
		}
		if pool == 29 && (worst != 489 || m != 500) {
			t.Errorf("pool 29: worst case %d, max_connections %d; want 489 and 500", worst, m)
		}
	}
}

// A fixed max_connections is used as it is, and a bound of the pods that
// would need more is refused with the arithmetic, rather than restarting
// PostgreSQL unnoticed; so is a value out of range.
func TestFixedMaxConnectionsHoldsThePodsToIt(t *testing.T) {
	s := mustLoad(t, "dev", committed(t, "dev"))
	if got := s.Connections().MaxConnections; got != 150 {
		t.Fatalf("dev max_connections = %d, want the stack's fixed 150", got)
	}
	s.App.Autoscaling.Enabled, s.App.Autoscaling.MinReplicas, s.App.Autoscaling.MaxReplicas = true, 3, 6
	var p problems
	s.validateConnections(&p)
	if p.err() != nil {
		t.Fatalf("6 pods within 150: %v", p.err())
	}
	s.App.Autoscaling.MaxReplicas = 12
	p = problems{}
	s.validateConnections(&p)
	if len(p.errs) != 1 || !strings.Contains(p.err().Error(), "database.maxConnections: 150 is less than the") || !strings.Contains(p.err().Error(), "app.autoscaling.maxReplicas") {
		t.Fatalf("12 pods beyond 150: %v", p.err())
	}
	s.Database.MaxConnections = 50
	p = problems{}
	s.validateConnections(&p)
	if len(p.errs) != 1 || !strings.Contains(p.err().Error(), "out of range") {
		t.Fatalf("max_connections 50: %v", p.err())
	}
}
