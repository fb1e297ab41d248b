package auth

import (
	"context"
	"fmt"
	"strings"
)

// likeEscaper makes a search text literal inside a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Users lists the users whose email contains query (everyone when it is
// empty), newest first, at most limit: what an admin searches to freeze one.
func (s *Service) Users(ctx context.Context, query string, limit int) ([]User, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if query = strings.ToLower(strings.TrimSpace(query)); query != "" {
		q = q.Where("email LIKE ?", "%"+likeEscaper.Replace(query)+"%")
	}
	var out []User
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}
