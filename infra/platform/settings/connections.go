package settings

import "fmt"

// The PostgreSQL connection budget. PostgreSQL refuses a connection beyond
// max_connections ("sorry, too many clients already"), and its default of
// 100 is less than prod's server pods can open under load, so the program
// sets max_connections on both engines from the worst case of everything
// that connects, and sets the server's pool size (DB_MAX_OPEN_CONNS) it is
// computed from. docs/infra.md ("Database connections") has the arithmetic.

// Bounds of app.dbPoolSize (DB_MAX_OPEN_CONNS of `exchange serve`, for each
// of its pools). The service accepts 1..500 (service/internal/config); the
// contract test shows it both ends of this narrower range.
const (
	// MinDBPoolSize: /readyz takes a pooled connection (a 2 s ping and the
	// schema version), so with a pool of one a single slow query would
	// fail the pod's readiness.
	MinDBPoolSize = 2
	// MaxDBPoolSize only catches typos: the ceiling below bounds the
	// product of pool and pods.
	MaxDBPoolSize = 100
	// DefaultDBPoolSize, for both stacks: prod's primary has 2 CPUs, so 13
	// pods × 10 connections already queue far more queries than it can
	// run at once; more connections would only wait inside PostgreSQL
	// instead of in the pool (go_sql_wait_* on the dashboard shows a pod
	// that needs more).
	DefaultDBPoolSize = 10
)

// DBIdleConns is DB_MAX_IDLE_CONNS for a pool of size open: all of it,
// as the service's own default. The connection budget already counts every
// pod's whole pool, so idle connections cost nothing against it; closing
// them made each burst fork new backends (measured: PostgreSQL's CPU per
// single order 144 -> 98 us with 20 idle of 20 instead of 10,
// docs/performance.md). It is rendered with the pool because the service
// refuses more idle connections than open ones.
func DBIdleConns(open int) int { return open }

// ServerMaxSurge is the server Deployment's rollingUpdate.maxSurge: during a
// rollout one pod more than the maximum may run.
const ServerMaxSurge = 1

// What connects to PostgreSQL besides the server's pools, read in the
// exchange's source (service/...) and the engines' (docs/infra.md).
const (
	// ServerOwnConnections are each server pod's connections outside its
	// pools: the sequencer candidate's (internal/sequencer, it waits for
	// the leader lock on it) and the market data feed's LISTEN
	// (internal/marketdata/feed.go). Both go to the primary.
	ServerOwnConnections = 2
	// LeaderExtraConnections: the leader's proof-of-liabilities builder
	// opens one more while it takes or prunes a snapshot
	// (internal/proofs/builder.go). One pod leads at a time.
	LeaderExtraConnections = 1
	// MigrationPoolSize is DB_MAX_OPEN_CONNS of the migration Job: migrate
	// holds one connection (its advisory lock) and seeds after it, so two
	// are plenty, and the Job then cannot open the service's default 20.
	MigrationPoolSize = 2
	// BackupJobConnections: `exchange backup` holds the snapshot-exporting
	// connection while pg_dump (one connection) dumps (internal/backup/
	// backup.go).
	BackupJobConnections = 2
	// VerifyJobConnections: `exchange verify-backup` keeps its admin
	// connection and, after pg_restore (one connection) is done, checks
	// the scratch copy with a pool of two and one more connection
	// (internal/backup/verify.go); four at most. It runs on the primary
	// (BACKUP_VERIFY_URL is not set), and may overlap a backup.
	VerifyJobConnections = 4
	// BitnamiExporterConnections: the chart's postgres_exporter sidecar
	// (v0.17.1) keeps two connections, each pool capped at one
	// (cmd/postgres_exporter/server.go, collector/instance.go).
	BitnamiExporterConnections = 2
	// CNPGInstanceConnections: CloudNativePG's instance manager on every
	// instance caps each of its pools at three connections and keeps none
	// idle (pkg/management/postgres/pool/pool.go, operator v1.30.0): one
	// pool for its probes and reconcilers, one for the metrics exporter.
	CNPGInstanceConnections = 6
	// CNPGReplicaSlotConnections: each replica's instance manager also
	// keeps a pool (three at most) on the primary, for its replication
	// slots (internal/management/controller/slots/runner).
	CNPGReplicaSlotConnections = 3
	// SuperuserReservedConnections is PostgreSQL 17's default
	// superuser_reserved_connections (reserved_connections is 0): slots
	// only a superuser may take, so an operator can still connect when
	// everything else is in use. Neither engine changes it.
	SuperuserReservedConnections = 3
	// MarginPods: room for two more server pods' connections. The
	// Deployment controller does not count a terminating pod against
	// maxSurge, and each keeps its pools until SHUTDOWN_TIMEOUT ends, so a
	// rollout can briefly run more pods than max + surge; and a pod on a
	// node that died keeps its connections open on the server until TCP
	// keepalive notices, while its replacement opens new ones.
	MarginPods = 2
	// PostgresDefaultMaxConnections is PostgreSQL's own default: the
	// program never sets less (a spare slot costs a few kB of shared
	// memory, and ad-hoc sessions such as psql or `exchange check-ledger`
	// come on top of the budget).
	PostgresDefaultMaxConnections = 100
	// MaxConnectionsStep: max_connections only changes with a restart of
	// PostgreSQL, so the worst case is rounded up to a multiple of it, and
	// a small change of the pool or the pod count mostly restarts nothing.
	MaxConnectionsStep = 50
	// MaxConnectionsCeiling is the most the program sets. PostgreSQL runs
	// a process per connection; beyond a few hundred, their memory and the
	// cost of every snapshot over so many backends call for a connection
	// pooler (PgBouncer, CloudNativePG's Pooler), not more slots.
	MaxConnectionsCeiling = 500
)

// ConnectionNeed is the worst case of one PostgreSQL server, by what
// connects to it.
type ConnectionNeed struct {
	// Servers: the server pods' pools (and, on the primary, their own
	// connections and the leader's extra one).
	Servers int
	// Jobs: the migration Job and the backup CronJobs (primary only).
	Jobs int
	// Agents: the engine's own clients (exporter, instance manager).
	Agents   int
	Reserved int
	Margin   int
	Total    int
}

// ConnectionBudget is the worst case of every PostgreSQL server of a stack
// and the max_connections that covers it.
type ConnectionBudget struct {
	// Pods is the most server pods that can run at once: the HPA's
	// maximum (or app.replicas with autoscaling off) plus the surge pod.
	Pods     int
	PoolSize int
	// PerPod is what one server pod opens on the primary.
	PerPod  int
	Primary ConnectionNeed
	// Replica is the need of each streaming replica (zero without): the
	// read pools of every pod, since one replica alone serves them all
	// while the other restarts.
	Replica ConnectionNeed
	// MaxConnections is what both engines set (all instances alike:
	// CloudNativePG applies one configuration to the cluster, a standby
	// must not run with less than its primary, and a replica may become
	// the primary): the larger need, rounded up to MaxConnectionsStep,
	// never below PostgreSQL's default.
	MaxConnections int
}

// WorstCase is the larger of the primary's and a replica's need.
func (b ConnectionBudget) WorstCase() int { return max(b.Primary.Total, b.Replica.Total) }

// MaxServerPods is the most server pods that can run at once.
func (a App) MaxServerPods() int {
	if a.Autoscaling.Enabled {
		return a.Autoscaling.MaxReplicas + ServerMaxSurge
	}
	return a.Replicas + ServerMaxSurge
}

// Connections is the connection budget of the stack.
func (s *Settings) Connections() ConnectionBudget {
	pool := s.App.DBPoolSize
	b := ConnectionBudget{Pods: s.App.MaxServerPods(), PoolSize: pool, PerPod: pool + ServerOwnConnections}
	agents := BitnamiExporterConnections
	replicas := 0
	if s.Database.Engine == "cloudnative-pg" {
		replicas = s.Database.Instances - 1
		agents = CNPGInstanceConnections + replicas*CNPGReplicaSlotConnections
	}
	b.Primary = need(ConnectionNeed{
		Servers:  b.Pods*b.PerPod + LeaderExtraConnections,
		Jobs:     MigrationPoolSize + BackupJobConnections + VerifyJobConnections,
		Agents:   agents,
		Reserved: SuperuserReservedConnections,
		Margin:   MarginPods * b.PerPod,
	})
	if replicas > 0 {
		b.Replica = need(ConnectionNeed{
			Servers:  b.Pods * pool,
			Agents:   CNPGInstanceConnections,
			Reserved: SuperuserReservedConnections,
			Margin:   MarginPods * pool,
		})
	}
	steps := (b.WorstCase() + MaxConnectionsStep - 1) / MaxConnectionsStep
	b.MaxConnections = max(steps*MaxConnectionsStep, PostgresDefaultMaxConnections)
	if s.Database.MaxConnections > 0 {
		// Fixed by the stack: validateConnections holds it to the worst case.
		b.MaxConnections = s.Database.MaxConnections
	}
	return b
}

func need(n ConnectionNeed) ConnectionNeed {
	n.Total = n.Servers + n.Jobs + n.Agents + n.Reserved + n.Margin
	return n
}

// String spells out the primary's arithmetic, for messages.
func (b ConnectionBudget) String() string {
	p := b.Primary
	return fmt.Sprintf("(%d + %d surge) server pods × (%d pool + %d own) + %d leader + %d jobs + %d database agents + %d reserved + %d margin",
		b.Pods-ServerMaxSurge, ServerMaxSurge, b.PoolSize, ServerOwnConnections, LeaderExtraConnections, p.Jobs, p.Agents, p.Reserved, p.Margin)
}

// validateConnections refuses a stack whose worst case needs more than
// MaxConnectionsCeiling connections. It runs only when the numbers it
// multiplies are valid themselves (their own rules report them).
func (s *Settings) validateConnections(p *problems) {
	a, d := s.App, s.Database
	if a.DBPoolSize < MinDBPoolSize || a.DBPoolSize > MaxDBPoolSize || a.Replicas < 1 || a.Replicas > 50 ||
		(a.Autoscaling.Enabled && (a.Autoscaling.MaxReplicas < max(1, a.Autoscaling.MinReplicas) || a.Autoscaling.MaxReplicas > 50)) ||
		(d.Engine == "cloudnative-pg" && (d.Instances < 1 || d.Instances > 9)) {
		return
	}
	b := s.Connections()
	pods := "app.replicas"
	if a.Autoscaling.Enabled {
		pods = "app.autoscaling.maxReplicas"
	}
	if fixed := d.MaxConnections; fixed > 0 {
		// Fixed, so that changing the pods' bounds never restarts
		// PostgreSQL unnoticed: a bound beyond it is refused instead.
		switch {
		case fixed < PostgresDefaultMaxConnections || fixed > MaxConnectionsCeiling:
			p.add("%s: %d is out of range; allowed %d..%d", key("database.maxConnections"), fixed, PostgresDefaultMaxConnections, MaxConnectionsCeiling)
		case b.WorstCase() > fixed:
			p.add("%s: %d is less than the %d connections the stack may open, %s: raise it (PostgreSQL restarts) or lower app.dbPoolSize or %s",
				key("database.maxConnections"), fixed, b.WorstCase(), b, pods)
		}
		return
	}
	if b.WorstCase() <= MaxConnectionsCeiling {
		return
	}
	p.add("%s: %d with %s %d needs %d PostgreSQL connections on the primary, %s; allowed at most %d: lower app.dbPoolSize or %s, or put a connection pooler in front of PostgreSQL",
		key("app.dbPoolSize"), a.DBPoolSize, pods, b.Pods-ServerMaxSurge, b.WorstCase(), b, MaxConnectionsCeiling, pods)
}
