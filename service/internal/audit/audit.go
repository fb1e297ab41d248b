// Package audit owns admin_audit, the append-only record of what admins
// did: who, what, to whom, when. Each row is written in the transaction
// that carries the action out, by Record for actions in an ordinary
// transaction, or by the sequencer's batch (Changes) for those that move
// money.
package audit

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Entry is one admin action.
type Entry struct {
	AdminID int64
	Action  string
	Target  *int64 // the user acted on, if any
	Subject string // what was acted on: "deposit 12"
	Detail  string
}

// Record writes an entry inside tx.
func Record(tx *gorm.DB, e Entry) error {
	if err := tx.Exec("INSERT INTO admin_audit (admin_id, action, target_user_id, subject, detail) VALUES (?, ?, ?, ?, ?)",
		e.AdminID, e.Action, e.Target, e.Subject, e.Detail).Error; err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// Changes are the entries of one sequencer batch.
type Changes struct {
	Entries []Entry
}

// Add records an entry for the batch.
func (c *Changes) Add(e Entry) { c.Entries = append(c.Entries, e) }

// Reset empties the changes for the next batch.
func (c *Changes) Reset() { c.Entries = c.Entries[:0] }

// Queue adds the statement that writes the entries to q.
func (c *Changes) Queue(q *pgx.Batch, now time.Time) {
	n := len(c.Entries)
	if n == 0 {
		return
	}
	admins, targets := make([]int64, n), make([]*int64, n)
	actions, subjects, details := make([]string, n), make([]string, n), make([]string, n)
	for i, e := range c.Entries {
		admins[i], targets[i], actions[i], subjects[i], details[i] = e.AdminID, e.Target, e.Action, e.Subject, e.Detail
	}
	q.Queue(`INSERT INTO admin_audit (admin_id, action, target_user_id, subject, detail, created_at)
		SELECT admin_id, action, target, subject, detail, $6
		FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS a(admin_id, action, target, subject, detail)`,
		admins, actions, targets, subjects, details, now)
}
