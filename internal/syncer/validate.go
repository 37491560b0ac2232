package syncer

import "github.com/syncd-io/syncd/internal/state"

// validate runs Options.Validate on a change's value and returns why it is
// invalid, or "". Deletes carry no value and old_value is never checked:
// only what would be materialized is.
func (l *streamLoop) validate(c state.Change) string {
	if l.opts.Validate == nil || c.Op == state.Delete {
		return ""
	}
	return l.opts.Validate(c.Type, c.Value)
}
