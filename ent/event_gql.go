package ent

import (
	"encoding/base64"
	"strconv"
)

// Cursor is the event's position in its organization's feed, as the GraphQL cursor
// of OrganizationEvent. A method rather than a resolver: gqlgen calls it inline,
// without the goroutine it starts for each resolver field, which matters when one
// event is rendered for thousands of subscribers. (Hand-written; ent leaves files
// without its generated-code header alone.)
func (e *Event) Cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte("e1:" + strconv.FormatInt(e.Sequence, 10)))
}
